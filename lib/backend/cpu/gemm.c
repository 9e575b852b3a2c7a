/* gemm, bias_add, bias_grad.
 * gemm splits C into one block of rows (or columns) per thread, fixed by
 * the shape and the thread count; each block is one single-threaded sgemm
 * over the full k, so no element is ever summed across threads. */
#include "backend/cpu/cpu.h"

#include <cblas.h>

typedef struct gemm_job {
	int ta, tb, m, n, k;
	float alpha, beta;
	const float *a, *b;
	float *c;
	int lda, ldb, ldc;
	int split_rows;      /* split m (rows of C), else n (columns) */
} gemm_job;

/* Part tid of nt of [0, n), boundaries rounded to multiples of 16 so the
 * kernels see whole register tiles. */
static void block_range(int n, int tid, int nt, int *lo, int *hi)
{
	int units = (n + 15) / 16;
	size_t ulo, uhi;
	cpu_range((size_t)units, tid, nt, &ulo, &uhi);
	*lo = (int)ulo * 16 < n ? (int)ulo * 16 : n;
	*hi = (int)uhi * 16 < n ? (int)uhi * 16 : n;
}

static void gemm_task(void *arg, int tid, int nt)
{
	const gemm_job *j = arg;
	const float *a = j->a, *b = j->b;
	float *c = j->c;
	int m = j->m, n = j->n, lo, hi;
	if (j->split_rows) {
		block_range(j->m, tid, nt, &lo, &hi);
		m = hi - lo;
		a += j->ta ? (size_t)lo : (size_t)lo * j->lda;
		c += (size_t)lo * j->ldc;
	} else {
		block_range(j->n, tid, nt, &lo, &hi);
		n = hi - lo;
		b += j->tb ? (size_t)lo * j->ldb : (size_t)lo;
		c += lo;
	}
	if (m <= 0 || n <= 0)
		return;
	cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans,
		    j->tb ? CblasTrans : CblasNoTrans, m, n, j->k, j->alpha,
		    a, j->lda, b, j->ldb, j->beta, c, j->ldc);
}

/* C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C */
void cpu_gemm(dl_backend *be, int ta, int tb, int m, int n, int k,
	      float alpha, const float *a, int lda, const float *b, int ldb,
	      float beta, float *c, int ldc)
{
	if (m <= 0 || n <= 0)
		return;
	if (!cpu_dnnl_gemm(be, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
		return;   /* on oneDNN: --precision bf16, or DL_GEMM (gemm_dnnl.c) */
	gemm_job j = { ta, tb, m, n, k, alpha, beta, a, b, c, lda, ldb, ldc, m >= n };
	double flops = 2.0 * m * n * (k > 0 ? k : 1);
	cpu_run_n(cpu_of(be), (size_t)flops, CPU_GEMM_MIN_PAR_FLOPS, gemm_task, &j);
}

typedef struct bias_job {
	float *y;
	const float *b, *dy;
	int rows, cols;
} bias_job;

CPU_SIMD static void bias_add_task(void *arg, int tid, int nt)
{
	const bias_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->rows, tid, nt, &lo, &hi);
	for (size_t r = lo; r < hi; r++) {
		float *y = j->y + r * j->cols;
		for (int c = 0; c < j->cols; c++)
			y[c] += j->b[c];
	}
}

/* y[r, j] += b[j] */
void cpu_bias_add(dl_backend *be, float *y, const float *b, int rows, int cols)
{
	bias_job j = { y, b, NULL, rows, cols };
	cpu_run_n(cpu_of(be), (size_t)rows * cols, 1 << 16, bias_add_task, &j);
}

/* Each thread owns a range of columns and adds the rows in order, so the
 * result is the same for any thread count. */
CPU_SIMD static void bias_grad_task(void *arg, int tid, int nt)
{
	const bias_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->cols, tid, nt, &lo, &hi);
	float *db = j->y;
	for (int r = 0; r < j->rows; r++) {
		const float *dy = j->dy + (size_t)r * j->cols;
		for (size_t c = lo; c < hi; c++)
			db[c] += dy[c];
	}
}

/* db[j] += sum_r dy[r, j] */
void cpu_bias_grad(dl_backend *be, float *db, const float *dy, int rows, int cols)
{
	bias_job j = { db, NULL, dy, rows, cols };
	size_t par = cols >= 64 * cpu_of(be)->nt ? (size_t)rows * cols : 0;
	cpu_run_n(cpu_of(be), par, 1 << 16, bias_grad_task, &j);
}
