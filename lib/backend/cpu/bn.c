/* Batch norm over x [rows, c] (NHWC with rows = n*h*w), per channel.
 *
 * Training forward and backward split the channels among the threads: a
 * thread owns a contiguous channel range, reads its slice of every row and
 * sums in double in row order, so results do not depend on the thread
 * count.  The slice is walked in chunks of BN_CHUNK channels held in local
 * arrays (fixed trip counts the compiler vectorises).  Inference is
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

/* Sums over the rows of x[:, c0:c0+nc]: s[k] = sum x, and when q is not
 * NULL q[k] = sum (x - mu[k])^2. */
static void col_sums(const bn_job *j, const float *x, int c0, int nc, const double *mu,
		     double *s, double *q)
{
	for (int k = 0; k < nc; k++)
		s[k] = 0;
	for (int r = 0; r < j->rows; r++) {
		const float *row = x + (size_t)r * j->c + c0;
		if (q) {
			for (int k = 0; k < nc; k++) {
				double d = row[k] - mu[k];
				s[k] += d * d;
			}
		} else {
			for (int k = 0; k < nc; k++)
				s[k] += row[k];
		}
	}
}

/* y[:, c0:c0+nc] = x * scale + shift */
static void scale_shift(const bn_job *j, const float *x, float *y, int c0, int nc,
			const float *scale, const float *shift)
{
	for (int r = 0; r < j->rows; r++) {
		const float *xr = x + (size_t)r * j->c + c0;
		float *yr = y + (size_t)r * j->c + c0;
		for (int k = 0; k < nc; k++)
			yr[k] = xr[k] * scale[k] + shift[k];
	}
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
		col_sums(j, j->x, c0, nc, NULL, mu, NULL);
		for (int k = 0; k < nc; k++)
			mu[k] /= n;
		col_sums(j, j->x, c0, nc, mu, var, var);
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
		scale_shift(j, j->x, j->y, c0, nc, scale, shift);
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
		scale_shift(&part, x, y, c0, nc, scale, shift);
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
		for (int k = 0; k < nc; k++) {
			sdy[k] = sdx[k] = 0;
			mu[k] = j->mean[c0 + k];
		}
		for (int r = 0; r < j->rows; r++) {
			const float *xr = j->x + (size_t)r * j->c + c0;
			const float *dr = j->dy + (size_t)r * j->c + c0;
			for (int k = 0; k < nc; k++) {
				sdy[k] += dr[k];
				sdx[k] += (double)dr[k] * (xr[k] - mu[k]);
			}
		}
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
		for (int r = 0; r < j->rows; r++) {
			const float *xr = j->x + (size_t)r * j->c + c0;
			const float *dr = j->dy + (size_t)r * j->c + c0;
			float *out = j->dx + (size_t)r * j->c + c0;
			for (int k = 0; k < nc; k++)
				out[k] = a[k] * dr[k] + b[k] * (xr[k] - mu[k]) + cst[k];
		}
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
