/* Our optimizers and learning-rate schedules against PyTorch's numbers
 * (tests/unit/optim_ref.h, written by tests/torch/optim_ref.py). */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "nn/optim.h"
#include "train/schedule.h"

#include "optim_ref.h"

static dl_backend *cpu(int threads)
{
	dl_backend *be = NULL;
	dl_err err;
	if (dl_backend_cpu_open(&be, threads, &err))
		abort();
	return be;
}

/* Worst relative error |a - b| / max(|b|, 1e-3) over n floats. */
static double worst(const float *a, const float *b, int n)
{
	double w = 0;
	for (int i = 0; i < n; i++) {
		double d = fabs((double)a[i] - (double)b[i]) / fmax(fabs((double)b[i]), 1e-3);
		if (!(d <= w))
			w = d;
	}
	return w;
}

static void run_case(dl_test_ctx *t, dl_backend *be, const oref_case *c)
{
	dl_optim o;
	dl_err err;
	CHECK_INT(dl_optim_init(&o, c->kind, oref_lrs[0], OREF_N, be, &err), 0);
	o.momentum = c->momentum;
	o.weight_decay = c->wd;
	o.nesterov = c->nesterov;
	o.clip_norm = c->clip;
	CHECK_INT(dl_optim_ready(&o, &err), 0);
	float *p = be->ops->alloc(be, OREF_N * sizeof(float));
	float *g = be->ops->alloc(be, OREF_N * sizeof(float));
	memcpy(p, oref_p0, sizeof oref_p0);
	/* float rounding only (PyTorch fuses and orders some operations
	 * differently); a wrong formula is off by far more */
	double tol = 2e-5;
	for (int s = 0; s < OREF_STEPS; s++) {
		memcpy(g, oref_grads[s], sizeof oref_grads[s]);
		dl_optim_step(&o, p, g, oref_lrs[s]);
		double w = worst(p, c->expect[s], OREF_N);
		if (!(w <= tol))
			fprintf(stderr, "  %s: %s step %d: worst relative error %.3g\n", t->name, c->name,
				s + 1, w);
		CHECK(w <= tol);
	}
	be->ops->free(be, p);
	be->ops->free(be, g);
	dl_optim_release(&o);
}

TEST(optim_matches_torch)
{
	dl_backend *be = cpu(2);
	for (size_t i = 0; i < sizeof oref_cases / sizeof oref_cases[0]; i++)
		run_case(t, be, &oref_cases[i]);
	dl_backend_close(be);
}

TEST(optim_clip_scale_only_when_over)
{
	dl_backend *be = cpu(2);
	enum { n = 20000 };   /* more than one sumsq block */
	float *x = be->ops->alloc(be, n * sizeof(float)), *ss = be->ops->alloc(be, sizeof(float));
	double ref = 0;
	for (int i = 0; i < n; i++) {
		x[i] = (float)((i % 7) - 3) * 0.01f;
		ref += (double)x[i] * x[i];
	}
	be->ops->sumsq(be, n, x, ss);
	CHECK_NEAR(ss[0], ref, ref * 1e-6);
	/* the same sum with one thread (fixed blocks) */
	dl_backend *be1 = cpu(1);
	float s1;
	be1->ops->sumsq(be1, n, x, &s1);
	CHECK(s1 == ss[0]);
	dl_backend_close(be1);
	/* a norm under the limit leaves x alone */
	float x0 = x[1];
	be->ops->clip_scale(be, n, x, ss, 1e6f);
	CHECK(x[1] == x0);
	/* over it: the norm becomes max_norm */
	be->ops->clip_scale(be, n, x, ss, 0.5f);
	be->ops->sumsq(be, n, x, ss);
	CHECK_NEAR(sqrt(ss[0]), 0.5, 1e-5);
	be->ops->free(be, x);
	be->ops->free(be, ss);
	dl_backend_close(be);
}

TEST(schedule_matches_torch)
{
	for (size_t i = 0; i < sizeof sref_cases / sizeof sref_cases[0]; i++) {
		const sref_case *c = &sref_cases[i];
		dl_schedule s;
		dl_err err;
		dl_schedule_init(&s, 0.1);
		s.kind = c->kind;
		s.total = c->total;
		s.per_epoch = c->per_epoch;
		s.step_size = c->step_size;
		s.gamma = c->gamma;
		s.nmilestones = c->nmilestones;
		memcpy(s.milestones, c->milestones, sizeof c->milestones);
		s.warmup = c->warmup;
		CHECK_INT(dl_schedule_check(&s, &err), 0);
		for (long k = 0; k < c->total; k++) {
			double got = dl_schedule_lr(&s, k), want = c->lrs[k];
			if (!(fabs(got - want) <= 1e-12 + 1e-9 * want)) {
				fprintf(stderr, "  %s: %s step %ld: %.17g, torch %.17g\n", t->name, c->name, k,
					got, want);
				CHECK(0);
				break;
			}
		}
	}
}

TEST(schedule_rejects_bad_settings)
{
	dl_schedule s;
	dl_err err;
	dl_schedule_init(&s, 0.1);
	s.kind = DL_SCHED_COSINE;
	CHECK_INT(dl_schedule_check(&s, &err), DL_EUSAGE);   /* no length */
	s.kind = DL_SCHED_ONECYCLE;
	s.total = 100;
	s.warmup = 5;
	CHECK_INT(dl_schedule_check(&s, &err), DL_EUSAGE);
	CHECK_STR_HAS(err.msg, "warmup");
	s.kind = DL_SCHED_MULTISTEP;
	s.warmup = 0;
	CHECK_INT(dl_schedule_check(&s, &err), DL_EUSAGE);
	CHECK_STR_HAS(err.msg, "milestones");
	CHECK_INT(dl_schedule_milestones(&s, "3,2", &err), DL_EUSAGE);
	CHECK_INT(dl_schedule_milestones(&s, "2,x", &err), DL_EUSAGE);
	CHECK_INT(dl_schedule_milestones(&s, "2,", &err), DL_EUSAGE);
	CHECK_INT(dl_schedule_milestones(&s, "2,5,9", &err), 0);
	CHECK_INT(s.nmilestones, 3);
	CHECK_INT(s.milestones[2], 9);
	CHECK_INT(dl_schedule_check(&s, &err), 0);
	int k;
	CHECK_INT(dl_opt_choice_value(dl_schedule_choices, "onecycle", &k), 0);
	CHECK_INT(k, DL_SCHED_ONECYCLE);
	CHECK_INT(dl_opt_choice_value(dl_schedule_choices, "linear", &k), -1);
}
