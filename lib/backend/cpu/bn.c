/* Batch norm over x [rows, c] (NHWC with rows = n*h*w), per channel.
 *
 * Training forward and backward split the channels among the threads: a
 * thread owns a contiguous channel range and walks its slice of the rows
 * in blocks of BN_ROWS, summing each block in float and the blocks in
 * double in row order, so results do not depend on the thread count.  The
 * slice is walked in chunks of BN_CHUNK channels held in local arrays
 * (fixed trip counts the compiler vectorises).  Forward training reads x
 * twice (statistics, then y), backward reads x and dy twice.  Inference is
 * elementwise and split by rows.
 *
 * Formulas (PyTorch's): mean and biased variance over the rows normalise;
 * running_var is updated with the unbiased variance.  Backward, with
 * xhat = (x - mean) * invstd:
 *   dbeta = sum dy, dgamma = sum dy * xhat,
 *   dx = gamma * invstd * (dy - dbeta / rows - xhat * dgamma / rows). */
#include "backend/cpu/cpu.h"

#include <math.h>

#define BN_CHUNK 64
#define BN_MIN_PAR (1 << 14)

typedef struct bn_job {
	int rows, c;
	const float *x, *dy, *gamma, *beta, *mean, *var;
	float eps, momentum;
	float *run_mean, *run_var, *save_mean, *save_invstd, *y, *dx, *dgamma, *dbeta;
} bn_job;

/* Rows per block of the training passes: a block of a thread's channel
 * chunk (BN_ROWS x BN_CHUNK floats, 16 KiB) is summed in float while it is
 * in L1, then folded into double running sums in block order, so the
 * result still depends on neither the thread count nor anything but the
 * rows' order. */
#define BN_ROWS 64

/* Forward statistics of x[:, c0:c0+W] (W = nc, a constant after inlining so
 * the loops vectorise): per block, its float sum and the float sum of
 * squared deviations from the block's own mean (the block is re-read from
 * L1), merged into the running mean and M2 by Chan et al.'s pairwise rule.
 * One pass over memory instead of a pass for the mean and one for the
 * deviations, and no float-to-double work per element.  Values are summed
 * less the channel's first value (the shifted-data method), so a large
 * common offset (x near 1000) loses no digits of the mean or variance. */
static inline __attribute__((always_inline)) void
stats_block(const bn_job *j, int c0, int W, double *mean, double *m2)
{
	double na = 0;
	float sh[BN_CHUNK];   /* the first row: sums of x - sh keep their digits */
	for (int k = 0; k < W; k++) {
		mean[k] = m2[k] = 0;
		sh[k] = j->x[c0 + k];
	}
	for (int r0 = 0; r0 < j->rows; r0 += BN_ROWS) {
		int rb = j->rows - r0 < BN_ROWS ? j->rows - r0 : BN_ROWS;
		const float *x = j->x + (size_t)r0 * j->c + c0;
		float s[BN_CHUNK] = { 0 }, q[BN_CHUNK] = { 0 }, mb[BN_CHUNK];
		for (int r = 0; r < rb; r++)
			for (int k = 0; k < W; k++)
				s[k] += x[(size_t)r * j->c + k] - sh[k];
		for (int k = 0; k < W; k++)
			mb[k] = s[k] / (float)rb;
		for (int r = 0; r < rb; r++)
			for (int k = 0; k < W; k++) {
				float d = (x[(size_t)r * j->c + k] - sh[k]) - mb[k];
				q[k] += d * d;
			}
		double n = na + rb, f = (double)rb / n, g = na * rb / n;
		for (int k = 0; k < W; k++) {
			double bm = (double)sh[k] + (double)s[k] / rb, delta = bm - mean[k];
			if (na == 0)
				mean[k] = bm;
			else
				mean[k] += delta * f;
			m2[k] += (double)q[k] + (na == 0 ? 0 : delta * delta * g);
		}
		na = n;
	}
}

/* Calls FN(..., W, ...) with W a constant for the common chunk widths (a
 * thread's share of 64..512 channels), so the inner loops vectorise with
 * no remainder. */
#define BN_DISPATCH(nc, call)                                                 \
	do {                                                                  \
		if ((nc) == 64) { enum { W_ = 64 }; call; }                   \
		else if ((nc) == 32) { enum { W_ = 32 }; call; }              \
		else if ((nc) == 16) { enum { W_ = 16 }; call; }              \
		else { const int W_ = (nc); call; }                          \
	} while (0)

/* y[:, c0:c0+W] = x * scale + shift */
static inline __attribute__((always_inline)) void
scale_shift_block(const bn_job *j, const float *x, float *y, int rows, int c0, int W,
		  const float *scale, const float *shift)
{
	for (int r = 0; r < rows; r++) {
		const float *xr = x + (size_t)r * j->c + c0;
		float *yr = y + (size_t)r * j->c + c0;
		for (int k = 0; k < W; k++)
			yr[k] = xr[k] * scale[k] + shift[k];
	}
}

static void scale_shift(const bn_job *j, const float *x, float *y, int rows, int c0, int nc,
			const float *scale, const float *shift)
{
	BN_DISPATCH(nc, scale_shift_block(j, x, y, rows, c0, W_, scale, shift));
}

static void train_task(void *arg, int tid, int nt)
{
	const bn_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->c, tid, nt, &lo, &hi);
	double n = j->rows, unbias = j->rows > 1 ? n / (n - 1) : 1.0;
	for (int c0 = (int)lo; c0 < (int)hi; c0 += BN_CHUNK) {
		int nc = (int)hi - c0 < BN_CHUNK ? (int)hi - c0 : BN_CHUNK;
		double mu[BN_CHUNK], var[BN_CHUNK];
		float scale[BN_CHUNK], shift[BN_CHUNK];
		BN_DISPATCH(nc, stats_block(j, c0, W_, mu, var));
		for (int k = 0; k < nc; k++) {
			int ch = c0 + k;
			var[k] /= n;
			double invstd = 1.0 / sqrt(var[k] + j->eps);
			j->save_mean[ch] = (float)mu[k];
			j->save_invstd[ch] = (float)invstd;
			double m = j->momentum;
			j->run_mean[ch] = (float)((1 - m) * j->run_mean[ch] + m * mu[k]);
			j->run_var[ch] = (float)((1 - m) * j->run_var[ch] + m * var[k] * unbias);
			scale[k] = (float)(j->gamma[ch] * invstd);
			shift[k] = (float)(j->beta[ch] - mu[k] * j->gamma[ch] * invstd);
		}
		scale_shift(j, j->x, j->y, j->rows, c0, nc, scale, shift);
	}
}

void cpu_bn_fwd_train(dl_backend *be, int rows, int c, const float *x, const float *gamma,
		      const float *beta, float eps, float momentum, float *run_mean,
		      float *run_var, float *save_mean, float *save_invstd, float *y)
{
	bn_job j = { .rows = rows, .c = c, .x = x, .gamma = gamma, .beta = beta, .eps = eps,
		     .momentum = momentum, .run_mean = run_mean, .run_var = run_var,
		     .save_mean = save_mean, .save_invstd = save_invstd, .y = y };
	cpu_run_n(cpu_of(be), (size_t)rows * (size_t)c, BN_MIN_PAR, train_task, &j);
}

static void infer_task(void *arg, int tid, int nt)
{
	const bn_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->rows, tid, nt, &lo, &hi);
	bn_job part = *j;
	part.rows = (int)(hi - lo);
	const float *x = j->x + lo * (size_t)j->c;
	float *y = j->y + lo * (size_t)j->c;
	for (int c0 = 0; c0 < j->c; c0 += BN_CHUNK) {
		int nc = j->c - c0 < BN_CHUNK ? j->c - c0 : BN_CHUNK;
		float scale[BN_CHUNK], shift[BN_CHUNK];
		for (int k = 0; k < nc; k++) {
			int ch = c0 + k;
			double s = j->gamma[ch] / sqrt((double)j->var[ch] + j->eps);
			scale[k] = (float)s;
			shift[k] = (float)(j->beta[ch] - j->mean[ch] * s);
		}
		scale_shift(&part, x, y, part.rows, c0, nc, scale, shift);
	}
}

void cpu_bn_fwd_infer(dl_backend *be, int rows, int c, const float *x, const float *gamma,
		      const float *beta, const float *run_mean, const float *run_var, float eps,
		      float *y)
{
	bn_job j = { .rows = rows, .c = c, .x = x, .gamma = gamma, .beta = beta,
		     .mean = run_mean, .var = run_var, .eps = eps, .y = y };
	cpu_run_n(cpu_of(be), (size_t)rows * (size_t)c, BN_MIN_PAR, infer_task, &j);
}

/* Backward sums of the chunk: sdy = sum dy, sdx = sum dy (x - mean), per
 * block in float, added into double in block order (as stats_block). */
static inline __attribute__((always_inline)) void
bwd_sums(const bn_job *j, int c0, int W, const float *mu, double *sdy, double *sdx)
{
	for (int k = 0; k < W; k++)
		sdy[k] = sdx[k] = 0;
	for (int r0 = 0; r0 < j->rows; r0 += BN_ROWS) {
		int rb = j->rows - r0 < BN_ROWS ? j->rows - r0 : BN_ROWS;
		float a[BN_CHUNK] = { 0 }, b[BN_CHUNK] = { 0 };
		for (int r = 0; r < rb; r++) {
			const float *xr = j->x + (size_t)(r0 + r) * j->c + c0;
			const float *dr = j->dy + (size_t)(r0 + r) * j->c + c0;
			for (int k = 0; k < W; k++) {
				a[k] += dr[k];
				b[k] += dr[k] * (xr[k] - mu[k]);
			}
		}
		for (int k = 0; k < W; k++) {
			sdy[k] += a[k];
			sdx[k] += b[k];
		}
	}
}

/* dx[:, c0:c0+W] = a dy + b (x - mean) + cst */
static inline __attribute__((always_inline)) void
bwd_dx(const bn_job *j, int c0, int W, const float *mu, const float *a, const float *b,
       const float *cst)
{
	for (int r = 0; r < j->rows; r++) {
		const float *xr = j->x + (size_t)r * j->c + c0;
		const float *dr = j->dy + (size_t)r * j->c + c0;
		float *out = j->dx + (size_t)r * j->c + c0;
		for (int k = 0; k < W; k++)
			out[k] = a[k] * dr[k] + b[k] * (xr[k] - mu[k]) + cst[k];
	}
}

static void bwd_task(void *arg, int tid, int nt)
{
	const bn_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->c, tid, nt, &lo, &hi);
	double n = j->rows;
	for (int c0 = (int)lo; c0 < (int)hi; c0 += BN_CHUNK) {
		int nc = (int)hi - c0 < BN_CHUNK ? (int)hi - c0 : BN_CHUNK;
		double sdy[BN_CHUNK], sdx[BN_CHUNK];
		float mu[BN_CHUNK];
		for (int k = 0; k < nc; k++)
			mu[k] = j->mean[c0 + k];
		BN_DISPATCH(nc, bwd_sums(j, c0, W_, mu, sdy, sdx));
		/* dx = a * dy + b * (x - mean) + cst */
		float a[BN_CHUNK], b[BN_CHUNK], cst[BN_CHUNK];
		for (int k = 0; k < nc; k++) {
			int ch = c0 + k;
			double is = j->var[ch], g = j->gamma[ch];
			j->dbeta[ch] += (float)sdy[k];
			j->dgamma[ch] += (float)(sdx[k] * is);
			a[k] = (float)(g * is);
			b[k] = (float)(-g * is * is * is * sdx[k] / n);
			cst[k] = (float)(-g * is * sdy[k] / n);
		}
		if (!j->dx)
			continue;
		BN_DISPATCH(nc, bwd_dx(j, c0, W_, mu, a, b, cst));
	}
}

void cpu_bn_bwd(dl_backend *be, int rows, int c, const float *x, const float *dy,
		const float *gamma, const float *save_mean, const float *save_invstd, float *dx,
		float *dgamma, float *dbeta)
{
	bn_job j = { .rows = rows, .c = c, .x = x, .dy = dy, .gamma = gamma, .mean = save_mean,
		     .var = save_invstd, .dx = dx, .dgamma = dgamma, .dbeta = dbeta };
	cpu_run_n(cpu_of(be), (size_t)rows * (size_t)c, BN_MIN_PAR, bwd_task, &j);
}
