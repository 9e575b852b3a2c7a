/* The issue-5 layers and losses against PyTorch, and their spec errors.
 *
 * torch_reference: for each case a one- or two-layer model built from spec
 * text runs forward on random inputs and backward from a random output
 * gradient (the layer's own backward, so dx is there too); the inputs,
 * parameters (PyTorch layout, via the kind's to_torch), outputs and
 * gradients go into one safetensors file with the equivalent torch module
 * as text.  Losses go through dl_loss_apply.  tests/torch/check_layers.py
 * recomputes everything in float64 with torch 1.13 and fails on any
 * difference over 1e-4 relative (max |ours - torch| <= 1e-4 * max(1,
 * max |torch|)).  No torch: the test fails, it does not skip. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/rng.h"
#include "io/safetensors.h"
#include "nn/layers/act.h"
#include "nn/loss.h"
#include "nn/model.h"

typedef struct tcase {
	const char *name, *spec, *torch;
} tcase;

static const tcase cases[] = {
	{ "conv_dil2", "input h=9 w=8 c=3\nconv2d filters=4 size=3 dilation=2 pad=same\n",
	  "nn.Conv2d(3, 4, 3, padding=2, dilation=2)" },
	{ "conv_groups2", "input h=7 w=7 c=4\nconv2d filters=6 size=3 groups=2 stride=2 pad=1\n",
	  "nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)" },
	{ "conv_depthwise", "input h=8 w=6 c=5\nconv2d filters=5 size=3 groups=5 pad=same bias=0\n",
	  "nn.Conv2d(5, 5, 3, padding=1, groups=5, bias=False)" },
	{ "conv_dw_mult2_dil", "input h=10 w=10 c=3\nconv2d filters=6 size=3 groups=3 dilation=3 pad=2\n",
	  "nn.Conv2d(3, 6, 3, padding=2, dilation=3, groups=3)" },
	{ "maxpool_pad", "input h=7 w=8 c=3\nmaxpool size=3 stride=2 pad=1\n",
	  "nn.MaxPool2d(3, stride=2, padding=1)" },
	{ "avgpool_pad", "input h=7 w=8 c=3\navgpool size=3 stride=2 pad=1\n",
	  "nn.AvgPool2d(3, stride=2, padding=1)" },
	{ "avgpool2", "input h=6 w=7 c=2\navgpool\n", "nn.AvgPool2d(2)" },
	{ "gap", "input h=5 w=6 c=4\ngap\n", "nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())" },
	{ "relu", "input h=3 w=4 c=5\nrelu\n", "nn.ReLU()" },
	{ "leaky_relu", "input h=3 w=4 c=5\nleaky_relu\n", "nn.LeakyReLU()" },
	{ "leaky_relu_03", "input h=3 w=4 c=5\nleaky_relu slope=0.3\n", "nn.LeakyReLU(0.3)" },
	{ "tanh", "input h=3 w=4 c=5\ntanh\n", "nn.Tanh()" },
	{ "sigmoid", "input h=3 w=4 c=5\nsigmoid\n", "nn.Sigmoid()" },
	{ "gelu", "input h=3 w=4 c=5\ngelu\n", "nn.GELU()" },
	{ "hardswish", "input h=3 w=4 c=5\nhardswish\n", "nn.Hardswish()" },
};

enum { NB = 3, MAXT = 12 };

/* Owned host copies of what goes into the file. */
typedef struct tfile {
	dl_st_writer w;
	float *keep[256];
	int nkeep;
	char names[256][64];
	int nnames;
} tfile;

static const char *tname(tfile *f, const char *a, const char *b)
{
	snprintf(f->names[f->nnames], sizeof f->names[0], "%s/%s", a, b);
	return f->names[f->nnames++];
}

static void add(dl_test_ctx *t, tfile *f, const char *cs, const char *what, const float *src,
		int ndim, const int64_t *shape)
{
	size_t cnt = 1;
	for (int i = 0; i < ndim; i++)
		cnt *= (size_t)shape[i];
	float *c = malloc((cnt ? cnt : 1) * sizeof *c);
	memcpy(c, src, cnt * sizeof *c);
	f->keep[f->nkeep++] = c;
	dl_err err;
	int rc = dl_st_add(&f->w, tname(f, cs, what), DL_F32, ndim, shape, c, &err);
	CHECK_INT(rc, 0);
}

static void add_shape(dl_test_ctx *t, tfile *f, const char *cs, const char *what,
		      const float *src, int n, dl_shape s)
{
	int64_t sh[4] = { n, s.h, s.w, s.c };
	add(t, f, cs, what, src, 4, sh);
}

static void layer_case(dl_test_ctx *t, tfile *f, dl_backend *be, const tcase *c, uint64_t seed)
{
	dl_model m;
	dl_err err;
	char spec[512];
	/* a model's output must be flat: flatten aliases the layer's output */
	snprintf(spec, sizeof spec, "%sflatten\n", c->spec);
	int rc = dl_model_build(&m, spec, c->name, &err);
	if (!rc)
		rc = dl_model_alloc(&m, be, &err);
	if (!rc)
		rc = dl_model_init(&m, seed, &err);
	if (!rc)
		rc = dl_model_plan(&m, NB, &err);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s: %s\n", c->name, err.msg);
		return;
	}
	dl_rng r;
	dl_rng_seed(&r, seed);
	dl_layer *l = &m.layers[0];
	size_t nin = dl_shape_size(m.input) * NB, nout = dl_shape_size(l->out) * NB;
	for (size_t i = 0; i < nin; i++)
		m.x[i] = 4 * dl_rng_uniform(&r) - 2;
	dl_model_forward(&m, NB);
	float *dy = dl_model_doutput(&m), *dx = malloc(nin * sizeof *dx);
	for (size_t i = 0; i < nout; i++)
		dy[i] = 2 * dl_rng_uniform(&r) - 1;
	be->ops->zero(be, m.grads, m.nparams * sizeof(float));
	l->kind->backward(l, be, NB, m.x, dl_model_output(&m), dy, dx);
	add_shape(t, f, c->name, "x", m.x, NB, m.input);
	add_shape(t, f, c->name, "y", dl_model_output(&m), NB, l->out);
	add_shape(t, f, c->name, "dy", dy, NB, l->out);
	add_shape(t, f, c->name, "dx", dx, NB, m.input);
	for (int p = 0; p < l->nparam; p++) {
		const dl_param *pp = &l->param[p];
		float *tp = malloc(pp->count * sizeof *tp), *tg = malloc(pp->count * sizeof *tg);
		int64_t shape[4];
		int ndim = pp->ndim;
		if (l->kind->to_torch) {
			l->kind->to_torch(l, p, l->p[p], tp, shape, &ndim);
			l->kind->to_torch(l, p, l->g[p], tg, shape, &ndim);
		} else {
			memcpy(tp, l->p[p], pp->count * sizeof *tp);
			memcpy(tg, l->g[p], pp->count * sizeof *tg);
			memcpy(shape, pp->shape, sizeof shape);
		}
		char what[16];
		snprintf(what, sizeof what, "p%d", p);
		add(t, f, c->name, what, tp, ndim, shape);
		snprintf(what, sizeof what, "g%d", p);
		add(t, f, c->name, what, tg, ndim, shape);
		free(tp);
		free(tg);
	}
	free(dx);
	dl_model_release(&m);
}

/* xent with smoothing 0.1, mse, huber delta 0.5 with errors both sides */
static void loss_case(dl_test_ctx *t, tfile *f, dl_backend *be, const char *name,
		      const char *line, uint64_t seed)
{
	enum { N = 6, K = 5 };
	dl_spec sp;
	dl_loss loss;
	dl_err err;
	int rc = dl_spec_parse(&sp, line, name, &err);
	if (!rc)
		rc = dl_loss_parse(&loss, &sp.lines[0], &err);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s: %s\n", name, err.msg);
		return;
	}
	dl_rng r;
	dl_rng_seed(&r, seed);
	float z[N * K], tg[N * K], d[N * K], st[DL_LOSS_NSTATS] = { 0, 0, 0 }, lab[N];
	int32_t labels[N];
	for (int i = 0; i < N * K; i++) {
		z[i] = 6 * dl_rng_uniform(&r) - 3;
		tg[i] = 2 * dl_rng_uniform(&r) - 1;
	}
	for (int i = 0; i < N; i++) {
		labels[i] = (int32_t)dl_rng_below(&r, K);
		lab[i] = (float)labels[i];
	}
	dl_loss_apply(&loss, be, N, K, z, labels, tg, 1.0f, d, st);
	int64_t s2[2] = { N, K }, s1[1] = { N }, s3[1] = { DL_LOSS_NSTATS };
	add(t, f, name, "z", z, 2, s2);
	add(t, f, name, "t", tg, 2, s2);
	add(t, f, name, "labels", lab, 1, s1);
	add(t, f, name, "dz", d, 2, s2);
	add(t, f, name, "stats", st, 1, s3);
	dl_spec_release(&sp);
}

TEST(torch_reference_layers_losses)
{
	dl_backend *be = NULL;
	dl_err err;
	CHECK_INT(dl_backend_cpu_open(&be, 2, &err), 0);
	if (!be)
		return;
	tfile *f = calloc(1, sizeof *f);
	dl_st_writer_init(&f->w);
	char list[2048] = "";
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		layer_case(t, f, be, &cases[i], 600 + i);
		dl_st_add_meta(&f->w, tname(f, cases[i].name, "torch"), cases[i].torch, &err);
		strcat(list, cases[i].name);
		strcat(list, " ");
	}
	loss_case(t, f, be, "loss_xent_s01", "loss kind=xent smoothing=0.1\n", 700);
	loss_case(t, f, be, "loss_mse", "loss kind=mse\n", 701);
	loss_case(t, f, be, "loss_huber_05", "loss kind=huber delta=0.5\n", 702);
	strcat(list, "loss_xent_s01 loss_mse loss_huber_05");
	dl_st_add_meta(&f->w, "cases", list, &err);
	char path[512], cmd[2048];
	snprintf(path, sizeof path, "%s/torch_layers2.safetensors", dl_test_tmpdir());
	int rc = dl_st_write(&f->w, path, &err);
	CHECK_INT(rc, 0);
	const char *py = getenv("PYTHON"), *root = getenv("DL_ROOT");
	snprintf(cmd, sizeof cmd, "OMP_WAIT_POLICY=PASSIVE '%s' '%s/tests/torch/check_layers.py' '%s' >&2",
		 py ? py : "/usr/bin/python3", root ? root : ".", path);
	if (!rc) {
		int st = system(cmd);
		if (st != 0)
			fprintf(stderr, "  %s: %s exited with status %d\n", t->name, cmd, st);
		CHECK_INT(st, 0);
	}
	dl_st_writer_release(&f->w);
	for (int i = 0; i < f->nkeep; i++)
		free(f->keep[i]);
	free(f);
	dl_backend_close(be);
}

/* ---- spec errors -------------------------------------------------------------- */

static void expect_error(dl_test_ctx *t, const char *spec, const char *where, const char *what)
{
	dl_model m;
	dl_err err;
	int rc = dl_model_build(&m, spec, "t.spec", &err);
	CHECK_INT(rc, DL_EDATA);
	if (rc == 0) {
		dl_model_release(&m);
		return;
	}
	CHECK_STR_HAS(err.msg, where);
	CHECK_STR_HAS(err.msg, what);
}

TEST(layers2_spec_errors)
{
	expect_error(t, "input h=6 w=6 c=3\nconv2d filters=4 size=3 groups=2\n", "t.spec:2:",
		     "groups=2 must divide");
	expect_error(t, "input h=6 w=6 c=4\nconv2d filters=3 size=3 groups=2\n", "t.spec:2:",
		     "groups=2 must divide");
	expect_error(t, "input h=6 w=6 c=1\nconv2d filters=2 size=3 dilation=3\n", "t.spec:2:",
		     "does not fit");
	expect_error(t, "input h=6 w=6 c=1\nconv2d filters=2 size=3 dilation=0\n", "t.spec:2:",
		     "dilation");
	expect_error(t, "input h=6 w=6 c=1\navgpool size=2 pad=2\n", "t.spec:2:", "pad");
	expect_error(t, "input h=6 w=6 c=1\nmaxpool size=3 pad=2\n", "t.spec:2:", "pad");
	expect_error(t, "input h=2 w=2 c=1\navgpool size=3\n", "t.spec:2:", "does not fit");
	expect_error(t, "input h=4 w=4 c=1\nleaky_relu slope=x\n", "t.spec:2:", "slope");
	expect_error(t, "input h=4 w=4 c=1\ntanh slope=0.1\n", "t.spec:2:", "'slope'");
	expect_error(t, "input h=4 w=4 c=1\ngap size=2\n", "t.spec:2:", "'size'");
}

/* shapes: pad=same keeps the size under dilation; gap is flat so dense
 * follows it directly; groups shrink the weight */
TEST(layers2_shapes)
{
	dl_model m;
	dl_err err;
	int rc = dl_model_build(&m, "input h=9 w=7 c=4\nconv2d filters=8 size=3 dilation=2 pad=same "
				"groups=4\nleaky_relu slope=0.2\navgpool size=3 stride=2 pad=1\ngap\n"
				"dense units=3\n", "t.spec", &err);
	CHECK_INT(rc, 0);
	if (rc)
		return;
	CHECK_INT(m.layers[0].out.h, 9);
	CHECK_INT(m.layers[0].out.w, 7);
	CHECK_INT(m.layers[0].param[0].shape[3], 1);
	CHECK_INT(m.layers[0].param[0].count, 8 * 3 * 3 * 1);
	CHECK_NEAR(dl_act_opts_of(&m.layers[1])->slope, 0.2, 1e-7);
	CHECK_INT(m.layers[2].out.h, 5);
	CHECK_INT(m.layers[2].out.w, 4);
	CHECK_INT(m.layers[3].out.h, 1);
	CHECK_INT(m.layers[3].out.c, 8);
	CHECK_INT(m.layers[4].param[0].shape[1], 8);
	dl_model_release(&m);
}
