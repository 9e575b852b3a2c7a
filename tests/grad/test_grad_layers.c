/* Finite-difference gradient checks through the real layer code: models
 * built from spec text, run on the CPU backend by dl_model_forward /
 * dl_model_backward, compared with central differences of a scalar
 * objective computed in double.
 *
 * Objective: L = sum_r w_r * out_r with fixed random w (so dL/dout = w), or
 * the mean softmax cross-entropy whose dlogits come from
 * be->ops->softmax_xent.
 *
 * Checked, per model:
 * - every parameter: dl_model_backward's gradient vs central differences;
 * - parameter gradients accumulate: a second backward without zeroing
 *   doubles them;
 * - the input of every non-alias layer (the model input included): the
 *   layer backward's dx vs differences of the activation, re-running the
 *   layers above it; what dl_model_backward left in m->dy must agree.
 *
 * All layers here are piecewise linear (relu, maxpool) or smooth, so a
 * coordinate whose one-sided differences disagree crossed a kink (a relu
 * at 0, a maxpool tie) within eps: it is skipped and counted, and the count
 * is bounded.  A broken forward would make many kinks; a broken backward
 * makes no kinks but disagrees with the differences. */
#include "../unit/test.h"

#include <stdint.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/rng.h"
#include "nn/model.h"

typedef struct gcase {
	const char *spec;
	int n;            /* batch */
	int xent;         /* objective: 0 weighted sum, 1 softmax xent */
	uint64_t seed;
	double eps;
	void (*tamper)(dl_model *m);   /* meta-tests: swap in a broken layer */
	void (*prep)(dl_model *m);     /* adjusts initial parameters */
	int max_skip_pct;              /* default 3 */
} gcase;

typedef struct gstats {
	int checked, skipped, bad;   /* coordinates compared / skipped at kinks / wrong */
	int accum_bad;               /* parameters whose gradient did not double */
	int dy_bad;                  /* m->dy values that differ from the layer's dx */
	int nonzero;                 /* parameters with a nonzero gradient */
	int nparams;
	double worst;                /* largest |a - fd| / (rtol-scaled bound) seen */
} gstats;

typedef struct gctx {
	dl_model m;
	dl_backend *be;
	const gcase *c;
	float *w;          /* objective weights [n, out] (host) */
	int32_t *labels;   /* device, [n] */
	float *stats;      /* device, 2 */
	size_t nout;
} gctx;

static const double RTOL = 1e-2, ATOL = 2e-4;

static double objective(gctx *g)
{
	const float *out = dl_model_output(&g->m);
	int n = g->c->n, k = dl_model_output_shape(&g->m).c;
	double L = 0;
	if (!g->c->xent) {
		for (size_t i = 0; i < g->nout; i++)
			L += (double)g->w[i] * out[i];
		return L;
	}
	for (int i = 0; i < n; i++) {
		const float *z = out + (size_t)i * k;
		double mx = z[0], s = 0;
		for (int j = 1; j < k; j++)
			mx = z[j] > mx ? z[j] : mx;
		for (int j = 0; j < k; j++)
			s += exp(z[j] - mx);
		L += log(s) + mx - z[g->labels[i]];
	}
	return L / n;
}

/* Layers from..nlayers-1 forward (the model's own loop, from a point). */
static void forward_from(gctx *g, int from)
{
	dl_model *m = &g->m;
	for (int i = from; i < m->nlayers; i++) {
		dl_layer *l = &m->layers[i];
		if (l->kind->alias)
			continue;
		l->kind->forward(l, m->be, g->c->n, i ? m->y[i - 1] : m->x, m->y[i]);
	}
}

/* Fills dL/dout into dl_model_doutput. */
static void seed_doutput(gctx *g)
{
	dl_model *m = &g->m;
	if (!g->c->xent) {
		memcpy(dl_model_doutput(m), g->w, g->nout * sizeof(float));
		return;
	}
	int n = g->c->n, k = dl_model_output_shape(m).c;
	g->be->ops->zero(g->be, g->stats, 2 * sizeof(float));
	g->be->ops->softmax_xent(g->be, n, k, dl_model_output(m), g->labels, 0.0f, 1.0f / (float)n,
				 dl_model_doutput(m), g->stats);
}

/* Compares analytic a with the central difference at *v (re-running the
 * layers from `from`), or counts it skipped when it straddles a kink. */
static void fd_one(dl_test_ctx *t, gctx *g, gstats *s, const char *what, int idx, float *v,
		   int from, double a)
{
	double eps = g->c->eps;
	float v0 = *v;
	*v = (float)(v0 + eps);
	double dp = (double)*v - v0;
	forward_from(g, from);
	double Lp = objective(g);
	*v = (float)(v0 - eps);
	double dm = v0 - (double)*v;
	forward_from(g, from);
	double Lm = objective(g);
	*v = v0;
	forward_from(g, from);
	double L0 = objective(g);
	double fp = (Lp - L0) / dp, fm = (L0 - Lm) / dm, fd = (Lp - Lm) / (dp + dm);
	double mag = fabs(fp) > fabs(fm) ? fabs(fp) : fabs(fm);
	/* kink: the one-sided slopes disagree by more than curvature and
	 * rounding explain */
	if (fabs(fp - fm) > 0.02 * mag + ATOL + (g->c->xent ? 20 * eps : 0)) {
		s->skipped++;
		return;
	}
	s->checked++;
	double bound = RTOL * (fabs(a) > fabs(fd) ? fabs(a) : fabs(fd)) + ATOL;
	double r = fabs(a - fd) / bound;
	if (r > s->worst)
		s->worst = r;
	if (r > 1) {
		if (s->bad < 5 && t)
			fprintf(stderr, "  %s: %s[%d]: analytic %.7g, finite difference %.7g\n",
				t->name, what, idx, a, fd);
		s->bad++;
	}
}

/* Runs every check of one case; t == NULL keeps it quiet (meta-tests). */
static gstats grad_check(dl_test_ctx *t, const gcase *c)
{
	gstats s = { 0 };
	gctx g = { .c = c };
	dl_err err;
	dl_rng r;
	dl_rng_seed(&r, c->seed);
	g.be = dl_test_cpu(2);
	dl_model *m = &g.m;
	if (dl_model_build(m, c->spec, "grad", &err) || dl_model_alloc(m, g.be, &err) ||
	    dl_model_init(m, c->seed, &err) || dl_model_plan(m, c->n, &err)) {
		fprintf(stderr, "  grad model: %s\n", err.msg);
		abort();
	}
	if (c->tamper)
		c->tamper(m);
	if (c->prep)
		c->prep(m);
	int L = m->nlayers, n = c->n;
	size_t nin = dl_shape_size(m->input) * (size_t)n;
	for (size_t i = 0; i < nin; i++)
		m->x[i] = 2 * dl_rng_uniform(&r) - 1;
	g.nout = dl_shape_size(dl_model_output_shape(m)) * (size_t)n;
	g.w = malloc(g.nout * sizeof *g.w);
	g.labels = g.be->ops->alloc(g.be, (size_t)n * sizeof *g.labels);
	g.stats = g.be->ops->alloc(g.be, 2 * sizeof(float));
	int k = dl_model_output_shape(m).c;
	for (size_t i = 0; i < g.nout; i++)
		g.w[i] = 2 * dl_rng_uniform(&r) - 1;
	for (int i = 0; i < n; i++)
		g.labels[i] = (int32_t)dl_rng_below(&r, (uint32_t)k);

	/* analytic parameter gradients, then a second backward to accumulate */
	size_t P = m->nparams;
	s.nparams = (int)P;
	float *g1 = malloc((P + 1) * sizeof *g1), *g2 = malloc((P + 1) * sizeof *g2);
	dl_model_forward(m, n);
	if (c->xent) {
		seed_doutput(&g);
		/* the loss op's own sum agrees with ours */
		double mine = objective(&g) * n;
		if (t)
			CHECK_NEAR(g.stats[0], mine, 1e-4 * (1 + fabs(mine)));
	} else {
		seed_doutput(&g);
	}
	g.be->ops->zero(g.be, m->grads, P * sizeof(float));
	dl_model_backward(m, n);
	memcpy(g1, m->grads, P * sizeof *g1);
	/* what the model left in dy for layers whose dx it needed */
	float **dysave = calloc((size_t)L, sizeof *dysave);
	for (int j = 1; j < L; j++) {
		if (m->layers[j].kind->alias || !m->need_dx[j])
			continue;
		size_t cnt = dl_shape_size(m->layers[j].in) * (size_t)n;
		dysave[j] = malloc(cnt * sizeof(float));
		memcpy(dysave[j], m->dy[j - 1], cnt * sizeof(float));
	}
	seed_doutput(&g);
	dl_model_backward(m, n);
	memcpy(g2, m->grads, P * sizeof *g2);
	for (size_t i = 0; i < P; i++) {
		if (g1[i] != 0)
			s.nonzero++;
		if (!(fabs(g2[i] - 2.0 * g1[i]) <= 1e-5 * fabs(g1[i]) + 1e-12))
			s.accum_bad++;
	}

	/* parameters */
	for (int li = 0; li < L; li++) {
		dl_layer *l = &m->layers[li];
		for (int p = 0; p < l->nparam; p++) {
			char what[64];
			snprintf(what, sizeof what, "layer %d %s %s", li, l->kind->name,
				 l->param[p].name);
			for (size_t q = 0; q < l->param[p].count; q++)
				fd_one(t, &g, &s, what, (int)q, l->p[p] + q, 0,
				       g1[l->param[p].offset + q]);
		}
	}

	/* layer inputs: every non-alias layer's backward asked for dx (the
	 * model input too), as dl_model_backward does but with dx always on */
	dl_model_forward(m, n);
	seed_doutput(&g);
	float *dx0 = g.be->ops->alloc(g.be, nin * sizeof(float));
	for (int i = L - 1; i >= 0; i--) {
		dl_layer *l = &m->layers[i];
		if (l->kind->alias)
			continue;
		l->kind->backward(l, m->be, n, i ? m->y[i - 1] : m->x, m->y[i], m->dy[i],
				  i ? m->dy[i - 1] : dx0);
	}
	for (int j = 0; j < L; j++) {
		dl_layer *l = &m->layers[j];
		if (l->kind->alias)
			continue;
		size_t cnt = dl_shape_size(l->in) * (size_t)n;
		float *act = j ? m->y[j - 1] : m->x, *dact = j ? m->dy[j - 1] : dx0;
		if (dysave[j])
			for (size_t q = 0; q < cnt; q++)
				if (!(fabs(dysave[j][q] - dact[q]) <= 1e-5 * fabs(dact[q]) + 1e-7))
					s.dy_bad++;
		char what[64];
		snprintf(what, sizeof what, "layer %d %s input", j, l->kind->name);
		for (size_t q = 0; q < cnt; q++)
			fd_one(t, &g, &s, what, (int)q, act + q, j, dact[q]);
	}

	for (int j = 0; j < L; j++)
		free(dysave[j]);
	free(dysave);
	free(g1);
	free(g2);
	free(g.w);
	g.be->ops->free(g.be, dx0);
	g.be->ops->free(g.be, g.labels);
	g.be->ops->free(g.be, g.stats);
	dl_model_release(m);
	dl_backend_close(g.be);
	return s;
}

/* Asserts a case passes: no mismatch, at most 3% of coordinates skipped
 * at kinks, gradients accumulate, most parameters have a gradient. */
static void expect_ok(dl_test_ctx *t, const gcase *c)
{
	gstats s = grad_check(t, c);
	if (getenv("VERBOSE"))
		fprintf(stderr, "  %s: %d checked, %d skipped, worst %.3f of tolerance, %d/%d nonzero\n",
			t->name, s.checked, s.skipped, s.worst, s.nonzero, s.nparams);
	CHECK_INT(s.bad, 0);
	CHECK_INT(s.accum_bad, 0);
	CHECK_INT(s.dy_bad, 0);
	CHECK(s.checked > 0);
	int pct = c->max_skip_pct ? c->max_skip_pct : 3;
	CHECK(s.skipped * 100 <= pct * (s.checked + s.skipped));
	CHECK(s.nonzero * 4 >= s.nparams * 3);
}

#define GRAD_TEST(name, ...) \
	TEST(grad_##name) { gcase c_ = { __VA_ARGS__ }; expect_ok(t, &c_); }

/* ---- dense -------------------------------------------------------------- */

GRAD_TEST(dense_bias, .spec = "input h=1 w=1 c=5\ndense units=4\n", .n = 3, .seed = 1,
	  .eps = 1e-2)
GRAD_TEST(dense_nobias, .spec = "input h=1 w=1 c=6\ndense units=3 bias=0\n", .n = 2,
	  .seed = 2, .eps = 1e-2)
GRAD_TEST(dense_stack, .spec = "input h=1 w=1 c=5\ndense units=7\ndense units=3 bias=0\n"
	  "dense units=4\n", .n = 3, .seed = 3, .eps = 1e-2)

/* ---- conv2d ------------------------------------------------------------- */

GRAD_TEST(conv_same_c1, .spec = "input h=5 w=6 c=1\nconv2d filters=3 size=3 pad=same\n"
	  "flatten\ndense units=4\n", .n = 2, .seed = 4, .eps = 1e-2)
GRAD_TEST(conv_same_c3_nobias, .spec = "input h=5 w=4 c=3\nconv2d filters=2 size=3 pad=same bias=0\n"
	  "flatten\ndense units=3\n", .n = 2, .seed = 5, .eps = 1e-2)
GRAD_TEST(conv_valid_c3, .spec = "input h=6 w=5 c=3\nconv2d filters=2 size=3 pad=valid\n"
	  "flatten\ndense units=3\n", .n = 2, .seed = 6, .eps = 1e-2)
GRAD_TEST(conv_valid_c1_nobias, .spec = "input h=6 w=7 c=1\nconv2d filters=3 size=2 bias=0\n"
	  "flatten\ndense units=2\n", .n = 3, .seed = 7, .eps = 1e-2)
GRAD_TEST(conv_pad1_stride2_c3, .spec = "input h=7 w=6 c=3\nconv2d filters=4 size=3 stride=2 pad=1\n"
	  "flatten\ndense units=3\n", .n = 2, .seed = 8, .eps = 1e-2)
GRAD_TEST(conv_pad1_stride2_c1_nobias, .spec = "input h=6 w=7 c=1\n"
	  "conv2d filters=2 size=3 stride=2 pad=1 bias=0\nflatten\ndense units=2\n", .n = 2,
	  .seed = 9, .eps = 1e-2)
GRAD_TEST(conv_size5_same, .spec = "input h=6 w=6 c=2\nconv2d filters=2 size=5 pad=same\n"
	  "flatten\ndense units=2\n", .n = 2, .seed = 10, .eps = 1e-2)
/* the layer under test second: its dx is needed by the model */
GRAD_TEST(conv_over_conv, .spec = "input h=6 w=6 c=2\nconv2d filters=3 size=3 pad=same\n"
	  "conv2d filters=2 size=3 stride=2 pad=1 bias=0\nflatten\ndense units=3\n", .n = 2,
	  .seed = 11, .eps = 1e-2)

/* ---- maxpool, relu, flatten ------------------------------------------- */

GRAD_TEST(maxpool2, .spec = "input h=6 w=6 c=2\nconv2d filters=3 size=3 pad=same\n"
	  "maxpool size=2\nflatten\ndense units=3\n", .n = 2, .seed = 12, .eps = 1e-3)
GRAD_TEST(maxpool3_stride2_odd, .spec = "input h=7 w=9 c=2\nconv2d filters=2 size=3 pad=same\n"
	  "maxpool size=3 stride=2\nflatten\ndense units=3\n", .n = 2, .seed = 13, .eps = 1e-3)
/* floor mode drops the last row/column; pooling the raw input first */
GRAD_TEST(maxpool2_odd_first, .spec = "input h=5 w=7 c=3\nmaxpool size=2\nflatten\n"
	  "dense units=2\n", .n = 2, .seed = 14, .eps = 1e-3)
GRAD_TEST(relu_dense, .spec = "input h=1 w=1 c=6\ndense units=8\nrelu\ndense units=3\n",
	  .n = 3, .seed = 15, .eps = 1e-3)
GRAD_TEST(relu_first, .spec = "input h=1 w=1 c=6\nrelu\ndense units=3\n", .n = 3, .seed = 16,
	  .eps = 1e-3)
GRAD_TEST(relu_conv, .spec = "input h=4 w=5 c=2\nconv2d filters=3 size=3 pad=same\nrelu\n"
	  "flatten\ndense units=3\n", .n = 2, .seed = 17, .eps = 1e-3)
GRAD_TEST(flatten_mid, .spec = "input h=5 w=6 c=2\nconv2d filters=3 size=3 pad=same\nrelu\n"
	  "maxpool size=2\nflatten\ndense units=4\n", .n = 2, .seed = 18, .eps = 1e-3)
/* biases of every layer but the last at +0.3, so most relus are on and
 * few maxpool windows are ties of zeros (non-differentiable points) */
static void bias_up(dl_model *m)
{
	for (int i = 0; i + 1 < m->nlayers; i++)
		if (m->layers[i].nparam > 1)
			for (size_t q = 0; q < m->layers[i].param[1].count; q++)
				m->layers[i].p[1][q] = 0.3f;
}

GRAD_TEST(lenet_like, .prep = bias_up, .spec = "input h=8 w=8 c=1\nconv2d filters=3 size=3 pad=same\nrelu\n"
	  "maxpool size=2\nconv2d filters=4 size=3 pad=same\nrelu\nmaxpool size=2\nflatten\n"
	  "dense units=6\nrelu\ndense units=3\n", .n = 2, .seed = 19, .eps = 1e-3)

/* ---- the loss ----------------------------------------------------------- */

GRAD_TEST(xent_dense, .spec = "input h=1 w=1 c=5\ndense units=4\n", .n = 4, .xent = 1,
	  .seed = 20, .eps = 1e-3)
GRAD_TEST(xent_conv_model, .spec = "input h=4 w=4 c=2\nconv2d filters=3 size=3 pad=same\n"
	  "flatten\ndense units=5\n", .n = 3, .xent = 1, .seed = 21, .eps = 1e-3)
/* with a relu: a smaller eps, as the loss's curvature hides kinks */
GRAD_TEST(xent_relu_model, .spec = "input h=4 w=4 c=2\nconv2d filters=3 size=3 pad=same\nrelu\n"
	  "flatten\ndense units=5\n", .n = 3, .xent = 1, .seed = 21, .eps = 1e-4)

/* ---- the checker can fail ------------------------------------------------
 * Layers with a subtly wrong backward swapped into a model: the checks
 * above must notice. */

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

/* parameter gradients written instead of accumulated */
static void bwd_overwrite(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
			  const float *dy, float *dx)
{
	for (int p = 0; p < l->nparam; p++)
		be->ops->zero(be, l->g[p], l->param[p].count * sizeof(float));
	real_backward(l, be, n, x, y, dy, dx);
}

/* the bias gradient of the last unit dropped */
static void bwd_drop_bias(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
			  const float *dy, float *dx)
{
	float keep = l->g[1][l->param[1].count - 1];
	real_backward(l, be, n, x, y, dy, dx);
	l->g[1][l->param[1].count - 1] = keep;
}

static void swap_layer(dl_model *m, int i, void (*bwd)(dl_layer *, dl_backend *, int,
		       const float *, const float *, const float *, float *))
{
	broken = *m->layers[i].kind;
	real_backward = broken.backward;
	broken.backward = bwd;
	m->layers[i].kind = &broken;
}

static void tamper_relu(dl_model *m) { swap_layer(m, 1, bwd_scaled_dx); }
static void tamper_pool(dl_model *m) { swap_layer(m, 1, bwd_scaled_dx); }
static void tamper_conv_accum(dl_model *m) { swap_layer(m, 0, bwd_overwrite); }
static void tamper_dense_bias(dl_model *m) { swap_layer(m, 2, bwd_drop_bias); }

TEST(grad_checker_catches_broken_layers)
{
	gcase relu = { .spec = "input h=1 w=1 c=6\ndense units=8\nrelu\ndense units=3\n", .n = 3,
		       .seed = 15, .eps = 1e-3, .tamper = tamper_relu };
	gstats s = grad_check(NULL, &relu);
	CHECK(s.bad > 0);
	CHECK(s.dy_bad == 0);   /* the model got the same (wrong) dx */
	gcase pool = { .spec = "input h=6 w=6 c=2\nconv2d filters=3 size=3 pad=same\n"
		       "maxpool size=2\nflatten\ndense units=3\n", .n = 2, .seed = 12, .eps = 1e-3,
		       .tamper = tamper_pool };
	s = grad_check(NULL, &pool);
	CHECK(s.bad > 0);
	gcase conv = { .spec = "input h=5 w=6 c=1\nconv2d filters=3 size=3 pad=same\n"
		       "flatten\ndense units=4\n", .n = 2, .seed = 4, .eps = 1e-2,
		       .tamper = tamper_conv_accum };
	s = grad_check(NULL, &conv);
	CHECK(s.accum_bad > 0);
	CHECK_INT(s.bad, 0);    /* one backward alone is right */
	gcase dense = { .spec = "input h=4 w=4 c=1\nconv2d filters=2 size=3 pad=same\nflatten\n"
			"dense units=3\n", .n = 2, .seed = 22, .eps = 1e-2,
			.tamper = tamper_dense_bias };
	s = grad_check(NULL, &dense);
	CHECK(s.bad > 0);
}
