/* Batch norm over x [rows, c] (NHWC with rows = n*h*w), per channel.
 *
 * Training sums the rows in blocks of BN_ROWS: each block in float, the
 * blocks in double in row order, so results do not depend on the thread
 * count.  Threads split the rows (each reads whole rows: contiguous memory)
 * and leave every block's sums in the backend's scratch (cpu_impl.bn_part),
 * which a second pass merges per channel; where that scratch cannot be had
 * they split the channels instead and merge as they go, with the same
 * arithmetic and so the same bits.  Channels are walked in chunks of
 * BN_CHUNK held in local arrays (fixed trip counts the compiler
 * vectorises).  Forward training reads x twice (statistics, then y),
 * backward reads x and dy twice.  Inference is elementwise, split by rows.
 *
 * A ReLU fused after the batch norm (relu_coef, ops.h) costs no pass of
 * its own: the forward applies max(., 0) as it writes y and keeps each
 * channel's scale and shift; the backward recomputes x * scale + shift
 * with the same float expression (this file is built with -std=c11:
 * no contraction into fused multiply-adds) and takes dy as 0 where it is
 * not positive, so the result has the bits of batch norm, then ReLU.
 *
 * The bf16 link (ops.h bn_fwd_train_h, bn_bwd_h) has x and dx, or y and
 * dy, or all four in bf16 (bn_job.mode: DL_LINK_X | DL_LINK_Y): each
 * kernel takes M_, the mode as a constant, loads x and dy through bn_ld
 * and bn_ld_dy (a bf16 widened exactly), so the arithmetic after the load
 * is the float ops' own, and rounds y and dx to bf16 (nearest even) as it
 * stores them (bn_st).
 *
 * Formulas (PyTorch's): mean and biased variance over the rows normalise;
 * running_var is updated with the unbiased variance.  Backward, with
 * xhat = (x - mean) * invstd:
 *   dbeta = sum dy, dgamma = sum dy * xhat,
 *   dx = gamma * invstd * (dy - dbeta / rows - xhat * dgamma / rows). */
#include "backend/cpu/cpu.h"

#include <math.h>
#include <string.h>

#define BN_CHUNK 64
#define BN_MIN_PAR (1 << 14)

typedef struct bn_job {
	int rows, c;
	const float *x, *dy, *gamma, *beta, *mean, *var;
	float eps, momentum;
	float *run_mean, *run_var, *save_mean, *save_invstd, *y, *dx, *dgamma, *dbeta;
	/* the bf16 link: mode DL_LINK_X has x, dx in bf16 at xh, dxh;
	 * DL_LINK_Y has y, dy at yh, dyh (the float pointers NULL) */
	int mode;
	const uint16_t *xh, *dyh;
	uint16_t *dxh, *yh;
	/* fused ReLU: forward writes scale, shift [2][c] to relu_out; backward
	 * reads them from relu_in; infer: relu set */
	float *relu_out;
	const float *relu_in;
	int relu;
	/* the row-split passes: per-block partial sums [2][nb][c], then
	 * per-channel coefficients [3][c] */
	float *part, *coef;
	int nb;
} bn_job;

/* Rows per block: a block is summed in float (BN_ROWS x BN_CHUNK floats of
 * a chunk, 16 KiB, re-read from L1), and the blocks' sums are merged in
 * double in block order, so the result depends on neither the thread count
 * nor the split (rows or channels) but only on the rows' order. */
#define BN_ROWS 64

/* min(n, cap): the rows of a block starting at r0, the width of a chunk */
static inline int bn_clamp(int n, int cap)
{
	return n < cap ? n : cap;
}

/* Calls `call` with W_ a constant for the common chunk widths (a thread's
 * share of 64..512 channels), so the inner loops vectorise with no
 * remainder, and R_ the constant 0 or 1 for a fused ReLU. */
#define BN_DISPATCH_W(nc, call)                                               \
	do {                                                                  \
		if ((nc) == 64) { enum { W_ = 64 }; call; }                   \
		else if ((nc) == 32) { enum { W_ = 32 }; call; }              \
		else if ((nc) == 16) { enum { W_ = 16 }; call; }              \
		else { const int W_ = (nc); call; }                          \
	} while (0)
#define BN_DISPATCH_RW(nc, relu, call)                                        \
	do {                                                                  \
		if (relu) { enum { R_ = 1 }; BN_DISPATCH_W(nc, call); }       \
		else { enum { R_ = 0 }; BN_DISPATCH_W(nc, call); }            \
	} while (0)
/* ... and M_ the bf16 link's mode as a constant (bn_job.mode: 0 to 3,
 * DL_LINK_X | DL_LINK_Y) */
#define BN_DISPATCH(j, nc, relu, call)                                                \
	do {                                                                          \
		switch ((j)->mode) {                                                  \
		case 1: { enum { M_ = 1 }; BN_DISPATCH_RW(nc, relu, call); } break;   \
		case 2: { enum { M_ = 2 }; BN_DISPATCH_RW(nc, relu, call); } break;   \
		case 3: { enum { M_ = 3 }; BN_DISPATCH_RW(nc, relu, call); } break;   \
		default: { enum { M_ = 0 }; BN_DISPATCH_RW(nc, relu, call); }         \
		}                                                                     \
	} while (0)

static inline __attribute__((always_inline)) float bf16_wide(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* v rounded to bf16, nearest even (a NaN stays a NaN) */
static inline __attribute__((always_inline)) uint16_t bf16_round(float v)
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	return (u & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((u >> 16) | 0x40)
					       : (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

/* A row of a tensor from element offset o: its floats f, or its bf16
 * values h (H); the kernels index it with the channel k (int: the loops
 * vectorise) */
typedef struct bn_row {
	const float *f;
	const uint16_t *h;
} bn_row;

typedef struct bn_out {
	float *f;
	uint16_t *h;
} bn_out;

static inline __attribute__((always_inline)) bn_row bn_at(const float *f, const uint16_t *h,
							   size_t o, int H)
{
	return H ? (bn_row){ NULL, h + o } : (bn_row){ f + o, NULL };
}

static inline __attribute__((always_inline)) bn_out bn_out_at(float *f, uint16_t *h, size_t o,
							       int H)
{
	return H ? (bn_out){ NULL, h + o } : (bn_out){ f + o, NULL };
}

/* row[k]: a float, or a bf16 widened exactly (H) */
static inline __attribute__((always_inline)) float bn_ld(bn_row row, int k, int H)
{
	return H ? bf16_wide(row.h[k]) : row.f[k];
}

/* row[k] = v: a float, or rounded to bf16 (H) */
static inline __attribute__((always_inline)) void bn_st(bn_out row, int k, float v, int H)
{
	if (H)
		row.h[k] = bf16_round(v);
	else
		row.f[k] = v;
}

enum { BN_X = DL_LINK_X, BN_Y = DL_LINK_Y };

/* The shift of the shifted-data sums: the batch's first row of the chunk */
static inline void bn_shift(const bn_job *j, int c0, int nc, float *sh)
{
	int H = (j->mode & BN_X) != 0;
	bn_row x = bn_at(j->x, j->xh, (size_t)c0, H);
	for (int k = 0; k < nc; k++)
		sh[k] = bn_ld(x, k, H);
}

/* x * s + t, the value a fused ReLU clips: one expression for forward and
 * backward, so both see the same bits */
static inline float bn_affine(float x, float s, float t)
{
	return x * s + t;
}

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

/* Points j->part and j->coef at the backend's row-split scratch, grown to
 * [2][nb][c] + [3][c] floats; 0, or -1 (out of memory: the channel split
 * runs instead, with the same result). */
static int rows_scratch(cpu_impl *im, bn_job *j)
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
	if (n < BN_MIN_PAR || im->nt == 1 || rows_scratch(im, j)) {
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
	if (n < BN_MIN_PAR || im->nt == 1 || rows_scratch(im, j)) {
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
