/* Optimizer updates over a flat parameter block of n floats.  Each thread
 * updates a contiguous slice; results do not depend on the thread count. */
#include "backend/cpu/cpu.h"

#include <math.h>

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
static void sgd_task(void *arg, int tid, int nt)
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
static void adam_task(void *arg, int tid, int nt)
{
	const opt_job *j = arg;
	size_t lo, hi;
	cpu_range(j->n, tid, nt, &lo, &hi);
	for (size_t i = lo; i < hi; i++) {
		float g = j->decoupled ? j->g[i] : j->g[i] + j->wd * j->p[i];
		float wd = j->decoupled ? j->wd : 0;
		float m = j->b1 * j->m[i] + (1 - j->b1) * g;
		float v = j->b2 * j->v[i] + (1 - j->b2) * g * g;
		j->m[i] = m;
		j->v[i] = v;
		j->p[i] -= j->lr * ((m / j->bc1) / (sqrtf(v / j->bc2) + j->eps) + wd * j->p[i]);
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
