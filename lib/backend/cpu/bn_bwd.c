/* Batch norm on the CPU: the backward (bn.c has the forward; bn.h the
 * design, the job and the shared helpers). */
#include "backend/cpu/bn.h"

/* ---- backward ---------------------------------------------------------------- */

/* dy, or 0 where a fused ReLU's input x * s + t was not positive (R) */
static inline __attribute__((always_inline)) float
masked(float dy, float x, float s, float t, int R)
{
	return R ? (bn_affine(x, s, t) > 0 ? dy : 0) : dy;
}

/* A chunk's fused-ReLU scale and shift (zeros when there is none: unused) */
static inline void relu_chunk(const bn_job *j, int c0, int nc, float *s, float *t)
{
	for (int k = 0; k < nc; k++) {
		s[k] = j->relu_in ? j->relu_in[c0 + k] : 0;
		t[k] = j->relu_in ? j->relu_in[j->c + c0 + k] : 0;
	}
}

/* Backward sums of rows [r0, r0+rb) of the chunk [c0, c0+W), in float:
 * a = sum dy, b = sum dy (x - mean), dy masked by a fused ReLU (R). */
static inline __attribute__((always_inline)) void
block_bwd(const bn_job *j, int r0, int rb, int c0, int W, int M, const float *mu,
	  const float *s, const float *t, int R, float *a_out, float *b_out)
{
	int HX = (M & BN_X) != 0, HY = (M & BN_Y) != 0;
	float a[BN_CHUNK] = { 0 }, b[BN_CHUNK] = { 0 };
	for (int r = 0; r < rb; r++) {
		size_t at = (size_t)(r0 + r) * j->c + c0;
		bn_row xr = bn_at(j->x, j->xh, at, HX), dr = bn_at(j->dy, j->dyh, at, HY);
		for (int k = 0; k < W; k++) {
			float xv = bn_ld(xr, k, HX);
			float d = masked(bn_ld(dr, k, HY), xv, s[k], t[k], R);
			a[k] += d;
			b[k] += d * (xv - mu[k]);
		}
	}
	for (int k = 0; k < W; k++) {
		a_out[k] = a[k];
		b_out[k] = b[k];
	}
}

/* Channel ch from its sums (in double): dbeta, dgamma (+=) and the float
 * coefficients of dx = a dy + b (x - mean) + cst. */
static void bwd_coef(const bn_job *j, int ch, double sdy, double sdx, float *a, float *b,
		     float *cst)
{
	double is = j->var[ch], g = j->gamma[ch], n = j->rows;
	j->dbeta[ch] += (float)sdy;
	j->dgamma[ch] += (float)(sdx * is);
	*a = (float)(g * is);
	*b = (float)(-g * is * is * is * sdx / n);
	*cst = (float)(-g * is * sdy / n);
}

/* dx[:, c0:c0+W] = a dy + b (x - mean) + cst over `rows` rows from row
 * offset o (elements) of x, dy, dx (dy masked by a fused ReLU: R, s, t) */
static inline __attribute__((always_inline)) void
dx_block(const bn_job *j, size_t o, int rows, int c0, int W, int M, const float *mu,
	 const float *a, const float *b, const float *cst, const float *s, const float *t, int R)
{
	int HX = (M & BN_X) != 0, HY = (M & BN_Y) != 0;
	for (int r = 0; r < rows; r++) {
		size_t at = o + (size_t)r * j->c + c0;
		bn_row xr = bn_at(j->x, j->xh, at, HX), dr = bn_at(j->dy, j->dyh, at, HY);
		bn_out out = bn_out_at(j->dx, j->dxh, at, HX);
		for (int k = 0; k < W; k++) {
			float xv = bn_ld(xr, k, HX);
			bn_st(out, k,
			      a[k] * masked(bn_ld(dr, k, HY), xv, s[k], t[k], R) +
				      b[k] * (xv - mu[k]) + cst[k],
			      HX);
		}
	}
}

/* channels split among threads (no scratch) */
CPU_SIMD static void bwd_task(void *arg, int tid, int nt)
{
	const bn_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->c, tid, nt, &lo, &hi);
	for (int c0 = (int)lo; c0 < (int)hi; c0 += BN_CHUNK) {
		int nc = bn_clamp((int)hi - c0, BN_CHUNK);
		double sdy[BN_CHUNK] = { 0 }, sdx[BN_CHUNK] = { 0 };
		float mu[BN_CHUNK], sa[BN_CHUNK], sb[BN_CHUNK], s[BN_CHUNK], t[BN_CHUNK];
		for (int k = 0; k < nc; k++)
			mu[k] = j->mean[c0 + k];
		relu_chunk(j, c0, nc, s, t);
		for (int r0 = 0; r0 < j->rows; r0 += BN_ROWS) {
			int rb = bn_clamp(j->rows - r0, BN_ROWS);
			BN_DISPATCH(j, nc, j->relu,
				    block_bwd(j, r0, rb, c0, W_, M_, mu, s, t, R_, sa, sb));
			for (int k = 0; k < nc; k++) {
				sdy[k] += sa[k];
				sdx[k] += sb[k];
			}
		}
		float a[BN_CHUNK], b[BN_CHUNK], cst[BN_CHUNK];
		for (int k = 0; k < nc; k++)
			bwd_coef(j, c0 + k, sdy[k], sdx[k], &a[k], &b[k], &cst[k]);
		if (j->dx || j->dxh)
			BN_DISPATCH(j, nc, j->relu, dx_block(j, 0, j->rows, c0, W_, M_, mu, a, b, cst,
							     s, t, R_));
	}
}

/* rows split among threads: block sums, their merge, dx (as the forward) */
CPU_SIMD static void bwd_blocks_task(void *arg, int tid, int nt)
{
	const bn_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->nb, tid, nt, &lo, &hi);
	float *pa = j->part, *pb = j->part + (size_t)j->nb * j->c;
	for (size_t b = lo; b < hi; b++) {
		int r0 = (int)b * BN_ROWS, rb = bn_clamp(j->rows - r0, BN_ROWS);
		for (int c0 = 0; c0 < j->c; c0 += BN_CHUNK) {
			int nc = bn_clamp(j->c - c0, BN_CHUNK);
			float mu[BN_CHUNK], s[BN_CHUNK], t[BN_CHUNK];
			for (int k = 0; k < nc; k++)
				mu[k] = j->mean[c0 + k];
			relu_chunk(j, c0, nc, s, t);
			size_t o = b * (size_t)j->c + (size_t)c0;
			BN_DISPATCH(j, nc, j->relu,
				    block_bwd(j, r0, rb, c0, W_, M_, mu, s, t, R_, pa + o, pb + o));
		}
	}
}

static void bwd_merge_task(void *arg, int tid, int nt)
{
	const bn_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->c, tid, nt, &lo, &hi);
	const float *pa = j->part, *pb = j->part + (size_t)j->nb * j->c;
	for (size_t ch = lo; ch < hi; ch++) {
		double sdy = 0, sdx = 0;
		for (int b = 0; b < j->nb; b++) {
			sdy += pa[(size_t)b * j->c + ch];
			sdx += pb[(size_t)b * j->c + ch];
		}
		bwd_coef(j, (int)ch, sdy, sdx, &j->coef[ch], &j->coef[j->c + ch],
			 &j->coef[2 * j->c + ch]);
	}
}

CPU_SIMD static void bwd_apply_task(void *arg, int tid, int nt)
{
	const bn_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->rows, tid, nt, &lo, &hi);
	size_t o = lo * (size_t)j->c;
	for (int c0 = 0; c0 < j->c; c0 += BN_CHUNK) {
		int nc = bn_clamp(j->c - c0, BN_CHUNK);
		/* local: no alias */
		float mu[BN_CHUNK], a[BN_CHUNK], b[BN_CHUNK], cst[BN_CHUNK], s[BN_CHUNK], t[BN_CHUNK];
		for (int k = 0; k < nc; k++) {
			mu[k] = j->mean[c0 + k];
			a[k] = j->coef[c0 + k];
			b[k] = j->coef[j->c + c0 + k];
			cst[k] = j->coef[2 * j->c + c0 + k];
		}
		relu_chunk(j, c0, nc, s, t);
		BN_DISPATCH(j, nc, j->relu, dx_block(j, o, (int)(hi - lo), c0, W_, M_, mu, a, b, cst, s,
						     t, R_));
	}
}

static void bwd(cpu_impl *im, bn_job *j)
{
	size_t n = (size_t)j->rows * (size_t)j->c;
	if (j->rows <= 0 || j->c <= 0)
		return;
	if (n < BN_MIN_PAR || im->nt == 1 || cpu_bn_rows_scratch(im, j)) {
		cpu_run_n(im, n, BN_MIN_PAR, bwd_task, j);
		return;
	}
	cpu_run(im, bwd_blocks_task, j);
	cpu_run_n(im, (size_t)j->c, 256, bwd_merge_task, j);
	if (j->dx || j->dxh)
		cpu_run(im, bwd_apply_task, j);
}

void cpu_bn_bwd(dl_backend *be, int rows, int c, const float *x, const float *dy,
		const float *gamma, const float *save_mean, const float *save_invstd,
		const float *relu_coef, float *dx, float *dgamma, float *dbeta)
{
	bn_job j = { .rows = rows, .c = c, .x = x, .dy = dy, .gamma = gamma, .mean = save_mean,
		     .var = save_invstd, .dx = dx, .dgamma = dgamma, .dbeta = dbeta,
		     .relu_in = relu_coef, .relu = relu_coef != NULL };
	bwd(cpu_of(be), &j);
}

void cpu_bn_bwd_h(dl_backend *be, int rows, int c, const void *x, const void *dy,
		  const float *gamma, const float *save_mean, const float *save_invstd,
		  const float *relu_coef, void *dx, float *dgamma, float *dbeta, int flags)
{
	int m = flags & (DL_LINK_X | DL_LINK_Y);
	bn_job j = { .rows = rows, .c = c, .gamma = gamma, .mean = save_mean,
		     .var = save_invstd, .dgamma = dgamma, .dbeta = dbeta,
		     .relu_in = relu_coef, .relu = relu_coef != NULL, .mode = m };
	if (m & DL_LINK_X)
		j.xh = x, j.dxh = dx;
	else
		j.x = x, j.dx = dx;
	if (m & DL_LINK_Y)
		j.dyh = dy;
	else
		j.dy = dy;
	bwd(cpu_of(be), &j);
}
