/* Optimizer updates over a flat parameter block of n floats.  Each thread
 * updates a contiguous slice; results do not depend on the thread count. */
#include "backend/cpu/cpu.h"

#include <math.h>
#include <stdlib.h>

typedef struct opt_job {
	size_t n;
	float *p, *m, *v;
	const float *g;
	float lr, momentum, wd, b1, b2, eps, bc1, bc2;
	int nesterov, decoupled;
} opt_job;

#define OPT_MIN_PAR (1 << 15)

/* PyTorch SGD: d = g + wd p; v = momentum v + d (if momentum);
 * p -= lr (nesterov ? d + momentum v : v) */
CPU_SIMD static void sgd_task(void *arg, int tid, int nt)
{
	const opt_job *j = arg;
	size_t lo, hi;
	cpu_range(j->n, tid, nt, &lo, &hi);
	if (j->momentum == 0) {
		for (size_t i = lo; i < hi; i++)
			j->p[i] -= j->lr * (j->g[i] + j->wd * j->p[i]);
		return;
	}
	if (j->nesterov) {
		for (size_t i = lo; i < hi; i++) {
			float d = j->g[i] + j->wd * j->p[i];
			j->v[i] = j->momentum * j->v[i] + d;
			j->p[i] -= j->lr * (d + j->momentum * j->v[i]);
		}
		return;
	}
	for (size_t i = lo; i < hi; i++) {
		j->v[i] = j->momentum * j->v[i] + (j->g[i] + j->wd * j->p[i]);
		j->p[i] -= j->lr * j->v[i];
	}
}

void cpu_sgd_update(dl_backend *be, size_t n, float *p, const float *g, float *v,
		    float lr, float momentum, float wd, int nesterov)
{
	opt_job j = { .n = n, .p = p, .g = g, .v = v, .lr = lr, .momentum = momentum, .wd = wd,
		      .nesterov = nesterov };
	cpu_run_n(cpu_of(be), n, OPT_MIN_PAR, sgd_task, &j);
}

/* AdamW: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr ((m / bc1) / (sqrt(v / bc2) + eps) + wd p).
 * Adam (not decoupled): g += wd p first, no decay term after. */
CPU_SIMD static void adam_task(void *arg, int tid, int nt)
{
	const opt_job *j = arg;
	size_t lo, hi;
	cpu_range(j->n, tid, nt, &lo, &hi);
	/* locals and no branch in the loop, so that it vectorises (the same
	 * arithmetic as one element at a time) */
	float *restrict p = j->p, *restrict m = j->m, *restrict v = j->v;
	const float *restrict g = j->g;
	const float b1 = j->b1, b2 = j->b2, lr = j->lr, bc1 = j->bc1, bc2 = j->bc2, eps = j->eps;
	const float wdj = j->wd;
	if (j->decoupled) {
		for (size_t i = lo; i < hi; i++) {
			float gi = g[i];
			float mi = b1 * m[i] + (1 - b1) * gi;
			float vi = b2 * v[i] + (1 - b2) * gi * gi;
			m[i] = mi;
			v[i] = vi;
			p[i] -= lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps) + wdj * p[i]);
		}
	} else {
		const float wd = 0;
		for (size_t i = lo; i < hi; i++) {
			float gi = g[i] + wdj * p[i];
			float mi = b1 * m[i] + (1 - b1) * gi;
			float vi = b2 * v[i] + (1 - b2) * gi * gi;
			m[i] = mi;
			v[i] = vi;
			p[i] -= lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps) + wd * p[i]);
		}
	}
}

void cpu_adam_update(dl_backend *be, size_t n, float *p, const float *g, float *m,
		     float *v, float lr, float b1, float b2, float eps, float wd,
		     int decoupled, float bc1, float bc2)
{
	opt_job j = { .n = n, .p = p, .m = m, .v = v, .g = g, .lr = lr, .wd = wd,
		      .decoupled = decoupled,
		      .b1 = b1, .b2 = b2, .eps = eps, .bc1 = bc1, .bc2 = bc2 };
	cpu_run_n(cpu_of(be), n, OPT_MIN_PAR, adam_task, &j);
}

/* Sum of squares in fixed blocks of SUMSQ_BLOCK floats, each summed in
 * double; block sums are added in block order, so the result is the same
 * for any thread count. */
#define SUMSQ_BLOCK 8192

typedef struct sumsq_job {
	const float *x;
	size_t n, nblocks;
	double *part;            /* nblocks */
} sumsq_job;

static double block_sumsq(const float *x, size_t n, size_t b)
{
	size_t lo = b * SUMSQ_BLOCK, hi = lo + SUMSQ_BLOCK < n ? lo + SUMSQ_BLOCK : n;
	double s = 0;
	for (size_t i = lo; i < hi; i++)
		s += (double)x[i] * (double)x[i];
	return s;
}

CPU_SIMD static void sumsq_task(void *arg, int tid, int nt)
{
	const sumsq_job *j = arg;
	size_t lo, hi;
	cpu_range(j->nblocks, tid, nt, &lo, &hi);
	for (size_t b = lo; b < hi; b++)
		j->part[b] = block_sumsq(j->x, j->n, b);
}

void cpu_sumsq(dl_backend *be, size_t n, const float *x, float *out)
{
	size_t nblocks = (n + SUMSQ_BLOCK - 1) / SUMSQ_BLOCK;
	double *part = nblocks > 1 ? malloc(nblocks * sizeof *part) : NULL;
	double s = 0;
	if (part) {
		sumsq_job j = { x, n, nblocks, part };
		cpu_run_n(cpu_of(be), nblocks, 2, sumsq_task, &j);
		for (size_t b = 0; b < nblocks; b++)
			s += part[b];
		free(part);
	} else {
		/* one block, or no memory for the partials: same order, one thread */
		for (size_t b = 0; b < nblocks; b++)
			s += block_sumsq(x, n, b);
	}
	out[0] = (float)s;
}

typedef struct scale_job {
	float *x;
	size_t n;
	float s;
} scale_job;

CPU_SIMD static void scale_task(void *arg, int tid, int nt)
{
	const scale_job *j = arg;
	size_t lo, hi;
	cpu_range(j->n, tid, nt, &lo, &hi);
	for (size_t i = lo; i < hi; i++)
		j->x[i] *= j->s;
}

/* PyTorch clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied when
 * coef < 1 (a non-finite norm gives a non-finite coef, as in PyTorch). */
void cpu_clip_scale(dl_backend *be, size_t n, float *x, const float *sumsq, float max_norm)
{
	float coef = max_norm / (sqrtf(sumsq[0]) + 1e-6f);
	if (!(coef < 1.0f) && !isnan(coef))
		return;
	scale_job j = { x, n, coef };
	cpu_run_n(cpu_of(be), n, OPT_MIN_PAR, scale_task, &j);
}
