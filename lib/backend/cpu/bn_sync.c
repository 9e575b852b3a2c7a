/* Batch norm with statistics over all data-parallel ranks (--sync-bn), the
 * CPU side of backend.h's bn_stats, bn_fwd_given and bn_bwd_given.  The
 * layer sums each partial result over the ranks between the calls, so the
 * two-pass statistics of bn.c (mean, then squared deviations from it) are
 * kept: the same formulas as one process over the whole batch, up to the
 * order of the float sums.  Channels are split among threads and each
 * thread sums its channels in double, in row order.  A fused ReLU
 * (relu_coef) as in bn.c: y = max(x * s + t, 0), and dy masked where
 * x * s + t <= 0, the same expression both ways. */
#include "backend/cpu/cpu.h"

#include <math.h>

#define MIN_PAR (1 << 14)

typedef struct sync_job {
	int rows, c;
	double count;
	const float *x, *dy, *gamma, *beta, *mean, *sqdev, *invstd, *dgamma, *dbeta, *relu_in;
	float eps, momentum;
	float *out, *run_mean, *run_var, *save_invstd, *y, *dx, *relu_out;
} sync_job;

CPU_SIMD static void stats_task(void *arg, int tid, int nt)
{
	const sync_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->c, tid, nt, &lo, &hi);
	for (size_t k = lo; k < hi; k++) {
		double s = 0, mu = j->mean ? j->mean[k] : 0;
		for (int r = 0; r < j->rows; r++) {
			double v = j->x[(size_t)r * j->c + k];
			s += j->mean ? (v - mu) * (v - mu) : v;
		}
		j->out[k] = (float)s;
	}
}

void cpu_bn_stats(dl_backend *be, int rows, int c, const float *x, const float *mean, float *out)
{
	sync_job j = { .rows = rows, .c = c, .x = x, .mean = mean, .out = out };
	cpu_run_n(cpu_of(be), (size_t)rows * (size_t)c, MIN_PAR, stats_task, &j);
}

CPU_SIMD static void fwd_task(void *arg, int tid, int nt)
{
	const sync_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->c, tid, nt, &lo, &hi);
	double unbias = j->count > 1 ? j->count / (j->count - 1) : 1.0, m = j->momentum;
	for (size_t k = lo; k < hi; k++) {
		double mu = j->mean[k], var = j->sqdev[k] / j->count;
		double invstd = 1.0 / sqrt(var + j->eps);
		j->save_invstd[k] = (float)invstd;
		j->run_mean[k] = (float)((1 - m) * j->run_mean[k] + m * mu);
		j->run_var[k] = (float)((1 - m) * j->run_var[k] + m * var * unbias);
		float scale = (float)(j->gamma[k] * invstd);
		float shift = (float)(j->beta[k] - mu * j->gamma[k] * invstd);
		if (j->relu_out) {
			j->relu_out[k] = scale;
			j->relu_out[j->c + k] = shift;
		}
		for (int r = 0; r < j->rows; r++) {
			size_t i = (size_t)r * j->c + k;
			float v = j->x[i] * scale + shift;
			j->y[i] = j->relu_out && !(v > 0) ? 0 : v;
		}
	}
}

void cpu_bn_fwd_given(dl_backend *be, int rows, int c, long count, const float *x,
		      const float *gamma, const float *beta, float eps, float momentum,
		      const float *mean, const float *sqdev, float *run_mean, float *run_var,
		      float *save_invstd, float *relu_coef, float *y)
{
	sync_job j = { .rows = rows, .c = c, .count = (double)count, .x = x, .gamma = gamma,
		       .beta = beta, .eps = eps, .momentum = momentum, .mean = mean, .sqdev = sqdev,
		       .run_mean = run_mean, .run_var = run_var, .save_invstd = save_invstd, .y = y,
		       .relu_out = relu_coef };
	cpu_run_n(cpu_of(be), (size_t)rows * (size_t)c, MIN_PAR, fwd_task, &j);
}

/* dx = a dy + b (x - mean) + cst, as bn.c with the global sums */
CPU_SIMD static void bwd_task(void *arg, int tid, int nt)
{
	const sync_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->c, tid, nt, &lo, &hi);
	for (size_t k = lo; k < hi; k++) {
		double is = j->invstd[k], g = j->gamma[k], n = j->count;
		/* dgamma = sum dy * xhat = is * sum dy (x - mean) */
		float a = (float)(g * is);
		float b = (float)(-g * is * is * j->dgamma[k] / n);
		float cst = (float)(-g * is * j->dbeta[k] / n);
		float mu = j->mean[k];
		float s = j->relu_in ? j->relu_in[k] : 0, t = j->relu_in ? j->relu_in[j->c + k] : 0;
		for (int r = 0; r < j->rows; r++) {
			size_t i = (size_t)r * j->c + k;
			float d = j->relu_in && !(j->x[i] * s + t > 0) ? 0 : j->dy[i];
			j->dx[i] = a * d + b * (j->x[i] - mu) + cst;
		}
	}
}

void cpu_bn_bwd_given(dl_backend *be, int rows, int c, long count, const float *x,
		      const float *dy, const float *gamma, const float *save_mean,
		      const float *save_invstd, const float *relu_coef, const float *dgamma,
		      const float *dbeta, float *dx)
{
	sync_job j = { .rows = rows, .c = c, .count = (double)count, .x = x, .dy = dy,
		       .gamma = gamma, .mean = save_mean, .invstd = save_invstd, .dgamma = dgamma,
		       .dbeta = dbeta, .dx = dx, .relu_in = relu_coef };
	cpu_run_n(cpu_of(be), (size_t)rows * (size_t)c, MIN_PAR, bwd_task, &j);
}
