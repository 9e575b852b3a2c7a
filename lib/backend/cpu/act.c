/* Elementwise activations.  Each thread takes a contiguous slice, so the
 * result does not depend on the thread count. */
#include "backend/cpu/cpu.h"

typedef struct act_job {
	size_t n;
	const float *x, *y, *dy;
	float *out;
} act_job;

#define ACT_MIN_PAR (1 << 16)

static void relu_fwd_task(void *arg, int tid, int nt)
{
	const act_job *j = arg;
	size_t lo, hi;
	cpu_range(j->n, tid, nt, &lo, &hi);
	for (size_t i = lo; i < hi; i++)
		j->out[i] = j->x[i] > 0 ? j->x[i] : 0;
}

/* dx = dy where y > 0, else 0 (so the subgradient at 0 is 0) */
static void relu_bwd_task(void *arg, int tid, int nt)
{
	const act_job *j = arg;
	size_t lo, hi;
	cpu_range(j->n, tid, nt, &lo, &hi);
	for (size_t i = lo; i < hi; i++)
		j->out[i] = j->y[i] > 0 ? j->dy[i] : 0;
}

void cpu_act_fwd(dl_backend *be, dl_act_kind k, size_t n, const float *x, float *y)
{
	act_job j = { n, x, NULL, NULL, y };
	(void)k;   /* DL_ACT_RELU is the only kind */
	cpu_run_n(cpu_of(be), n, ACT_MIN_PAR, relu_fwd_task, &j);
}

void cpu_act_bwd(dl_backend *be, dl_act_kind k, size_t n, const float *x,
		 const float *y, const float *dy, float *dx)
{
	act_job j = { n, x, y, dy, dx };
	(void)k;
	cpu_run_n(cpu_of(be), n, ACT_MIN_PAR, relu_bwd_task, &j);
}
