/* Finite-difference gradient checks for graph models: batch norm (training
 * mode), dropout (a fixed mask: fixed seed and step), residual add and
 * channel concat, outputs that feed several layers (the model sums their
 * gradients), flatten aliases with several consumers.
 *
 * Objective L = sum_r w_r * out_r with fixed random w.  Every case starts
 * with a layer that has parameters, so the parameter gradients of the
 * first layers check every dx the model routed through the graph.  Each
 * parameter's dl_model_backward gradient is compared with the central
 * difference of L over whole-model forwards (in double), skipping
 * coordinates whose one-sided slopes disagree (a relu kink). */
#include "../unit/test.h"

#include <stdint.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/rng.h"
#include "nn/model.h"

typedef struct ggcase {
	const char *spec;
	int n;
	int training;
	uint64_t seed;
	double eps;
	void (*tamper)(dl_model *m);   /* meta-test: break something after planning */
} ggcase;

typedef struct ggstats {
	int checked, skipped, bad, accum_bad, nonzero, nparams;
} ggstats;

static double objective(dl_model *m, const float *w, size_t nout, int n)
{
	dl_model_forward(m, n);
	const float *out = dl_model_output(m);
	double L = 0;
	for (size_t i = 0; i < nout; i++)
		L += (double)w[i] * out[i];
	return L;
}

static ggstats graph_check(dl_test_ctx *t, const ggcase *c)
{
	ggstats s = { 0 };
	dl_backend *be = NULL;
	dl_err err;
	dl_model m;
	if (dl_backend_cpu_open(&be, 2, &err) || dl_model_build(&m, c->spec, "grad", &err) ||
	    dl_model_alloc(&m, be, &err) || dl_model_init(&m, c->seed, &err) ||
	    dl_model_plan(&m, c->n, &err)) {
		fprintf(stderr, "  grad graph model: %s\n", err.msg);
		abort();
	}
	dl_model_set_training(&m, c->training);
	m.run.seed = c->seed;
	m.run.step = 3;
	dl_rng r;
	dl_rng_seed(&r, c->seed);
	/* parameters away from batch norm's 1 and 0, and inputs */
	for (size_t i = 0; i < m.nparams; i++)
		m.params[i] += 0.3f * (2 * dl_rng_uniform(&r) - 1);
	size_t nin = dl_shape_size(m.input) * (size_t)c->n;
	for (size_t i = 0; i < nin; i++)
		m.x[i] = 2 * dl_rng_uniform(&r) - 1;
	if (c->tamper)
		c->tamper(&m);
	size_t nout = dl_shape_size(dl_model_output_shape(&m)) * (size_t)c->n, P = m.nparams;
	float *w = malloc(nout * sizeof *w), *g1 = malloc(P * sizeof *g1);
	for (size_t i = 0; i < nout; i++)
		w[i] = 2 * dl_rng_uniform(&r) - 1;
	s.nparams = (int)P;

	objective(&m, w, nout, c->n);
	memcpy(dl_model_doutput(&m), w, nout * sizeof *w);
	be->ops->zero(be, m.grads, P * sizeof(float));
	dl_model_backward(&m, c->n);
	memcpy(g1, m.grads, P * sizeof *g1);
	memcpy(dl_model_doutput(&m), w, nout * sizeof *w);
	dl_model_backward(&m, c->n);
	for (size_t i = 0; i < P; i++) {
		s.nonzero += g1[i] != 0;
		if (!(fabs(m.grads[i] - 2.0 * g1[i]) <= 1e-5 * fabs(g1[i]) + 1e-7))
			s.accum_bad++;
	}
	for (size_t i = 0; i < P; i++) {
		float v0 = m.params[i];
		m.params[i] = (float)(v0 + c->eps);
		double dp = (double)m.params[i] - v0, Lp = objective(&m, w, nout, c->n);
		m.params[i] = (float)(v0 - c->eps);
		double dm = v0 - (double)m.params[i], Lm = objective(&m, w, nout, c->n);
		m.params[i] = v0;
		double L0 = objective(&m, w, nout, c->n);
		double fp = (Lp - L0) / dp, fm = (L0 - Lm) / dm, fd = (Lp - Lm) / (dp + dm);
		double mag = fabs(fp) > fabs(fm) ? fabs(fp) : fabs(fm);
		if (fabs(fp - fm) > 0.02 * mag + 2e-4) {
			s.skipped++;
			continue;
		}
		s.checked++;
		double a = g1[i], big = fabs(a) > fabs(fd) ? fabs(a) : fabs(fd);
		if (fabs(a - fd) > 1e-2 * big + 2e-4) {
			if (s.bad < 5 && t)
				fprintf(stderr, "  %s: param[%zu]: analytic %.7g, finite difference %.7g\n",
					t->name, i, a, fd);
			s.bad++;
		}
	}
	free(w);
	free(g1);
	dl_model_release(&m);
	dl_backend_close(be);
	return s;
}

static void expect_ok(dl_test_ctx *t, const ggcase *c)
{
	ggstats s = graph_check(t, c);
	if (getenv("VERBOSE"))
		fprintf(stderr, "  %s: %d checked, %d skipped, %d/%d nonzero\n", t->name, s.checked,
			s.skipped, s.nonzero, s.nparams);
	CHECK_INT(s.bad, 0);
	CHECK_INT(s.accum_bad, 0);
	CHECK(s.checked > 0);
	CHECK(s.skipped * 100 <= 3 * (s.checked + s.skipped));
	CHECK(s.nonzero * 4 >= s.nparams * 3);
}

#define GRAPH_TEST(name, ...) \
	TEST(grad_graph_##name) { ggcase c_ = { __VA_ARGS__ }; expect_ok(t, &c_); }

GRAPH_TEST(batchnorm_conv_train, .spec = "input h=3 w=4 c=2\nconv2d filters=3 size=3 pad=same\n"
	   "batchnorm\nflatten\ndense units=3\n", .n = 3, .training = 1, .seed = 31, .eps = 1e-3)
/* on a flat input (BatchNorm1d), with a non-default eps */
GRAPH_TEST(batchnorm_flat_train, .spec = "input h=1 w=1 c=5\ndense units=4\n"
	   "batchnorm eps=0.01 momentum=0.5\ndense units=3\n", .n = 4, .training = 1, .seed = 32,
	   .eps = 1e-3)
/* batch norm in eval mode has no backward of its own (training only);
 * its forward is compared with PyTorch in tests/unit/test_model_torch.c. */
GRAPH_TEST(dropout_fixed_mask, .spec = "input h=1 w=1 c=6\ndense units=8\ndropout p=0.4\n"
	   "dense units=3\n", .n = 3, .training = 1, .seed = 33, .eps = 1e-2)
GRAPH_TEST(dropout_eval_identity, .spec = "input h=1 w=1 c=6\ndense units=8\ndropout p=0.4\n"
	   "dense units=3\n", .n = 3, .training = 0, .seed = 33, .eps = 1e-2)
GRAPH_TEST(residual_add, .spec = "input h=4 w=4 c=2\nconv2d filters=3 size=3 pad=same name=a\n"
	   "conv2d filters=3 size=3 pad=same bias=0\nbatchnorm name=b\nadd from=a,b\n"
	   "conv2d filters=2 size=3 stride=2 pad=1\nflatten\ndense units=3\n", .n = 2,
	   .training = 1, .seed = 34, .eps = 1e-3)
GRAPH_TEST(concat_three, .spec = "input h=3 w=3 c=2\nconv2d filters=2 size=3 pad=same name=a\n"
	   "conv2d filters=3 size=1 from=a name=b\nconv2d filters=1 size=3 pad=same from=input name=c\n"
	   "concat from=a,b,c\nconv2d filters=2 size=3\nflatten\ndense units=3\n", .n = 2,
	   .seed = 35, .eps = 1e-2)
/* one output used four times, twice by the same layer */
GRAPH_TEST(shared_output, .spec = "input h=1 w=1 c=4\ndense units=5 name=d\nadd from=d,d name=s\n"
	   "dense units=5 from=d name=e\nadd from=s,e,d\ndense units=3\n", .n = 3, .seed = 36,
	   .eps = 1e-2)
/* a flatten (alias) read by two layers, and the model input read twice */
GRAPH_TEST(alias_fanout, .spec = "input h=2 w=3 c=2\nconv2d filters=2 size=1 from=input name=c\n"
	   "flatten name=f\ndense units=4 from=f name=u\ndense units=4 from=f name=v\n"
	   "add from=u,v name=s\nflatten from=input name=g\ndense units=4 from=g name=z\n"
	   "add from=s,z\nrelu\ndense units=2\n", .n = 2, .seed = 37, .eps = 1e-3)

/* ---- the checker can fail: routing broken after planning ---------------- */

/* the second consumer's scratch is not added to the producer's gradient */
static void drop_accumulation(dl_model *m)
{
	for (int i = 0; i < m->nlayers * DL_LAYER_MAX_IN; i++)
		m->acc[i] = NULL;
}

/* a batch norm run in evaluation mode under the training backward */
static void bn_eval_forward(dl_model *m)
{
	m->run.training = 0;
}

TEST(grad_graph_checker_catches_broken_routing)
{
	ggcase c = { .spec = "input h=1 w=1 c=4\ndense units=5 name=d\ndense units=5 name=e\n"
		     "add from=d,e\ndense units=3\n", .n = 3, .seed = 38, .eps = 1e-2,
		     .tamper = drop_accumulation };
	ggstats s = graph_check(NULL, &c);
	CHECK(s.bad > 0);
	c.tamper = NULL;
	s = graph_check(NULL, &c);
	CHECK_INT(s.bad, 0);
	ggcase b = { .spec = "input h=1 w=1 c=5\ndense units=4\nbatchnorm\ndense units=3\n",
		     .n = 4, .training = 1, .seed = 39, .eps = 1e-2, .tamper = bn_eval_forward };
	s = graph_check(NULL, &b);
	CHECK(s.bad > 0);
}
