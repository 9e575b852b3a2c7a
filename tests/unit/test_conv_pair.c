/* The training pair of conv ops (ops.h conv2d_fwd_train, conv2d_bwd) on
 * the CPU backend: the same bits as conv2d_fwd, conv2d_bwd_filter and
 * conv2d_bwd_data, with the conversions it skips counted
 * (cpu_dnnl_reused: x from saved, dy converted once), in bf16 and on
 * Winograd; a saved that holds another x is not used; and a model planned
 * for training (dl_model.for_training) trains to the same bits as one
 * that is not. */
#include "test.h"
#include "model_test.h"

#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend_test.h"
#include "core/rng.h"
#include "nn/model.h"

static dl_backend *open_pair(const char *prec, int wino)
{
	dl_backend *be = cpu_open_prec(2, prec, CPU_CONV_AUTO);
	cpu_of(be)->conv_wino = wino;
	return be;
}

static int same(const float *a, const float *b, size_t n)
{
	return !memcmp(a, b, n * sizeof *a);
}

typedef struct conv_out {
	float *y, *dx, *dw, *db;
} conv_out;

/* y, dx, dw, db of one forward and backward: the plain ops (pair 0) or
 * the pair with a saved buffer; bwd_x is the x the backward is given
 * (x itself, or another to check that saved is not used for it).  dw and
 * db start from the same nonzero values (the ops add into them).
 * Returns the conversions the pair skipped. */
static unsigned long run(dl_backend *be, const dl_conv_geom *g, const float *x,
			 const float *bwd_x, const float *w, const float *b, const float *dy,
			 int pair, int want_dx, conv_out *o)
{
	size_t nw = (size_t)g->k * g->kh * g->kw * g->c;
	for (size_t i = 0; i < nw; i++)
		o->dw[i] = 0.25f;
	for (int i = 0; i < g->k; i++)
		o->db[i] = -0.5f;
	conv_reserve(be, g);
	unsigned long r0 = cpu_dnnl_reused(cpu_of(be));
	if (!pair) {
		be->ops->conv2d_fwd(be, g, x, w, b, o->y);
		be->ops->conv2d_bwd_filter(be, g, bwd_x, dy, o->dw, o->db);
		if (want_dx)
			be->ops->conv2d_bwd_data(be, g, dy, w, o->dx);
		return 0;
	}
	size_t ns = be->ops->conv2d_saved_floats(be, g, b != NULL);
	float *saved = ns ? falloc(be, ns) : NULL;
	be->ops->conv2d_fwd_train(be, g, x, w, b, o->y, saved);
	be->ops->conv2d_bwd(be, g, bwd_x, dy, w, saved, o->dw, o->db, want_dx ? o->dx : NULL);
	be->ops->free(be, saved);
	return cpu_dnnl_reused(cpu_of(be)) - r0;
}

static void out_alloc(conv_out *o, const dl_conv_geom *g)
{
	o->y = malloc((size_t)g->n * g->oh * g->ow * g->k * sizeof(float));
	o->dx = calloc((size_t)g->n * g->h * g->w * g->c, sizeof(float));
	o->dw = malloc((size_t)g->k * g->kh * g->kw * g->c * sizeof(float));
	o->db = malloc((size_t)g->k * sizeof(float));
	if (!o->y || !o->dx || !o->dw || !o->db)
		abort();
}

static void out_free(conv_out *o)
{
	free(o->y), free(o->dx), free(o->dw), free(o->db);
}

/* One geometry: the pair against the plain ops, with and without dx, and
 * with a different x in the backward; `reuse` is the skipped conversions
 * expected of a full pair (2: x and dy; 0 where nothing is converted). */
static void check_geom(dl_test_ctx *t, dl_backend *be, const dl_conv_geom *g, int reuse,
		       uint64_t seed)
{
	size_t nx = (size_t)g->n * g->h * g->w * g->c, ny = (size_t)g->n * g->oh * g->ow * g->k;
	size_t nw = (size_t)g->k * g->kh * g->kw * g->c;
	dl_rng r;
	dl_rng_seed(&r, seed);
	float *x = rand_floats(&r, nx), *x2 = rand_floats(&r, nx), *w = rand_floats(&r, nw);
	float *b = rand_floats(&r, (size_t)g->k), *dy = rand_floats(&r, ny);
	conv_out p, q;
	out_alloc(&p, g);
	out_alloc(&q, g);
	for (int v = 0; v < 3; v++) {
		/* v 0: the full pair; 1: no dx; 2: the backward on x2 */
		const float *bx = v == 2 ? x2 : x;
		run(be, g, x, bx, w, b, dy, 0, v != 1, &p);
		unsigned long got = run(be, g, x, bx, w, b, dy, 1, v != 1, &q);
		CHECK(same(p.y, q.y, ny));
		CHECK(same(p.dw, q.dw, nw));
		CHECK(same(p.db, q.db, (size_t)g->k));
		CHECK(v == 1 || same(p.dx, q.dx, nx));
		/* no dx: only x comes from saved; x2: only dy is shared */
		unsigned long want = reuse == 0 ? 0 : v == 0 ? 2 : 1;
		if (got != want) {
			fprintf(stderr, "  %s: %dx%d %d->%d case %d: %lu conversions skipped, expected %lu\n",
				t->name, g->h, g->w, g->c, g->k, v, got, want);
			t->failed = 1;
		}
	}
	out_free(&p);
	out_free(&q);
	free(x), free(x2), free(w), free(b), free(dy);
}

static dl_conv_geom geom(int n, int hw, int c, int k, int ks, int s, int p)
{
	int o = (hw + 2 * p - ks) / s + 1;
	return (dl_conv_geom){ .n = n, .h = hw, .w = hw, .c = c, .k = k, .kh = ks, .kw = ks,
			       .sh = s, .sw = s, .pt = p, .pl = p, .pb = p, .pr = p,
			       .oh = o, .ow = o, .dh = 1, .dw = 1, .groups = 1 };
}

TEST(conv_pair_winograd_fp32)
{
	if (!cpu_dnnl_available())
		SKIP("built without oneDNN");
	dl_backend *be = open_pair("fp32", 1);
	dl_conv_geom g = geom(2, 8, 64, 64, 3, 1, 1);
	unsigned long w0 = cpu_dnnl_wino_calls(cpu_of(be));
	check_geom(t, be, &g, 2, 41);
	CHECK(cpu_dnnl_wino_calls(cpu_of(be)) > w0);
	/* fp32 without Winograd reads x in place: nothing saved or skipped */
	cpu_of(be)->conv_wino = 0;
	dl_conv_geom d = geom(2, 8, 32, 48, 3, 1, 1);
	CHECK_INT(be->ops->conv2d_saved_floats(be, &d, 1), 0);
	check_geom(t, be, &d, 0, 42);
	dl_backend_close(be);
}

TEST(conv_pair_bf16)
{
	char why[160];
	if (!cpu_dnnl_bf16_support(why, sizeof why))
		SKIP(why);
	dl_backend *be = open_pair("bf16", -1);
	/* direct bf16 kernels: 3x3, a strided 1x1 (resnet's shortcut), a 3-channel first layer */
	dl_conv_geom gs[] = { geom(2, 8, 32, 48, 3, 1, 1), geom(2, 8, 32, 64, 1, 2, 0),
			      geom(2, 16, 3, 64, 3, 1, 1) };
	for (size_t i = 0; i < sizeof gs / sizeof *gs; i++) {
		CHECK(be->ops->conv2d_saved_floats(be, &gs[i], 1) > 0);
		check_geom(t, be, &gs[i], 2, 50 + i);
	}
	/* 256 channels on 4x4: fp32 Winograd inside a bf16 run */
	dl_conv_geom wg = geom(2, 4, 256, 256, 3, 1, 1);
	unsigned long w0 = cpu_dnnl_wino_calls(cpu_of(be));
	check_geom(t, be, &wg, 2, 60);
	CHECK(cpu_dnnl_wino_calls(cpu_of(be)) > w0);
	dl_backend_close(be);
}

static const char *SPEC =
	"input h=8 w=8 c=3\n"
	"conv2d filters=64 size=3 pad=1 bias=0 name=c1\n"
	"batchnorm\n"
	"relu name=r1\n"
	"conv2d filters=64 size=3 pad=1 bias=0\n"
	"batchnorm name=b2\n"
	"add from=b2,r1\n"
	"relu\n"
	"conv2d filters=32 size=1 stride=2\n"
	"gap\n"
	"dense units=5\n";

static int ready(dl_test_ctx *t, dl_model *m, dl_backend *be, int for_training, int batch)
{
	/* no bf16 links (test_bf16_link.c): their rounding is not the pair's */
	return dl_test_model_ready(t, m, be, SPEC, "pair.spec", 3,
				   for_training ? DL_TEST_FOR_TRAINING | DL_TEST_NO_LINK : 0, batch);
}

/* Training steps of a model planned for training and one that is not:
 * the same bits of outputs and gradients, the convolutions' inputs taken
 * from saved.  The second step runs an evaluation forward on other data
 * between its forward and backward: the backward then must not take the
 * training forward's conversions (layer.h saved_fresh). */
static void model_same_bits(dl_test_ctx *t, dl_backend *be)
{
	dl_model m[2];
	int batch = 4;
	if (ready(t, &m[0], be, 1, batch))
		return;
	if (ready(t, &m[1], be, 0, batch)) {
		dl_model_release(&m[0]);
		return;
	}
	CHECK(m[0].layers[0].nsaved > 0 && m[0].layers[0].saved);
	CHECK(m[1].layers[0].nsaved == 0 && !m[1].layers[0].saved);
	dl_rng r;
	dl_rng_seed(&r, 7);
	size_t nx = (size_t)batch * 8 * 8 * 3, nout = (size_t)batch * 5;
	unsigned long r0 = cpu_dnnl_reused(cpu_of(be));
	for (int step = 0; step < 2; step++) {
		float *x = rand_range(&r, nx, -1, 1), *d = rand_range(&r, nout, -1, 1);
		float *x2 = rand_range(&r, nx, -1, 1);
		for (int k = 0; k < 2; k++) {
			dl_model_set_training(&m[k], 1);
			memcpy(m[k].x, x, nx * sizeof *x);
			dl_model_forward(&m[k], batch);
			if (step == 1) {
				dl_model_set_training(&m[k], 0);
				memcpy(m[k].x, x2, nx * sizeof *x);
				dl_model_forward(&m[k], batch);
				dl_model_set_training(&m[k], 1);
			}
			memcpy(dl_model_doutput(&m[k]), d, nout * sizeof *d);
			dl_model_backward(&m[k], batch);
		}
		free(x2);
		CHECK(same(dl_model_output(&m[0]), dl_model_output(&m[1]), nout));
		CHECK(same(m[0].grads, m[1].grads, m[0].nparams));
		free(x);
		free(d);
	}
	CHECK(cpu_dnnl_reused(cpu_of(be)) > r0);
	dl_model_release(&m[0]);
	dl_model_release(&m[1]);
}

TEST(conv_pair_model_same_bits)
{
	if (!cpu_dnnl_available())
		SKIP("built without oneDNN");
	dl_backend *be = open_pair("fp32", 1);
	model_same_bits(t, be);
	dl_backend_close(be);
	char why[160];
	if (!cpu_dnnl_bf16_support(why, sizeof why))
		return;
	be = open_pair("bf16", -1);
	model_same_bits(t, be);
	dl_backend_close(be);
}
