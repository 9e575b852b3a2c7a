/* Finite-difference gradient checks of the issue-5 layers through the
 * public model API only (dl_model_forward / dl_model_backward): conv2d with
 * dilation, groups and depthwise, maxpool with padding, avgpool, gap, and
 * the activations leaky_relu, tanh, sigmoid, gelu, hardswish.
 *
 * Objective L = sum_r w_r out_r with fixed random w (dL/dout = w).  Every
 * parameter's gradient from dl_model_backward is compared with central
 * differences of L computed in double.  The layer under test sits between
 * parameterised layers, so a wrong dx of it shows up in the gradients of
 * the parameters below it; a model that starts with it checks the case of
 * a first layer (no dx wanted).
 *
 * Piecewise-linear layers (leaky_relu, maxpool) have kinks: a coordinate
 * whose one-sided differences disagree straddles one and is skipped; the
 * skipped share is bounded.  Smooth models (.smooth) skip nothing: their
 * one-sided slopes differ by curvature, not kinks.  A meta-test shows the
 * check can fail. */
#include "../unit/test.h"

#include <stdint.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/rng.h"
#include "nn/model.h"

typedef struct g2case {
	const char *spec;
	int n;
	uint64_t seed;
	double eps;
	int break_param;     /* meta-test: perturb this gradient index by 3% (+1) */
	void (*tamper)(dl_model *m);   /* meta-test: swap in a broken layer */
	int smooth;          /* no kinks: check every coordinate, skip none */
} g2case;

typedef struct g2stats {
	int checked, skipped, bad, nonzero, nparams;
} g2stats;

static const double RTOL = 1e-2, ATOL = 2e-4;

static double objective(dl_model *m, const float *w, size_t nout, int n)
{
	dl_model_forward(m, n);
	const float *out = dl_model_output(m);
	double L = 0;
	for (size_t i = 0; i < nout; i++)
		L += (double)w[i] * out[i];
	return L;
}

static g2stats check(dl_test_ctx *t, const g2case *c)
{
	g2stats s = { 0 };
	dl_backend *be = NULL;
	dl_model m;
	dl_err err;
	if (dl_backend_cpu_open(&be, 2, &err) || dl_model_build(&m, c->spec, "grad2", &err) ||
	    dl_model_alloc(&m, be, &err) || dl_model_init(&m, c->seed, &err) ||
	    dl_model_plan(&m, c->n, &err)) {
		fprintf(stderr, "  grad2 model: %s\n", err.msg);
		abort();
	}
	if (c->tamper)
		c->tamper(&m);
	dl_rng r;
	dl_rng_seed(&r, c->seed + 1000);
	size_t nin = dl_shape_size(m.input) * (size_t)c->n;
	size_t nout = dl_shape_size(dl_model_output_shape(&m)) * (size_t)c->n;
	for (size_t i = 0; i < nin; i++)
		m.x[i] = 2 * dl_rng_uniform(&r) - 1;
	float *w = malloc(nout * sizeof *w);
	for (size_t i = 0; i < nout; i++)
		w[i] = 2 * dl_rng_uniform(&r) - 1;
	size_t P = m.nparams;
	s.nparams = (int)P;
	float *ga = malloc(P * sizeof *ga);
	dl_model_forward(&m, c->n);
	memcpy(dl_model_doutput(&m), w, nout * sizeof *w);
	be->ops->zero(be, m.grads, P * sizeof(float));
	dl_model_backward(&m, c->n);
	memcpy(ga, m.grads, P * sizeof *ga);
	if (c->break_param)
		ga[c->break_param - 1] = ga[c->break_param - 1] * 1.03f + 1e-3f;
	double eps = c->eps;
	for (size_t q = 0; q < P; q++) {
		if (ga[q] != 0)
			s.nonzero++;
		float *v = m.params + q, v0 = *v;
		*v = (float)(v0 + eps);
		double dp = (double)*v - v0, Lp = objective(&m, w, nout, c->n);
		*v = (float)(v0 - eps);
		double dm = v0 - (double)*v, Lm = objective(&m, w, nout, c->n);
		*v = v0;
		double L0 = objective(&m, w, nout, c->n);
		double fp = (Lp - L0) / dp, fm = (L0 - Lm) / dm, fd = (Lp - Lm) / (dp + dm);
		double mag = fabs(fp) > fabs(fm) ? fabs(fp) : fabs(fm);
		if (!c->smooth && fabs(fp - fm) > 0.02 * mag + ATOL) {
			s.skipped++;
			continue;
		}
		s.checked++;
		double a = ga[q], bound = RTOL * (fabs(a) > fabs(fd) ? fabs(a) : fabs(fd)) + ATOL;
		if (fabs(a - fd) > bound) {
			if (s.bad < 5 && t)
				fprintf(stderr, "  %s: param[%zu]: analytic %.7g, finite difference %.7g\n",
					t->name, q, a, fd);
			s.bad++;
		}
	}
	free(ga);
	free(w);
	dl_model_release(&m);
	dl_backend_close(be);
	return s;
}

static void expect_ok(dl_test_ctx *t, const g2case *c)
{
	g2stats s = check(t, c);
	if (getenv("VERBOSE"))
		fprintf(stderr, "  %s: %d checked, %d skipped, %d/%d nonzero\n", t->name, s.checked,
			s.skipped, s.nonzero, s.nparams);
	CHECK_INT(s.bad, 0);
	CHECK(s.checked > 0);
	CHECK(s.skipped * 100 <= 3 * (s.checked + s.skipped));
	CHECK(s.nonzero * 4 >= s.nparams * 3);
}

#define GRAD2(name, ...) \
	TEST(grad2_##name) { g2case c_ = { __VA_ARGS__ }; expect_ok(t, &c_); }

/* ---- conv2d: dilation, groups, depthwise ----------------------------------- */

GRAD2(conv_dilation2, .spec = "input h=7 w=7 c=2\nconv2d filters=3 size=3 dilation=2 pad=same\n"
      "flatten\ndense units=3\n", .n = 2, .seed = 31, .eps = 1e-2, .smooth = 1)
GRAD2(conv_groups2_mid, .spec = "input h=6 w=6 c=2\nconv2d filters=4 size=3 pad=same\n"
      "conv2d filters=6 size=3 groups=2 pad=1 stride=2 bias=0\nflatten\ndense units=3\n", .n = 2,
      .seed = 32, .eps = 1e-2, .smooth = 1)
GRAD2(conv_depthwise_mid, .spec = "input h=6 w=5 c=1\nconv2d filters=3 size=1\n"
      "conv2d filters=3 size=3 groups=3 pad=same\nflatten\ndense units=2\n", .n = 2, .seed = 33,
      .eps = 1e-2, .smooth = 1)
GRAD2(conv_depthwise_x2_dil, .spec = "input h=8 w=8 c=2\nconv2d filters=4 size=3 groups=2 "
      "dilation=2 pad=1\nflatten\ndense units=2\n", .n = 2, .seed = 34, .eps = 1e-2, .smooth = 1)

/* ---- pooling ------------------------------------------------------------------ */

GRAD2(maxpool_pad, .spec = "input h=6 w=5 c=2\nconv2d filters=3 size=3 pad=same\n"
      "maxpool size=3 stride=2 pad=1\nflatten\ndense units=3\n", .n = 2, .seed = 35, .eps = 1e-3)
GRAD2(avgpool_pad_mid, .spec = "input h=7 w=6 c=2\nconv2d filters=3 size=3 pad=same\n"
      "avgpool size=3 stride=2 pad=1\nflatten\ndense units=3\n", .n = 2, .seed = 36, .eps = 1e-2, .smooth = 1)
GRAD2(avgpool_first, .spec = "input h=6 w=6 c=3\navgpool\nflatten\ndense units=2\n", .n = 2,
      .seed = 37, .eps = 1e-2, .smooth = 1)
GRAD2(gap_dense, .spec = "input h=5 w=4 c=2\nconv2d filters=4 size=3 pad=same\ngap\n"
      "dense units=3\n", .n = 3, .seed = 38, .eps = 1e-2, .smooth = 1)

/* ---- activations ------------------------------------------------------------- */

GRAD2(leaky_relu, .spec = "input h=1 w=1 c=6\ndense units=8\nleaky_relu slope=0.2\n"
      "dense units=3\n", .n = 3, .seed = 39, .eps = 1e-3)
GRAD2(leaky_relu_default_conv, .spec = "input h=4 w=4 c=2\nconv2d filters=3 size=3 pad=same\n"
      "leaky_relu\nflatten\ndense units=3\n", .n = 2, .seed = 40, .eps = 1e-3)
GRAD2(tanh, .spec = "input h=1 w=1 c=5\ndense units=7\ntanh\ndense units=3\n", .n = 3,
      .seed = 41, .eps = 1e-2, .smooth = 1)
GRAD2(sigmoid, .spec = "input h=1 w=1 c=5\ndense units=7\nsigmoid\ndense units=3\n", .n = 3,
      .seed = 42, .eps = 1e-2, .smooth = 1)
GRAD2(gelu, .spec = "input h=1 w=1 c=5\ndense units=7\ngelu\ndense units=3\n", .n = 3,
      .seed = 43, .eps = 1e-2, .smooth = 1)
GRAD2(gelu_conv_gap, .spec = "input h=5 w=5 c=2\nconv2d filters=3 size=3 pad=same\ngelu\n"
      "gap\ndense units=2\n", .n = 2, .seed = 44, .eps = 1e-2, .smooth = 1)

/* hardswish: its inputs here lie mostly on the curved middle piece; a
 * coordinate straddling a kink at +-3 is skipped as for leaky_relu (the
 * backend test covers all three pieces) */
GRAD2(hardswish, .spec = "input h=1 w=1 c=5\ndense units=7\nhardswish\ndense units=3\n", .n = 3,
      .seed = 45, .eps = 1e-3)
GRAD2(hardswish_conv, .spec = "input h=4 w=4 c=3\nconv2d filters=4 size=3 pad=same\nhardswish\n"
      "flatten\ndense units=3\n", .n = 2, .seed = 46, .eps = 1e-3)

/* ---- the check can fail ------------------------------------------------------- */

static void (*real_backward)(dl_layer *, dl_backend *, int, const float *, const float *,
			     const float *, float *);
static dl_layer_kind broken;

/* dx 3% too large */
static void bwd_scaled_dx(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
			  const float *dy, float *dx)
{
	real_backward(l, be, n, x, y, dy, dx);
	if (dx)
		for (size_t i = 0; i < (size_t)n * dl_shape_size(l->in); i++)
			dx[i] *= 1.03f;
}

static void tamper_layer1(dl_model *m)
{
	broken = *m->layers[1].kind;
	real_backward = broken.backward;
	broken.backward = bwd_scaled_dx;
	m->layers[1].kind = &broken;
}

TEST(grad2_catches_wrong_gradient)
{
	g2case c = { .spec = "input h=1 w=1 c=5\ndense units=7\ngelu\ndense units=3\n", .n = 3,
		     .seed = 43, .eps = 1e-2, .break_param = 4, .smooth = 1 };
	g2stats s = check(NULL, &c);
	CHECK_INT(s.bad, 1);
	/* a layer whose dx is off: the parameters below it disagree */
	const char *specs[] = {
		"input h=1 w=1 c=5\ndense units=7\ngelu\ndense units=3\n",
		"input h=6 w=6 c=2\nconv2d filters=3 size=3 pad=same\navgpool size=3 stride=2 pad=1\n"
		"flatten\ndense units=3\n",
		"input h=6 w=5 c=1\nconv2d filters=3 size=1\nconv2d filters=3 size=3 groups=3 pad=same\n"
		"flatten\ndense units=2\n",
	};
	for (int i = 0; i < 3; i++) {
		g2case b = { .spec = specs[i], .n = 2, .seed = 50, .eps = 1e-2, .tamper = tamper_layer1,
			     .smooth = 1 };
		s = check(NULL, &b);
		CHECK(s.bad > 0);
	}
}
