/* Convolutions of small maps with many channels as one matmul.
 *
 * On a 2x2 or 4x4 map of 256-512 channels (the last blocks of vgg16, the
 * last stage of resnet18 at 64x64) oneDNN 2.6's direct convolutions run
 * far below its matmul: a 2x2x512 -> 512 3x3 convolution at batch 128 took
 * 10.6 ms forward and 11.8 ms for the weight gradient in fp32, where the
 * matmul of the same products took 6.8 and 6.5; in bf16 the weight
 * gradient took 20.1 ms against 3.9; 4x4x512 -> 512 forward took 40.7 ms
 * against 26.9 (make bench-conv; bench/RESULTS.md, issue 18).  So
 * those ops run here as conv.c's formulas over the whole batch at once:
 *     col [M,K] = im2col(x)            M = n*oh*ow, K = kh*kw*c
 *     y   [M,k] = col * w^T  (+ b)     forward
 *     dw  [k,K] += dy^T * col, db += column sums of dy
 * with col built by our threads into cpu_impl.gcol (sized at plan time by
 * cpu_conv_gemm_reserve) and the product on oneDNN's matmul through
 * gemm_dnnl.c, in bf16 with fp32 accumulation under --precision bf16.
 *
 * Which ops (cpu_conv_gemm_rule): DL_CONV=auto only (im2col and dnnl keep
 * their meaning for tests), a plain convolution (one group, no dilation)
 * of at least 256 input and output channels, and
 *   forward:        oh*ow <= 4, or <= 16 with 512 input channels;
 *   weight grad:    oh*ow <= 4 in fp32, <= 16 in bf16;
 * never backward data (oneDNN's is close to the matmul there).  The rule
 * reads the geometry but not the batch, so data-parallel ranks with a
 * share of the batch take the same kernels as one process.  When gcol
 * could not be reserved or oneDNN declines the matmul, the op returns -1
 * and conv.c goes on as before.
 */
#include "backend/cpu/cpu.h"

#define GEMM_MIN_CH 256

static size_t conv_k(const dl_conv_geom *g)
{
	return (size_t)g->kh * g->kw * g->c;
}

int cpu_conv_gemm_rule(const dl_conv_geom *g, int op, int bf16)
{
	if ((g->groups > 1) || (g->dh > 1) || (g->dw > 1) || g->c < GEMM_MIN_CH ||
	    g->k < GEMM_MIN_CH)
		return 0;
	long px = (long)g->oh * g->ow;
	if (op == CPU_DNNL_FWD)
		return px <= 4 || (px <= 16 && g->c >= 512);
	if (op == CPU_DNNL_BWD_W)
		return px <= (bf16 ? 16 : 4);
	return 0;
}

/* the rule, unless Winograd takes the geometry (conv_dnnl.c) */
int cpu_conv_gemm_wanted(const cpu_impl *im, const dl_conv_geom *g, int op)
{
	return im->conv_mode == CPU_CONV_AUTO && cpu_dnnl_available() &&
	       cpu_conv_gemm_rule(g, op, im->bf16) &&
	       !(im->conv_wino != 0 && cpu_dnnl_wino_rule(g, im->bf16));
}

int cpu_conv_gemm_grow(cpu_impl *im, const dl_conv_geom *g)
{
	size_t M = (size_t)g->n * g->oh * g->ow, K = conv_k(g);
	if (M > (size_t)1 << 30 || K > (size_t)1 << 30)   /* M * K cannot overflow */
		return -1;
	return cpu_grow(&im->gcol, &im->gcol_cap, M * K);
}

void cpu_conv_gemm_reserve(dl_backend *be, const dl_conv_geom *g)
{
	cpu_impl *im = cpu_of(be);
	if (cpu_conv_gemm_wanted(im, g, CPU_DNNL_FWD) || cpu_conv_gemm_wanted(im, g, CPU_DNNL_BWD_W))
		cpu_conv_gemm_grow(im, g);   /* failing is not an error: conv.c's other
						* kernels run these ops */
}

typedef struct col_job {
	const dl_conv_geom *g;
	const float *x;
	float *col;
	size_t rows;
} col_job;

static void col_task(void *arg, int tid, int nt)
{
	const col_job *j = arg;
	size_t lo, hi;
	cpu_range(j->rows, tid, nt, &lo, &hi);
	if (hi > lo)
		cpu_conv_im2col(j->g, j->x, lo, hi, j->col + lo * conv_k(j->g));
}

int cpu_conv_gemm(dl_backend *be, int op, const dl_conv_geom *g, const float *a,
		  const float *w, const float *b, float *out, float *db)
{
	if (!cpu_conv_gemm_wanted(cpu_of(be), g, op))
		return -1;
	return cpu_conv_gemm_run(be, op, g, a, w, b, out, db);
}

int cpu_conv_gemm_run(dl_backend *be, int op, const dl_conv_geom *g, const float *a,
		      const float *w, const float *b, float *out, float *db)
{
	cpu_impl *im = cpu_of(be);
	if ((op != CPU_DNNL_FWD && op != CPU_DNNL_BWD_W) || g->groups > 1 || g->dh > 1 ||
	    g->dw > 1)
		return -1;
	size_t M = (size_t)g->n * g->oh * g->ow, K = conv_k(g);
	if (!M || M > (size_t)1 << 30 || K > (size_t)1 << 30 || M * K > im->gcol_cap)
		return -1;
	col_job j = { g, a, im->gcol, M };
	cpu_run_n(im, M, 16, col_task, &j);
	if (op == CPU_DNNL_FWD) {
		/* y [M,k] = col [M,K] * w [k,K]^T, then + b */
		if (cpu_dnnl_gemm_any(be, 0, 1, (int)M, g->k, (int)K, 1.0f, im->gcol, (int)K, w,
				      (int)K, 0.0f, out, g->k))
			return -1;
		if (b)
			cpu_bias_add(be, out, b, (int)M, g->k);
		return 0;
	}
	/* dw [k,K] += dy [M,k]^T * col [M,K]; db += column sums of dy (w is dy) */
	if (cpu_dnnl_gemm_any(be, 1, 0, g->k, (int)K, (int)M, 1.0f, w, g->k, im->gcol, (int)K,
			      1.0f, out, (int)K))
		return -1;
	if (db)
		cpu_bias_grad(be, db, w, (int)M, g->k);
	return 0;
}
