/* Graph models: name=/from= wiring and its errors, the gradient routing
 * plan, the summary's from column, batch norm and dropout modes, and the
 * new CPU ops' thread-count independence. */
#include "test.h"
#include "model_test.h"

#include <stdint.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/rng.h"
#include "nn/model.h"

static void expect_error(dl_test_ctx *t, const char *spec, const char *n1, const char *n2)
{
	dl_model m;
	dl_err err = { 0 };
	int rc = dl_model_build(&m, spec, "g.spec", &err);
	CHECK_INT(rc, DL_EDATA);
	if (rc) {
		CHECK_STR_HAS(err.msg, n1);
		if (n2)
			CHECK_STR_HAS(err.msg, n2);
		CHECK(m.layers == NULL && m.nlayers == 0);
	} else {
		dl_model_release(&m);
	}
}

/* build + alloc + init + plan, or a failed check */
static int ready(dl_test_ctx *t, dl_model *m, dl_backend *be, const char *spec, int batch)
{
	return dl_test_model_ready(t, m, be, spec, "g.spec", 1, 0, batch);
}

TEST(model_graph_reference_errors)
{
	const char *head = "input h=4 w=4 c=2\n";
	char spec[512];
	snprintf(spec, sizeof spec, "%sconv2d filters=2 size=1 name=a\nadd from=a,b\nflatten\n"
		 "dense units=2\n", head);
	expect_error(t, spec, "g.spec:3:", "no layer is named 'b'");
	/* a forward reference names the line it points to */
	snprintf(spec, sizeof spec, "%sconv2d filters=2 size=1 name=a\nadd from=a,b\n"
		 "conv2d filters=2 size=1 name=b\nflatten\ndense units=2\n", head);
	expect_error(t, spec, "g.spec:3:", "'b' is on line 4");
	/* a layer cannot read itself */
	snprintf(spec, sizeof spec, "%sconv2d filters=2 size=1 name=a from=a\nflatten\n"
		 "dense units=2\n", head);
	expect_error(t, spec, "g.spec:2:", "'a' is on line 2");
	snprintf(spec, sizeof spec, "%sconv2d filters=2 size=1 name=a\nrelu name=a\nflatten\n"
		 "dense units=2\n", head);
	expect_error(t, spec, "g.spec:3:", "name=a is already used on line 2");
	expect_error(t, "input h=1 w=1 c=2\ndense units=2 name=input\n", "g.spec:2:", "reserved");
	expect_error(t, "input h=1 w=1 c=2\ndense units=2 name=a\nadd from=a,,a\n", "g.spec:3:",
		     "empty name");
	expect_error(t, "input h=1 w=1 c=2\ndense units=2 name=a\nadd from=a,\n", "g.spec:3:",
		     "empty name");
	expect_error(t, "input h=1 w=1 c=2\ndense units=2 name=a\nadd from=a,a,a,a,a\n",
		     "g.spec:3:", "at most 4 inputs");
	expect_error(t, "input h=1 w=1 c=2 name=x\ndense units=2\n", "g.spec:1:", "'name'");
}

TEST(model_graph_arity_and_shape_errors)
{
	expect_error(t, "input h=1 w=1 c=2\ndense units=2 name=a\ndense units=2 from=a,input\n",
		     "g.spec:3:", "dense takes one input");
	expect_error(t, "input h=1 w=1 c=2\ndense units=2 name=a\nadd from=a\n", "g.spec:3:",
		     "two or more inputs");
	expect_error(t, "input h=1 w=1 c=2\ndense units=2\nadd\n", "g.spec:3:",
		     "two or more inputs");
	/* add: shapes must match exactly */
	expect_error(t, "input h=4 w=4 c=2\nconv2d filters=3 size=1 name=a\n"
		     "conv2d filters=2 size=1 from=input name=b\nadd from=a,b\nflatten\ndense units=2\n",
		     "g.spec:4:", "input 2 is 4x4x2 but input 1 is 4x4x3");
	expect_error(t, "input h=4 w=4 c=2\nconv2d filters=2 size=1 stride=2 name=a\n"
		     "add from=a,input\nflatten\ndense units=2\n", "g.spec:3:", "equal shapes");
	/* concat: channels may differ, height and width may not */
	expect_error(t, "input h=4 w=4 c=2\nconv2d filters=2 size=3 name=a\n"
		     "concat from=input,a\nflatten\ndense units=2\n", "g.spec:3:",
		     "input 2 is 2x2 but input 1 is 4x4");
	/* a dead branch is a mistake */
	expect_error(t, "input h=1 w=1 c=2\ndense units=3 name=a\ndense units=3 from=input\n"
		     "dense units=2\n", "g.spec:2:", "never used");
	/* option values: commas only in values, other characters still refused */
	expect_error(t, "input h=1 w=1 c=2\ndense units=2 name=a\nadd from=a;input\n", "g.spec:3:",
		     "bad characters");
	expect_error(t, "input h=1 w=1 c=2\ndense units=2\ndropout p=1\n", "g.spec:3:", "p=1");
	expect_error(t, "input h=1 w=1 c=2\ndense units=2\nbatchnorm eps=0\n", "g.spec:3:",
		     "eps=0");
	expect_error(t, "input h=1 w=1 c=2\ndense units=2\nbatchnorm momentum=2\n", "g.spec:3:",
		     "momentum=2");
}

TEST(model_graph_wiring)
{
	dl_model m;
	dl_err err;
	int rc = dl_model_build(&m, "input h=4 w=4 c=2\n# stem\nconv2d filters=3 size=1 name=a\n"
				"conv2d filters=3 size=3 pad=same\nbatchnorm name=b\n"
				"concat from=a,b,input name=cat\nadd from=cat,cat\nflatten\n"
				"dense units=2\n", "g.spec", &err);
	CHECK_INT(rc, 0);
	if (rc)
		return;
	CHECK_INT(m.nlayers, 7);
	CHECK_INT(m.layers[1].in_from[0], 0);
	CHECK_INT(m.layers[3].nin, 3);
	CHECK_INT(m.layers[3].in_from[0], 0);
	CHECK_INT(m.layers[3].in_from[1], 2);
	CHECK_INT(m.layers[3].in_from[2], -1);
	CHECK_INT(m.layers[3].out.c, 8);
	CHECK_INT(m.layers[3].lineno, 6);
	CHECK_INT(m.layers[4].out.c, 8);
	CHECK_INT(m.nparams, 9 + 84 + 6 + 2 * 128 + 2);
	CHECK_INT(m.nbuffers, 6);
	/* the summary shows where each layer reads from, and its input row
	 * lines up with the others */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	dl_model_summary(&m, f);
	fclose(f);
	CHECK_STR_HAS(text, " 0,2,input ");
	CHECK_STR_HAS(text, " 3,3 ");
	CHECK_STR_HAS(text, "buffers (running statistics, not trained): 6");
	const char *in = strstr(text, "\n     input"), *l0 = strstr(text, "\n0    conv2d");
	CHECK(in && l0);
	if (in && l0) {
		const char *p = strstr(in, "(4, 4, 2)"), *q = strstr(l0, "(4, 4, 3)");
		CHECK(p && q && p - in == q - l0);
		CHECK(strchr(in + 1, '\n') - in == strchr(l0 + 1, '\n') - l0);
	}
	free(text);
	dl_model_release(&m);
}

/* The plan: the last consumer writes a shared output's gradient, earlier
 * ones go through scratch (acc); sequential models use none. */
TEST(model_graph_plan_routing)
{
	dl_backend *be = dl_test_cpu(1);
	dl_model m;
	if (ready(t, &m, be, "input h=1 w=1 c=3\ndense units=4 name=a\ndense units=4 name=b\n"
		  "add from=a,b\ndense units=2\n", 2)) {
		dl_backend_close(be);
		return;
	}
	/* add (layer 2) is the last consumer of a: it writes dy[0]; layer 1
	 * (dense b) reads a too and goes through gsum */
	CHECK(m.layers[2].dxs[0] == m.dy[0]);
	CHECK(m.layers[2].dxs[1] == m.dy[1]);
	CHECK(m.acc[2 * DL_LAYER_MAX_IN] == NULL);
	CHECK(m.acc[1 * DL_LAYER_MAX_IN] == m.dy[0]);
	CHECK(m.gsum != NULL && m.layers[1].dxs[0] == m.gsum);
	CHECK(m.layers[0].dxs[0] == NULL);   /* the model input needs no gradient */
	CHECK(m.layers[2].xs[0] == m.y[0] && m.layers[2].xs[1] == m.y[1]);
	dl_model_release(&m);
	if (!ready(t, &m, be, "input h=4 w=4 c=1\nconv2d filters=2 size=3\nrelu\nflatten\n"
		   "dense units=3\n", 2)) {
		CHECK(m.gsum == NULL);
		for (int i = 0; i < m.nlayers * DL_LAYER_MAX_IN; i++)
			CHECK(m.acc[i] == NULL);
		CHECK(m.layers[1].dxs[0] == m.dy[0]);
		dl_model_release(&m);
	}
	dl_backend_close(be);
}

static void fill(float *p, size_t n, uint64_t seed)
{
	dl_rng r;
	dl_rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++)
		p[i] = 2 * dl_rng_uniform(&r) - 1;
}

TEST(model_graph_dropout_masks)
{
	dl_backend *be = dl_test_cpu(2);
	dl_model m;
	if (ready(t, &m, be, "input h=1 w=1 c=1000\ndropout p=0.25\ndropout p=0.25\n", 4)) {
		dl_backend_close(be);
		return;
	}
	size_t n = 4000;
	for (size_t i = 0; i < n; i++)
		m.x[i] = 1.0f;
	/* evaluation mode (the default): identity */
	dl_model_forward(&m, 4);
	int same = 1;
	for (size_t i = 0; i < n; i++)
		same &= m.y[1][i] == 1.0f;
	CHECK(same);
	dl_model_set_training(&m, 1);
	m.run.seed = 9;
	dl_model_forward(&m, 4);
	size_t zero0 = 0, diff = 0, bad = 0;
	for (size_t i = 0; i < n; i++) {
		zero0 += m.y[0][i] == 0;
		bad += m.y[0][i] != 0 && m.y[0][i] != 1.0f / 0.75f;
		diff += (m.y[0][i] == 0) != (m.y[1][i] == 0 || m.y[0][i] == 0);
	}
	CHECK_INT(bad, 0);
	/* about p of them dropped (4000 draws: 1000 +- 27) */
	CHECK(zero0 > 880 && zero0 < 1120);
	/* the second layer's mask is not the first's */
	CHECK(diff > 500);
	float *first = malloc(n * sizeof *first);
	memcpy(first, m.y[0], n * sizeof *first);
	/* same step: same mask; next step: another one */
	dl_model_forward(&m, 4);
	CHECK(!memcmp(first, m.y[0], n * sizeof *first));
	m.run.step++;
	dl_model_forward(&m, 4);
	CHECK(memcmp(first, m.y[0], n * sizeof *first) != 0);
	/* backward applies the forward's mask to dy */
	float *d = dl_model_doutput(&m);
	for (size_t i = 0; i < n; i++)
		d[i] = 1.0f;
	dl_model_backward(&m, 4);   /* no parameters: nothing needs dx */
	free(first);
	dl_model_release(&m);
	dl_backend_close(be);
}

/* Batch norm: training normalises with the batch statistics and moves the
 * running ones by momentum; evaluation uses the running ones. */
TEST(model_graph_batchnorm_modes)
{
	dl_backend *be = dl_test_cpu(2);
	dl_model m;
	if (ready(t, &m, be, "input h=2 w=3 c=2\nbatchnorm momentum=0.5\nflatten\n", 2)) {
		dl_backend_close(be);
		return;
	}
	dl_layer *l = &m.layers[0];
	CHECK(l->p[0][0] == 1 && l->p[0][1] == 1 && l->p[1][0] == 0);
	CHECK(l->b[0][0] == 0 && l->b[1][1] == 1);
	/* channel 0: 0..11, channel 1: all 5 */
	for (int i = 0; i < 12; i++) {
		m.x[2 * i] = (float)i;
		m.x[2 * i + 1] = 5;
	}
	dl_model_forward(&m, 2);   /* eval, fresh stats: y = x / sqrt(1 + eps) */
	CHECK_NEAR(m.y[0][2 * 7], 7 / sqrt(1 + 1e-5), 1e-5);
	dl_model_set_training(&m, 1);
	dl_model_forward(&m, 2);
	double mean = 5.5, var = 143.0 / 12;   /* biased variance of 0..11 */
	CHECK_NEAR(m.y[0][2 * 7], (7 - mean) / sqrt(var + 1e-5), 1e-5);
	/* x * scale + shift, as PyTorch computes it: a constant channel
	 * gives about 0 (scale is 1/sqrt(eps)) */
	CHECK_NEAR(m.y[0][1], 0, 1e-3);
	CHECK_NEAR(l->b[0][0], 0.5 * mean, 1e-5);
	CHECK_NEAR(l->b[1][0], 0.5 + 0.5 * var * 12 / 11, 1e-4);
	CHECK_NEAR(l->b[0][1], 2.5, 1e-6);
	CHECK_NEAR(l->b[1][1], 0.5, 1e-6);
	dl_model_set_training(&m, 0);
	dl_model_forward(&m, 2);
	CHECK_NEAR(m.y[0][2 * 7], (7 - l->b[0][0]) / sqrt(l->b[1][0] + 1e-5), 1e-5);
	/* re-initialising resets the buffers */
	dl_err err;
	CHECK_INT(dl_model_init(&m, 2, &err), 0);
	CHECK(l->b[0][0] == 0 && l->b[1][0] == 1);
	dl_model_release(&m);
	dl_backend_close(be);
}

/* bn, dropout, axpby and copy2d give the same bits on 1 and 3 threads. */
TEST(model_graph_ops_thread_independent)
{
	dl_backend *b1 = dl_test_cpu(1), *b3 = dl_test_cpu(3);
	int rows = 3000, c = 70;
	size_t n = (size_t)rows * c;
	float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy);
	float *out[2][6];
	fill(x, n, 1);
	fill(dy, n, 2);
	float g[70], b[70];
	fill(g, 70, 3);
	fill(b, 70, 4);
	dl_backend *bes[2] = { b1, b3 };
	for (int k = 0; k < 2; k++) {
		dl_backend *be = bes[k];
		for (int i = 0; i < 6; i++)
			out[k][i] = calloc(n, sizeof(float));
		float *rm = out[k][5], *rv = out[k][5] + c, *sm = out[k][5] + 2 * c,
		      *si = out[k][5] + 3 * c, *dg = out[k][5] + 4 * c, *db = out[k][5] + 5 * c;
		for (int i = 0; i < c; i++)
			rv[i] = 1;
		be->ops->bn_fwd_train(be, rows, c, x, g, b, 1e-5f, 0.1f, rm, rv, sm, si, NULL, out[k][0]);
		be->ops->bn_bwd(be, rows, c, x, dy, g, sm, si, NULL, out[k][1], dg, db);
		be->ops->bn_fwd_infer(be, rows, c, x, g, b, rm, rv, 1e-5f, 0, out[k][2]);
		be->ops->dropout(be, n, x, out[k][3], 0.3f, 77);
		memcpy(out[k][4], dy, n * sizeof(float));
		be->ops->axpby(be, n, 0.5f, x, -2.0f, out[k][4]);
		be->ops->copy2d(be, rows, 30, x + 5, c, out[k][4] + 1, c, 1);
	}
	for (int i = 0; i < 6; i++)
		CHECK(!memcmp(out[0][i], out[1][i], n * sizeof(float)));
	/* spot values */
	CHECK_NEAR(out[0][4][0], 0.5 * x[0] - 2 * dy[0], 1e-6);
	CHECK_NEAR(out[0][4][1], 0.5 * x[1] - 2 * dy[1] + x[5], 1e-6);
	CHECK_NEAR(out[0][4][31], 0.5 * x[31] - 2 * dy[31], 1e-6);
	CHECK(out[0][3][0] == 0 || fabsf(out[0][3][0] - x[0] / 0.7f) < 1e-6f);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 6; i++)
			free(out[k][i]);
	free(x);
	free(dy);
	dl_backend_close(b1);
	dl_backend_close(b3);
}

/* The EXAMPLE of man/dl-model.5 builds (the page stays true to the code). */
TEST(model_graph_man_example_builds)
{
	const char *root = getenv("DL_ROOT") ? getenv("DL_ROOT") : ".";
	char path[600], line[256], spec[4096] = "";
	snprintf(path, sizeof path, "%s/man/dl-model.5", root);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	if (!f)
		return;
	int state = 0;   /* 0 before .SH EXAMPLE, 1 before .nf, 2 in it, 3 done */
	while (fgets(line, sizeof line, f) && state < 3) {
		if (state == 0 && !strncmp(line, ".SH EXAMPLE", 11))
			state = 1;
		else if (state == 1 && !strncmp(line, ".nf", 3))
			state = 2;
		else if (state == 2 && !strncmp(line, ".fi", 3))
			state = 3;
		else if (state == 2 && line[0] != '.')
			strncat(spec, line, sizeof spec - strlen(spec) - 1);
	}
	fclose(f);
	CHECK_INT(state, 3);
	dl_model m;
	dl_err err;
	int rc = dl_model_build(&m, spec, "dl-model.5", &err);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s: %s\n", t->name, err.msg);
		return;
	}
	CHECK_INT(m.layers[13].nin, 2);
	CHECK_INT(m.layers[13].out.c, 40);
	CHECK_INT(m.loss.kind, DL_LOSS_XENT);
	dl_model_release(&m);
}
