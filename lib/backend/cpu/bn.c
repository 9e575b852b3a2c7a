/* Batch norm on the CPU: training forward and inference (bn_bwd.c has the
 * backward; bn.h the design, the job and the shared helpers). */
#include "backend/cpu/bn.h"

/* Forward sums of rows [r0, r0+rb) of x[:, c0:c0+W]: s = sum (x - sh) and
 * q = sum of squared deviations from the block's own mean (the block is
 * re-read from L1).  sh is the batch's first row: summing x - sh (the
 * shifted-data method) keeps the digits of a large common offset. */
static inline __attribute__((always_inline)) void
block_stats(const bn_job *j, int r0, int rb, int c0, int W, int M, const float *sh,
	    float *s_out, float *q_out)
{
	int H = (M & BN_X) != 0;
	size_t x = (size_t)r0 * j->c + c0;
	float s[BN_CHUNK] = { 0 }, q[BN_CHUNK] = { 0 }, mb[BN_CHUNK];
	for (int r = 0; r < rb; r++) {
		bn_row xr = bn_at(j->x, j->xh, x + (size_t)r * j->c, H);
		for (int k = 0; k < W; k++)
			s[k] += bn_ld(xr, k, H) - sh[k];
	}
	for (int k = 0; k < W; k++)
		mb[k] = s[k] / (float)rb;
	for (int r = 0; r < rb; r++) {
		bn_row xr = bn_at(j->x, j->xh, x + (size_t)r * j->c, H);
		for (int k = 0; k < W; k++) {
			float d = (bn_ld(xr, k, H) - sh[k]) - mb[k];
			q[k] += d * d;
		}
	}
	for (int k = 0; k < W; k++) {
		s_out[k] = s[k];
		q_out[k] = q[k];
	}
}

/* Folds a block of rb rows (sums s, q from block_stats) into the running
 * mean and M2 of na rows by Chan et al.'s pairwise rule, in double. */
static inline void merge_stats(double *mean, double *m2, double na, int rb, float sh, float s,
			       float q)
{
	double n = na + rb, bm = (double)sh + (double)s / rb, delta = bm - *mean;
	if (na == 0) {
		*mean = bm;
		*m2 += (double)q;
	} else {
		*mean += delta * ((double)rb / n);
		*m2 += (double)q + delta * delta * (na * rb / n);
	}
}

/* Channel ch's statistics (mean, M2 over all rows): saved and running
 * statistics, and the float scale and shift of y = x * scale + shift. */
static void fwd_coef(const bn_job *j, int ch, double mu, double m2, float *scale, float *shift)
{
	double n = j->rows, unbias = j->rows > 1 ? n / (n - 1) : 1.0, m = j->momentum;
	double var = m2 / n, invstd = 1.0 / sqrt(var + j->eps);
	j->save_mean[ch] = (float)mu;
	j->save_invstd[ch] = (float)invstd;
	j->run_mean[ch] = (float)((1 - m) * j->run_mean[ch] + m * mu);
	j->run_var[ch] = (float)((1 - m) * j->run_var[ch] + m * var * unbias);
	*scale = (float)(j->gamma[ch] * invstd);
	*shift = (float)(j->beta[ch] - mu * j->gamma[ch] * invstd);
}

/* y[:, c0:c0+W] = x * scale + shift over `rows` rows from row offset o
 * (elements) of x and y; max(., 0) when R (a fused ReLU) */
static inline __attribute__((always_inline)) void
scale_shift_block(const bn_job *j, size_t o, int rows, int c0, int W, int M, const float *scale,
		  const float *shift, int R)
{
	int HX = (M & BN_X) != 0, HY = (M & BN_Y) != 0;
	for (int r = 0; r < rows; r++) {
		size_t at = o + (size_t)r * j->c + c0;
		bn_row xr = bn_at(j->x, j->xh, at, HX);
		bn_out yr = bn_out_at(j->y, j->yh, at, HY);
		for (int k = 0; k < W; k++) {
			float v = bn_affine(bn_ld(xr, k, HX), scale[k], shift[k]);
			bn_st(yr, k, R ? (v > 0 ? v : 0) : v, HY);
		}
	}
}

/* Inlined into each caller (a CPU_SIMD clone): a function of its own
 * would be built for the baseline ISA only. */
#define scale_shift(j, o, rows, c0, nc, scale, shift)                                   \
	BN_DISPATCH(j, nc, (j)->relu,                                                   \
		    scale_shift_block(j, o, rows, c0, W_, M_, scale, shift, R_))

/* ---- forward, channels split among threads (no scratch) ------------------- */

CPU_SIMD static void train_task(void *arg, int tid, int nt)
{
	const bn_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->c, tid, nt, &lo, &hi);
	for (int c0 = (int)lo; c0 < (int)hi; c0 += BN_CHUNK) {
		int nc = bn_clamp((int)hi - c0, BN_CHUNK);
		double mu[BN_CHUNK] = { 0 }, m2[BN_CHUNK] = { 0 };
		float scale[BN_CHUNK], shift[BN_CHUNK], s[BN_CHUNK], q[BN_CHUNK], sh[BN_CHUNK];
		bn_shift(j, c0, nc, sh);
		for (int r0 = 0; r0 < j->rows; r0 += BN_ROWS) {
			int rb = bn_clamp(j->rows - r0, BN_ROWS);
			BN_DISPATCH(j, nc, 0, block_stats(j, r0, rb, c0, W_, M_, sh, s, q));
			for (int k = 0; k < nc; k++)
				merge_stats(&mu[k], &m2[k], r0, rb, sh[k], s[k], q[k]);
		}
		for (int k = 0; k < nc; k++)
			fwd_coef(j, c0 + k, mu[k], m2[k], &scale[k], &shift[k]);
		for (int k = 0; j->relu_out && k < nc; k++) {
			j->relu_out[c0 + k] = scale[k];
			j->relu_out[j->c + c0 + k] = shift[k];
		}
		scale_shift(j, 0, j->rows, c0, nc, scale, shift);
	}
}

/* ---- forward, rows split among threads ------------------------------------ */
/* Each thread reads whole rows (contiguous memory: on 2 cores 5x the
 * bandwidth of every thread reading its channels' part of every row,
 * bench/RESULTS.md) in three passes: block sums into part, their merge per
 * channel in block order, y. */

CPU_SIMD static void fwd_blocks_task(void *arg, int tid, int nt)
{
	const bn_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->nb, tid, nt, &lo, &hi);
	float *ps = j->part, *pq = j->part + (size_t)j->nb * j->c;
	for (size_t b = lo; b < hi; b++) {
		int r0 = (int)b * BN_ROWS, rb = bn_clamp(j->rows - r0, BN_ROWS);
		for (int c0 = 0; c0 < j->c; c0 += BN_CHUNK) {
			int nc = bn_clamp(j->c - c0, BN_CHUNK);
			size_t o = b * (size_t)j->c + (size_t)c0;
			float sh[BN_CHUNK];
			bn_shift(j, c0, nc, sh);
			BN_DISPATCH(j, nc, 0,
				    block_stats(j, r0, rb, c0, W_, M_, sh, ps + o, pq + o));
		}
	}
}

static void fwd_merge_task(void *arg, int tid, int nt)
{
	const bn_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->c, tid, nt, &lo, &hi);
	const float *ps = j->part, *pq = j->part + (size_t)j->nb * j->c;
	for (size_t ch = lo; ch < hi; ch++) {
		double mu = 0, m2 = 0;
		for (int b = 0; b < j->nb; b++) {
			int r0 = b * BN_ROWS, rb = bn_clamp(j->rows - r0, BN_ROWS);
			size_t o = (size_t)b * j->c + ch;
			float sh;
			bn_shift(j, (int)ch, 1, &sh);
			merge_stats(&mu, &m2, r0, rb, sh, ps[o], pq[o]);
		}
		fwd_coef(j, (int)ch, mu, m2, &j->coef[ch], &j->coef[j->c + ch]);
		if (j->relu_out) {
			j->relu_out[ch] = j->coef[ch];
			j->relu_out[j->c + ch] = j->coef[j->c + ch];
		}
	}
}

CPU_SIMD static void fwd_apply_task(void *arg, int tid, int nt)
{
	const bn_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->rows, tid, nt, &lo, &hi);
	size_t o = lo * (size_t)j->c;
	for (int c0 = 0; c0 < j->c; c0 += BN_CHUNK) {
		int nc = bn_clamp(j->c - c0, BN_CHUNK);
		float scale[BN_CHUNK], shift[BN_CHUNK];   /* local: y cannot alias them */
		for (int k = 0; k < nc; k++) {
			scale[k] = j->coef[c0 + k];
			shift[k] = j->coef[j->c + c0 + k];
		}
		scale_shift(j, o, (int)(hi - lo), c0, nc, scale, shift);
	}
}

int cpu_bn_rows_scratch(cpu_impl *im, bn_job *j)
{
	if (im->bn_channels_only)
		return -1;
	j->nb = (j->rows + BN_ROWS - 1) / BN_ROWS;
	if (cpu_grow(&im->bn_part, &im->bn_part_cap, (2 * (size_t)j->nb + 3) * (size_t)j->c))
		return -1;
	j->part = im->bn_part;
	j->coef = im->bn_part + 2 * (size_t)j->nb * j->c;
	return 0;
}

static void fwd_train(cpu_impl *im, bn_job *j)
{
	size_t n = (size_t)j->rows * (size_t)j->c;
	if (j->rows <= 0 || j->c <= 0)
		return;
	if (n < BN_MIN_PAR || im->nt == 1 || cpu_bn_rows_scratch(im, j)) {
		cpu_run_n(im, n, BN_MIN_PAR, train_task, j);
		return;
	}
	cpu_run(im, fwd_blocks_task, j);
	cpu_run_n(im, (size_t)j->c, 256, fwd_merge_task, j);
	cpu_run(im, fwd_apply_task, j);
}

void cpu_bn_fwd_train(dl_backend *be, int rows, int c, const float *x, const float *gamma,
		      const float *beta, float eps, float momentum, float *run_mean,
		      float *run_var, float *save_mean, float *save_invstd, float *relu_coef,
		      float *y)
{
	bn_job j = { .rows = rows, .c = c, .x = x, .gamma = gamma, .beta = beta, .eps = eps,
		     .momentum = momentum, .run_mean = run_mean, .run_var = run_var,
		     .save_mean = save_mean, .save_invstd = save_invstd, .y = y,
		     .relu_out = relu_coef, .relu = relu_coef != NULL };
	fwd_train(cpu_of(be), &j);
}

void cpu_bn_fwd_train_h(dl_backend *be, int rows, int c, const void *x, const float *gamma,
			const float *beta, float eps, float momentum, float *run_mean,
			float *run_var, float *save_mean, float *save_invstd, float *relu_coef,
			void *y, int flags)
{
	int m = flags & (DL_LINK_X | DL_LINK_Y);
	bn_job j = { .rows = rows, .c = c, .gamma = gamma, .beta = beta, .eps = eps,
		     .momentum = momentum, .run_mean = run_mean, .run_var = run_var,
		     .save_mean = save_mean, .save_invstd = save_invstd,
		     .relu_out = relu_coef, .relu = relu_coef != NULL, .mode = m };
	if (m & DL_LINK_X)
		j.xh = x;
	else
		j.x = x;
	if (m & DL_LINK_Y)
		j.yh = y;
	else
		j.y = y;
	fwd_train(cpu_of(be), &j);
}

CPU_SIMD static void infer_task(void *arg, int tid, int nt)
{
	const bn_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->rows, tid, nt, &lo, &hi);
	size_t o = lo * (size_t)j->c;
	for (int c0 = 0; c0 < j->c; c0 += BN_CHUNK) {
		int nc = bn_clamp(j->c - c0, BN_CHUNK);
		float scale[BN_CHUNK], shift[BN_CHUNK];
		for (int k = 0; k < nc; k++) {
			int ch = c0 + k;
			double s = j->gamma[ch] / sqrt((double)j->var[ch] + j->eps);
			scale[k] = (float)s;
			shift[k] = (float)(j->beta[ch] - j->mean[ch] * s);
		}
		scale_shift(j, o, (int)(hi - lo), c0, nc, scale, shift);
	}
}

void cpu_bn_fwd_infer(dl_backend *be, int rows, int c, const float *x, const float *gamma,
		      const float *beta, const float *run_mean, const float *run_var, float eps,
		      int relu, float *y)
{
	bn_job j = { .rows = rows, .c = c, .x = x, .gamma = gamma, .beta = beta,
		     .mean = run_mean, .var = run_var, .eps = eps, .y = y, .relu = relu != 0 };
	cpu_run_n(cpu_of(be), (size_t)rows * (size_t)c, BN_MIN_PAR, infer_task, &j);
}
