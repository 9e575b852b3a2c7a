/* The bf16 link (ops.h conv2d_bf16_link; layer.h link): its batch-norm
 * ops against the float ops on the same values (the same bits, dx rounded
 * to bf16), its conv ops against the training pair (y rounded to bf16; the
 * same gradients from the same bf16 dy), their in-place fallbacks, and a
 * model planned with links: which layers get one, and training close to
 * the model without them (not the same bits: the conv's output is
 * rounded). */
#include "test.h"
#include "model_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend_test.h"
#include "core/rng.h"
#include "nn/model.h"

/* Rounded to bf16, nearest even (finite values) */
static uint16_t bf(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static float wide(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* n random bf16 values (in [-2, 2)) and the same as floats */
static uint16_t *rand_bf16(dl_rng *r, size_t n, float **as_float)
{
	uint16_t *h = malloc((n ? n : 1) * sizeof *h);
	float *f = malloc((n ? n : 1) * sizeof *f);
	if (!h || !f)
		abort();
	for (size_t i = 0; i < n; i++) {
		h[i] = bf(-2 + 4 * dl_rng_uniform(r));
		f[i] = wide(h[i]);
	}
	*as_float = f;
	return h;
}

static int same(const void *a, const void *b, size_t bytes)
{
	return !memcmp(a, b, bytes);
}

/* The batch-norm state of one run: gamma, beta, running mean and var,
 * saved mean and invstd, relu coefficients, dgamma, dbeta ([c] each) */
enum { G, B, RM, RV, SM, SI, RC, RC2, DG, DB, NSTATE };

/* How many of n bf16 values at got are not the rounding of want's floats */
static size_t not_rounded(const void *got, const float *want, size_t n)
{
	const uint16_t *h = got;
	size_t bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += h[i] != bf(want[i]);
	return bad;
}

/* bn_fwd_train_h and bn_bwd_h with `flags` against the float ops on the
 * same values (x and dy drawn as bf16): the same statistics, running
 * statistics and parameter gradients, y and dx the float ops' own or
 * their rounding. */
static void bn_case(dl_test_ctx *t, dl_backend *be, int rows, int c, int relu, int flags,
		    uint64_t seed)
{
	dl_rng r;
	dl_rng_seed(&r, seed);
	size_t n = (size_t)rows * c;
	float *xf, *dyf, *st[2], *y[2], *dx[2];
	uint16_t *xh = rand_bf16(&r, n, &xf), *dyh = rand_bf16(&r, n, &dyf);
	float *init = rand_range(&r, (size_t)NSTATE * c, 0.5f, 1.5f);
	for (int k = 0; k < 2; k++) {
		st[k] = falloc(be, (size_t)NSTATE * c);
		memcpy(st[k], init, (size_t)NSTATE * c * sizeof(float));
		y[k] = falloc(be, n);
		dx[k] = falloc(be, n);
		float *s = st[k], *rc = relu ? s + RC * c : NULL;
		if (k == 0) {
			be->ops->bn_fwd_train(be, rows, c, xf, s + G * c, s + B * c, 1e-5f, 0.1f,
					      s + RM * c, s + RV * c, s + SM * c, s + SI * c, rc, y[k]);
			be->ops->bn_bwd(be, rows, c, xf, dyf, s + G * c, s + SM * c, s + SI * c, rc,
					dx[k], s + DG * c, s + DB * c);
		} else {
			const void *x = flags & DL_LINK_X ? (const void *)xh : xf;
			const void *dy = flags & DL_LINK_Y ? (const void *)dyh : dyf;
			be->ops->bn_fwd_train_h(be, rows, c, x, s + G * c, s + B * c, 1e-5f, 0.1f,
						s + RM * c, s + RV * c, s + SM * c, s + SI * c, rc, y[k],
						flags);
			be->ops->bn_bwd_h(be, rows, c, x, dy, s + G * c, s + SM * c, s + SI * c, rc,
					  dx[k], s + DG * c, s + DB * c, flags);
		}
	}
	CHECK(same(st[0], st[1], (size_t)NSTATE * c * sizeof(float)));
	size_t bad_y = flags & DL_LINK_Y ? not_rounded(y[1], y[0], n)
					 : !same(y[0], y[1], n * sizeof(float));
	size_t bad_dx = flags & DL_LINK_X ? not_rounded(dx[1], dx[0], n)
					  : !same(dx[0], dx[1], n * sizeof(float));
	if (bad_y || bad_dx) {
		fprintf(stderr, "  %s: rows %d c %d relu %d flags %d: %zu y, %zu dx wrong\n", t->name,
			rows, c, relu, flags, bad_y, bad_dx);
		t->failed = 1;
	}
	for (int k = 0; k < 2; k++)
		be->ops->free(be, st[k]), be->ops->free(be, y[k]), be->ops->free(be, dx[k]);
	free(xh), free(xf), free(dyh), free(dyf), free(init);
}

/* Every mode; both of bn.c's splits (rows, and channels where no scratch
 * is had), with and without a fused ReLU, a chunk width bn.c dispatches
 * (64) and others, and a shape small enough for one thread; on an fp32
 * backend (the kernels are bn.c's own). */
TEST(bf16_link_bn_ops)
{
	for (int split = 0; split < 2; split++) {
		dl_backend *be = cpu_open_prec(2, "fp32", CPU_CONV_AUTO);
		cpu_of(be)->bn_channels_only = split;
		for (int flags = 1; flags <= (DL_LINK_X | DL_LINK_Y); flags++)
			for (int relu = 0; relu < 2; relu++) {
				bn_case(t, be, 640, 64, relu, flags, 10 + relu);
				bn_case(t, be, 1000, 40, relu, flags, 20 + relu);
				bn_case(t, be, 33, 24, relu, flags, 30 + relu);
			}
		dl_backend_close(be);
	}
}

static dl_conv_geom geom(int n, int hw, int c, int k, int ks, int s, int p)
{
	int o = (hw + 2 * p - ks) / s + 1;
	return (dl_conv_geom){ .n = n, .h = hw, .w = hw, .c = c, .k = k, .kh = ks, .kw = ks,
			       .sh = s, .sw = s, .pt = p, .pl = p, .pb = p, .pr = p,
			       .oh = o, .ow = o, .dh = 1, .dw = 1, .groups = 1 };
}

/* The link's conv ops on g with `flags` against the training pair's on the
 * same values (x and dy drawn as bf16): y and dx are the pair's or their
 * rounding to bf16, dw and db the pair's bits.  Returns the oneDNN calls
 * the link's ops made. */
static unsigned long conv_case(dl_test_ctx *t, dl_backend *be, const dl_conv_geom *g, int flags,
			       uint64_t seed)
{
	size_t nx = (size_t)g->n * g->h * g->w * g->c, ny = (size_t)g->n * g->oh * g->ow * g->k;
	size_t nw = (size_t)g->k * g->kh * g->kw * g->c;
	dl_rng r;
	dl_rng_seed(&r, seed);
	float *xf, *dyf, *w = rand_floats(&r, nw), *b = rand_floats(&r, (size_t)g->k);
	uint16_t *xh = rand_bf16(&r, nx, &xf), *dyh = rand_bf16(&r, ny, &dyf);
	conv_reserve(be, g);
	size_t ns = be->ops->conv2d_saved_floats(be, g, 1);
	float *saved = ns ? falloc(be, ns) : NULL;
	float *y[2], *dx[2], *dw[2], *db[2], *dyb = falloc(be, ny);
	for (int k = 0; k < 2; k++) {
		y[k] = falloc(be, ny), dx[k] = falloc(be, nx), dw[k] = falloc(be, nw);
		db[k] = falloc(be, (size_t)g->k);
		for (size_t i = 0; i < nw; i++)
			dw[k][i] = 0.25f;
		for (int i = 0; i < g->k; i++)
			db[k][i] = -0.5f;
	}
	be->ops->conv2d_fwd_train(be, g, xf, w, b, y[0], saved);
	be->ops->conv2d_bwd(be, g, xf, dyf, w, saved, dw[0], db[0], dx[0]);
	const void *x = flags & DL_LINK_X ? (const void *)xh : xf;
	/* dy in a buffer with room for floats, as the link's buffers have */
	if (flags & DL_LINK_Y)
		memcpy(dyb, dyh, ny * sizeof *dyh);
	else
		memcpy(dyb, dyf, ny * sizeof *dyf);
	unsigned long c0 = cpu_dnnl_calls(cpu_of(be));
	be->ops->conv2d_fwd_train_h(be, g, x, w, b, y[1], saved, flags);
	be->ops->conv2d_bwd_h(be, g, x, dyb, w, saved, dw[1], db[1], dx[1], flags);
	unsigned long calls = cpu_dnnl_calls(cpu_of(be)) - c0;
	size_t bad_y = flags & DL_LINK_Y ? not_rounded(y[1], y[0], ny)
					 : !same(y[0], y[1], ny * sizeof(float));
	size_t bad_dx = flags & DL_LINK_X ? not_rounded(dx[1], dx[0], nx)
					  : !same(dx[0], dx[1], nx * sizeof(float));
	if (bad_y || bad_dx) {
		fprintf(stderr, "  %s: %dx%d %d->%d flags %d: %zu y, %zu dx wrong\n", t->name, g->h,
			g->w, g->c, g->k, flags, bad_y, bad_dx);
		t->failed = 1;
	}
	CHECK(same(dw[0], dw[1], nw * sizeof(float)));
	CHECK(same(db[0], db[1], (size_t)g->k * sizeof(float)));
	for (int k = 0; k < 2; k++) {
		be->ops->free(be, y[k]), be->ops->free(be, dx[k]);
		be->ops->free(be, dw[k]), be->ops->free(be, db[k]);
	}
	be->ops->free(be, dyb);
	be->ops->free(be, saved);
	free(xh), free(xf), free(w), free(b), free(dyh), free(dyf);
	return calls;
}

TEST(bf16_link_conv_ops)
{
	char why[160];
	if (!cpu_dnnl_bf16_support(why, sizeof why))
		SKIP(why);
	dl_backend *be = cpu_open_prec(2, "bf16", CPU_CONV_AUTO);
	/* direct bf16 kernels: 3x3, a strided 1x1 (resnet's shortcut), a
	 * strided 3x3, a 3-channel first layer: linked, every pass on oneDNN */
	dl_conv_geom gs[] = { geom(2, 8, 32, 48, 3, 1, 1), geom(2, 8, 32, 64, 1, 2, 0),
			      geom(2, 16, 64, 64, 3, 2, 1), geom(2, 16, 3, 64, 3, 1, 1) };
	for (size_t i = 0; i < sizeof gs / sizeof *gs; i++) {
		CHECK_INT(be->ops->conv2d_bf16_link(be, &gs[i], 1), 1);
		for (int flags = 1; flags <= (DL_LINK_X | DL_LINK_Y); flags++)
			CHECK_INT(conv_case(t, be, &gs[i], flags, 70 + 4 * i + flags), 3);
	}
	dl_err err;
	CHECK_INT(be->ops->error(be, &err), 0);
	/* 256 channels on 4x4 run fp32 Winograd: no link; im2col: none.  The
	 * fallbacks still do what the ops say for y and dy in bf16 */
	dl_conv_geom wg = geom(2, 4, 256, 256, 3, 1, 1);
	CHECK_INT(be->ops->conv2d_bf16_link(be, &wg, 0), 0);
	conv_case(t, be, &wg, DL_LINK_Y, 80);
	CHECK_INT(be->ops->error(be, &err), 0);
	cpu_of(be)->conv_mode = CPU_CONV_IM2COL;
	CHECK_INT(be->ops->conv2d_bf16_link(be, &gs[0], 1), 0);
	conv_case(t, be, &gs[0], DL_LINK_Y, 81);
	CHECK_INT(be->ops->error(be, &err), 0);
	dl_backend_close(be);
	be = cpu_open_prec(2, "fp32", CPU_CONV_AUTO);
	CHECK_INT(be->ops->conv2d_bf16_link(be, &gs[0], 1), 0);
	conv_case(t, be, &gs[1], DL_LINK_Y, 82);
	CHECK_INT(be->ops->error(be, &err), 0);
	/* a bf16 x has no fallback: the op records the fault and writes nothing */
	float *x = falloc(be, 2 * 8 * 8 * 32), *w = falloc(be, 48 * 9 * 32), *y = falloc(be, 1);
	y[0] = 7.0f;
	conv_reserve(be, &gs[0]);
	be->ops->conv2d_fwd_train_h(be, &gs[0], x, w, NULL, y, NULL, DL_LINK_X);
	CHECK(y[0] == 7.0f);
	CHECK_INT(be->ops->error(be, &err), DL_EFAIL);
	CHECK_STR_HAS(err.msg, "conv2d_fwd_train_h");
	be->ops->free(be, x), be->ops->free(be, w), be->ops->free(be, y);
	dl_backend_close(be);
}

static const char *SPEC =
	"input h=8 w=8 c=3\n"
	"conv2d filters=64 size=3 pad=1 bias=0\n"
	"batchnorm\n"
	"relu\n"
	"conv2d filters=64 size=3 pad=1 bias=0\n"
	"batchnorm\n"
	"relu name=r2\n"
	"conv2d filters=64 size=3 pad=1 bias=0\n"
	"batchnorm name=b3\n"
	"add from=b3,r2\n"
	"relu\n"
	"conv2d filters=32 size=1 stride=2 name=c4\n"
	"batchnorm name=b4\n"
	"batchnorm from=c4 name=b5\n"
	"add from=b4,b5\n"
	"conv2d filters=32 size=1\n"
	"gap\n"
	"dense units=5\n";

/* |a - b| / |b| over n values (Euclidean norms) */
static double rel_err(const float *a, const float *b, size_t n)
{
	double d = 0, s = 0;
	for (size_t i = 0; i < n; i++) {
		d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		s += (double)b[i] * b[i];
	}
	return s > 0 ? sqrt(d / s) : sqrt(d);
}

/* Links where a conv's only reader is a batch norm, and where a batch
 * norm's (through its fused relu) is a conv: conv, batch norm, conv, batch
 * norm in a chain; the third conv and its batch norm, whose relu is read
 * twice; not c4 (two batch norms read it) nor the last conv (gap reads
 * it).  Evaluation plans have no links.  Two training
 * steps (the second with an evaluation forward between its forward and
 * backward) against the same model in fp32: with links, outputs and
 * gradients stay as close to it as bf16 without links (within twice its
 * error, plus a margin), and are not the bits of the model without. */
TEST(bf16_link_model)
{
	char why[160];
	if (!cpu_dnnl_bf16_support(why, sizeof why))
		SKIP(why);
	dl_backend *be = cpu_open_prec(2, "bf16", CPU_CONV_AUTO);
	dl_backend *ref = cpu_open_prec(2, "fp32", CPU_CONV_AUTO);
	dl_model m[4];
	int batch = 4, flags[] = { DL_TEST_FOR_TRAINING, DL_TEST_FOR_TRAINING | DL_TEST_NO_LINK,
				   DL_TEST_FOR_TRAINING, 0 };
	int made = 0;
	while (made < 4 && !dl_test_model_ready(t, &m[made], made == 2 ? ref : be, SPEC, "link.spec",
						3, flags[made], batch))
		made++;
	if (made < 4)
		goto out;
	enum { X = DL_LINK_X, Y = DL_LINK_Y };
	int want[] = { Y, X | Y, 0, X | Y, X, 0, Y, X, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	for (int i = 0; i < m[0].nlayers && i < (int)(sizeof want / sizeof *want); i++) {
		if (m[0].layers[i].link != want[i] || m[1].layers[i].link || m[2].layers[i].link ||
		    m[3].layers[i].link) {
			fprintf(stderr, "  %s: layer %d link %d (expected %d), %d %d %d without\n",
				t->name, i, m[0].layers[i].link, want[i], m[1].layers[i].link,
				m[2].layers[i].link, m[3].layers[i].link);
			t->failed = 1;
		}
	}
	dl_rng r;
	dl_rng_seed(&r, 9);
	size_t nx = (size_t)batch * 8 * 8 * 3, nout = (size_t)batch * 5;
	for (int step = 0; step < 2; step++) {
		float *x = rand_range(&r, nx, -1, 1), *d = rand_range(&r, nout, -1, 1);
		float *x2 = rand_range(&r, nx, -1, 1);
		for (int k = 0; k < 3; k++) {
			dl_model_set_training(&m[k], 1);
			memcpy(m[k].x, x, nx * sizeof *x);
			dl_model_forward(&m[k], batch);
			CHECK_INT(m[k].layers[0].link_now, k == 0);
			if (step == 1) {
				dl_model_set_training(&m[k], 0);
				memcpy(m[k].x, x2, nx * sizeof *x);
				dl_model_forward(&m[k], batch);
				CHECK_INT(m[k].layers[0].link_now, 0);
				dl_model_set_training(&m[k], 1);
				memcpy(m[k].x, x, nx * sizeof *x);
				dl_model_forward(&m[k], batch);
			}
			memcpy(dl_model_doutput(&m[k]), d, nout * sizeof *d);
			dl_model_backward(&m[k], batch);
		}
		double eo[2], eg[2];
		for (int k = 0; k < 2; k++) {
			eo[k] = rel_err(dl_model_output(&m[k]), dl_model_output(&m[2]), nout);
			eg[k] = rel_err(m[k].grads, m[2].grads, m[0].nparams);
		}
		/* written so that a NaN fails */
		if (!(eo[0] <= 2 * eo[1] + 0.01 && eg[0] <= 2 * eg[1] + 0.01) ||
		    same(m[0].grads, m[1].grads, m[0].nparams * sizeof(float))) {
			fprintf(stderr, "  %s: step %d: off fp32 with links: output %.3g, gradients %.3g; "
				"without: %.3g, %.3g\n", t->name, step, eo[0], eg[0], eo[1], eg[1]);
			t->failed = 1;
		}
		if (getenv("DL_TEST_VERBOSE"))
			fprintf(stderr, "  %s: step %d: off fp32 with links %.3g %.3g, without %.3g %.3g\n",
				t->name, step, eo[0], eg[0], eo[1], eg[1]);
		free(x), free(x2), free(d);
	}
out:
	for (int k = 0; k < made; k++)
		dl_model_release(&m[k]);
	dl_backend_close(be);
	dl_backend_close(ref);
}
