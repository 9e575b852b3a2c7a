/* Models: the spec parser's errors, built-in parameter totals, the
 * activation plan (flatten in the middle), seeded initialisation. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "nn/model.h"

/* Builds spec (named "t.spec"); expects failure with code and every
 * needle in the message. */
static void expect_error(dl_test_ctx *t, const char *spec, int code, const char *n1,
			 const char *n2)
{
	dl_model m;
	dl_err err = { 0 };
	int rc = dl_model_build(&m, spec, "t.spec", &err);
	CHECK_INT(rc, code);
	if (rc) {
		CHECK_INT(err.code, code);
		CHECK_STR_HAS(err.msg, n1);
		if (n2)
			CHECK_STR_HAS(err.msg, n2);
		/* a failed build leaves a released (zeroed) model */
		CHECK(m.layers == NULL && m.nlayers == 0 && m.spec_text == NULL);
	} else {
		dl_model_release(&m);
	}
}

static int build(dl_test_ctx *t, dl_model *m, const char *spec)
{
	dl_err err;
	int rc = dl_model_build(m, spec, "t.spec", &err);
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  %s: %s\n", t->name, err.msg);
	return rc;
}

TEST(model_spec_unknown_layer)
{
	expect_error(t, "input h=4 w=4 c=1\nflatten\nfoo units=3\n", DL_EDATA, "t.spec:3:",
		     "unknown layer 'foo'");
	/* the message lists what is known */
	expect_error(t, "input h=4 w=4 c=1\nflaten\ndense units=3\n", DL_EDATA, "t.spec:2:",
		     "conv2d, dense, flatten, maxpool, relu");
	/* input is only the first line */
	expect_error(t, "input h=4 w=4 c=1\ninput h=4 w=4 c=1\nflatten\ndense units=3\n",
		     DL_EDATA, "t.spec:2:", "'input'");
}

TEST(model_spec_unknown_option)
{
	expect_error(t, "input h=4 w=4 c=1\nflatten\ndense units=3 bogus=1\n", DL_EDATA,
		     "t.spec:3:", "'bogus'");
	expect_error(t, "input h=4 w=4 c=1\nflatten x=1\ndense units=3\n", DL_EDATA, "t.spec:2:",
		     "'x'");
	expect_error(t, "input h=4 w=4 c=1 d=2\nflatten\ndense units=3\n", DL_EDATA,
		     "t.spec:1:", "'d'");
	expect_error(t, "input h=6 w=6 c=1\nconv2d filters=2 size=3 padding=same\nflatten\n"
		     "dense units=3\n", DL_EDATA, "t.spec:2:", "'padding'");
	expect_error(t, "input h=6 w=6 c=1\nrelu inplace=1\nflatten\ndense units=3\n", DL_EDATA,
		     "t.spec:2:", "'inplace'");
	expect_error(t, "input h=6 w=6 c=1\nmaxpool size=2 padding=1\nflatten\ndense units=3\n",
		     DL_EDATA, "t.spec:2:", "'padding'");
}

TEST(model_spec_missing_and_bad_values)
{
	expect_error(t, "input h=4 w=4 c=1\nflatten\ndense bias=0\n", DL_EDATA, "t.spec:3:",
		     "'units' is required");
	expect_error(t, "input h=4 c=1\nflatten\ndense units=3\n", DL_EDATA, "t.spec:1:",
		     "'w' is required");
	expect_error(t, "input h=6 w=6 c=1\nconv2d size=3\nflatten\ndense units=3\n", DL_EDATA,
		     "t.spec:2:", "'filters' is required");
	const char *bad[] = { "abc", "3x", "0", "-1", "1.5", "99999999999", "0x10", "" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char spec[128];
		snprintf(spec, sizeof spec, "input h=4 w=4 c=1\nflatten\ndense units=%s\n", bad[i]);
		/* "units=" alone is not key=value */
		expect_error(t, spec, DL_EDATA, "t.spec:3:", bad[i][0] ? "expected an integer"
			     : "expected key=value");
	}
	expect_error(t, "input h=4 w=4 c=1\nflatten\ndense units=3 bias=2\n", DL_EDATA,
		     "t.spec:3:", "bias=2");
	expect_error(t, "input h=4 w=4 c=1\nflatten\ndense units\n", DL_EDATA, "t.spec:3:",
		     "expected key=value");
	expect_error(t, "input h=4 w=4 c=1\nflatten\ndense units=3;\n", DL_EDATA, "t.spec:3:",
		     "bad characters");
	expect_error(t, "input h=6 w=6 c=1\nconv2d filters=2 size=3 pad=wide\nflatten\n"
		     "dense units=3\n", DL_EDATA, "t.spec:2:", "pad=wide");
	expect_error(t, "input h=6 w=6 c=1\nconv2d filters=2 size=4 pad=same\nflatten\n"
		     "dense units=3\n", DL_EDATA, "t.spec:2:", "pad=same");
	expect_error(t, "input h=6 w=6 c=1\nconv2d filters=2 size=3 stride=2 pad=same\nflatten\n"
		     "dense units=3\n", DL_EDATA, "t.spec:2:", "pad=same");
}

TEST(model_spec_option_twice)
{
	expect_error(t, "input h=4 w=4 c=1\nflatten\ndense units=3 units=4\n", DL_EDATA,
		     "t.spec:3:", "'units' given twice");
}

TEST(model_spec_structure)
{
	expect_error(t, "flatten\ndense units=3\n", DL_EDATA, "t.spec:1:",
		     "first line must be 'input");
	expect_error(t, "# only a comment\n\n", DL_EDATA, "t.spec", "empty");
	expect_error(t, "", DL_EDATA, "t.spec", "empty");
	expect_error(t, "input h=4 w=4 c=1\n", DL_EDATA, "t.spec", "no layers");
	expect_error(t, "input h=4 w=4 c=1\ndense units=3\n", DL_EDATA, "t.spec:2:",
		     "add 'flatten'");
	expect_error(t, "input h=6 w=6 c=1\nconv2d filters=2 size=3\nrelu\n", DL_EDATA, "t.spec",
		     "flat output");
	expect_error(t, "input h=4 w=4 c=1\nconv2d filters=2 size=5\nflatten\ndense units=2\n",
		     DL_EDATA, "t.spec:2:", "does not fit");
	expect_error(t, "input h=4 w=9 c=1\nconv2d filters=2 size=5\nflatten\ndense units=2\n",
		     DL_EDATA, "t.spec:2:", "does not fit");
	expect_error(t, "input h=4 w=4 c=1\nmaxpool size=5\nflatten\ndense units=2\n", DL_EDATA,
		     "t.spec:2:", "does not fit");
	/* size 5 fits a 4x4 input once padded by 1 */
	dl_model m;
	if (!build(t, &m, "input h=4 w=4 c=1\nconv2d filters=2 size=5 pad=1\nflatten\n"
		   "dense units=2\n")) {
		CHECK_INT(m.layers[0].out.h, 2);
		CHECK_INT(m.layers[0].out.w, 2);
		dl_model_release(&m);
	}
}

TEST(model_spec_comments_and_blank_lines)
{
	dl_model m;
	const char *spec = "# a model\n\n   \ninput h=4 w=6 c=2   # the input\r\n\t\n"
			   "  flatten  \n# between\ndense units=3 bias=0 # trailing\n\n";
	if (!build(t, &m, spec)) {
		CHECK_INT(m.nlayers, 2);
		CHECK_INT(m.input.h, 4);
		CHECK_INT(m.input.w, 6);
		CHECK_INT(m.input.c, 2);
		CHECK_INT(m.layers[1].out.c, 3);
		CHECK_INT(m.layers[1].nparam, 1);
		CHECK_INT(m.nparams, 48 * 3);
		CHECK_INT(m.layers[1].lineno, 8);
		CHECK(!strcmp(m.spec_text, spec));
		dl_model_release(&m);
	}
	/* line numbers count the comments and blank lines */
	expect_error(t, "\n# c\ninput h=4 w=4 c=1\n\nflatten\ndense units=3 oops=1\n", DL_EDATA,
		     "t.spec:6:", "'oops'");
}

static void check_builtin(dl_test_ctx *t, const char *name, size_t total, int nlayers)
{
	dl_model m;
	dl_err err;
	int rc = dl_model_load(&m, name, &err);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s: %s\n", t->name, err.msg);
		return;
	}
	CHECK_INT(m.nparams, total);
	CHECK_INT(m.nlayers, nlayers);
	CHECK_INT(dl_model_output_shape(&m).c, 10);
	/* parameters are laid out one after another */
	size_t off = 0;
	for (int i = 0; i < m.nlayers; i++)
		for (int p = 0; p < m.layers[i].nparam; p++) {
			CHECK_INT(m.layers[i].param[p].offset, off);
			off += m.layers[i].param[p].count;
		}
	CHECK_INT(off, total);
	dl_model_release(&m);
}

TEST(model_builtin_totals)
{
	check_builtin(t, "perceptron", 7850, 2);
	check_builtin(t, "mlp", 118282, 6);
	check_builtin(t, "lenet", 1256080, 10);
}

TEST(model_builtin_lenet_summary)
{
	dl_model m;
	dl_err err;
	if (dl_model_load(&m, "lenet", &err)) {
		CHECK(0);
		return;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	dl_model_summary(&m, f);
	fclose(f);
	CHECK_STR_HAS(text, "total params: 1,256,080");
	CHECK_STR_HAS(text, "(14, 14, 20)");
	CHECK_STR_HAS(text, "(2450)");
	free(text);
	dl_model_release(&m);
}

TEST(model_load_errors)
{
	dl_model m;
	dl_err err;
	int rc = dl_model_load(&m, "lenet5", &err);
	CHECK_INT(rc, DL_EUSAGE);
	CHECK_STR_HAS(err.msg, "unknown model 'lenet5'");
	CHECK_STR_HAS(err.msg, "lenet");
	char path[512];
	snprintf(path, sizeof path, "%s/missing.spec", dl_test_tmpdir());
	CHECK_INT(dl_model_load(&m, path, &err), DL_EIO);
	CHECK_STR_HAS(err.msg, path);
	/* a spec file: errors name the file and line */
	snprintf(path, sizeof path, "%s/m.spec", dl_test_tmpdir());
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("input h=3 w=3 c=1\nflatten\ndense units=2 nope=1\n", f);
	fclose(f);
	CHECK_INT(dl_model_load(&m, path, &err), DL_EDATA);
	char want[600];
	snprintf(want, sizeof want, "%s:3:", path);
	CHECK_STR_HAS(err.msg, want);
	f = fopen(path, "w");
	fputs("input h=3 w=3 c=1\nflatten\ndense units=2\n", f);
	fclose(f);
	rc = dl_model_load(&m, path, &err);
	CHECK_INT(rc, 0);
	if (!rc) {
		CHECK_INT(m.nparams, 20);
		dl_model_release(&m);
	}
}

/* dl_model_load reads spec files with dl_read_all: text only, 1 MiB at most */
TEST(model_load_file_limits)
{
	dl_model m;
	dl_err err;
	char path[512];
	snprintf(path, sizeof path, "%s/nul.spec", dl_test_tmpdir());
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (!f)
		return;
	fwrite("input h=3 w=3 c=1\0flatten\n", 1, 26, f);
	fclose(f);
	CHECK_INT(dl_model_load(&m, path, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "not a text file");
	snprintf(path, sizeof path, "%s/big.spec", dl_test_tmpdir());
	f = fopen(path, "w");
	fputs("input h=3 w=3 c=1\nflatten\ndense units=2\n", f);
	for (int i = 0; i < (1 << 20) / 8; i++)
		fputs("# pad  \n", f);
	fclose(f);
	CHECK_INT(dl_model_load(&m, path, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "larger than");
	/* just under the limit loads */
	f = fopen(path, "w");
	fputs("input h=3 w=3 c=1\nflatten\ndense units=2\n", f);
	for (int i = 0; i < (1 << 20) / 8 - 8; i++)
		fputs("# pad  \n", f);
	fclose(f);
	int rc = dl_model_load(&m, path, &err);
	CHECK_INT(rc, 0);
	if (!rc)
		dl_model_release(&m);
}

/* Regression: flatten is an alias layer; the layers below it once had a
 * NULL dy after dl_model_plan, and backward through lenet crashed. */
TEST(model_plan_flatten_in_the_middle)
{
	dl_backend *be = dl_test_cpu(2);
	dl_model m;
	dl_err err;
	int rc = dl_model_load(&m, "lenet", &err);
	if (!rc)
		rc = dl_model_alloc(&m, be, &err);
	if (!rc)
		rc = dl_model_init(&m, 1, &err);
	if (!rc)
		rc = dl_model_plan(&m, 3, &err);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s: %s\n", t->name, err.msg);
		dl_backend_close(be);
		return;
	}
	int fl = 6;   /* conv relu pool conv relu pool FLATTEN dense relu dense */
	CHECK(!strcmp(m.layers[fl].kind->name, "flatten"));
	for (int i = 0; i < m.nlayers; i++) {
		CHECK(m.y[i] != NULL);
		CHECK(m.dy[i] != NULL);
	}
	CHECK(m.y[fl] == m.y[fl - 1]);
	CHECK(m.dy[fl] == m.dy[fl - 1]);
	CHECK_INT(m.need_dx[0], 0);
	for (int i = 1; i < m.nlayers; i++)
		CHECK_INT(m.need_dx[i], 1);
	/* a forward + backward step reaches the first layer's gradients */
	dl_rng r;
	dl_rng_seed(&r, 5);
	for (size_t i = 0; i < 3 * 784; i++)
		m.x[i] = dl_rng_uniform(&r);
	int32_t labels[3] = { 1, 4, 7 };
	float *stats = be->ops->alloc(be, 2 * sizeof(float));
	be->ops->zero(be, m.grads, m.nparams * sizeof(float));
	dl_model_forward(&m, 3);
	be->ops->softmax_xent(be, 3, 10, dl_model_output(&m), labels, 0.0f, 1.0f / 3,
			      dl_model_doutput(&m), stats);
	dl_model_backward(&m, 3);
	for (int li = 0; li < m.nlayers; li++) {
		dl_layer *l = &m.layers[li];
		for (int p = 0; p < l->nparam; p++) {
			int nz = 0, finite = 1;
			for (size_t q = 0; q < l->param[p].count; q++) {
				nz += l->g[p][q] != 0;
				finite &= isfinite(l->g[p][q]);
			}
			if (!nz || !finite)
				fprintf(stderr, "  %s: layer %d %s: %d nonzero, finite %d\n", t->name, li,
					l->param[p].name, nz, finite);
			CHECK(nz > 0);
			CHECK(finite);
		}
	}
	/* the gradient that reached the first conv equals what flows into
	 * the flatten from the dense layer above it (the same buffer) */
	CHECK(m.dy[fl - 1][0] == m.dy[fl][0]);
	/* re-planning for a smaller batch works and keeps the wiring */
	rc = dl_model_plan(&m, 1, &err);
	CHECK_INT(rc, 0);
	if (!rc) {
		CHECK(m.dy[fl] == m.dy[fl - 1]);
		dl_model_forward(&m, 1);
		dl_model_backward(&m, 1);
	}
	be->ops->free(be, stats);
	dl_model_release(&m);
	dl_backend_close(be);
}

/* Two flattens in a row, and a flatten right after the input. */
TEST(model_plan_alias_chains)
{
	dl_backend *be = dl_test_cpu(1);
	dl_model m;
	dl_err err;
	int rc = dl_model_build(&m, "input h=2 w=3 c=2\nconv2d filters=2 size=1\nflatten\n"
				"flatten\ndense units=2\n", "t", &err);
	if (!rc)
		rc = dl_model_alloc(&m, be, &err);
	if (!rc)
		rc = dl_model_init(&m, 3, &err);
	if (!rc)
		rc = dl_model_plan(&m, 2, &err);
	CHECK_INT(rc, 0);
	if (!rc) {
		CHECK(m.dy[0] == m.dy[1] && m.dy[1] == m.dy[2]);
		CHECK(m.y[0] == m.y[1] && m.y[1] == m.y[2]);
		for (int i = 0; i < 24; i++)
			m.x[i] = (float)i / 24;
		dl_model_forward(&m, 2);
		float *d = dl_model_doutput(&m);
		d[0] = 1;
		d[1] = d[2] = d[3] = 0;
		be->ops->zero(be, m.grads, m.nparams * sizeof(float));
		dl_model_backward(&m, 2);
		/* conv weight gradient: sum over positions of x * (W_dense^T dy) */
		CHECK(m.layers[0].g[0][0] != 0);
		dl_model_release(&m);
	}
	rc = dl_model_build(&m, "input h=2 w=3 c=2\nflatten\ndense units=2\n", "t", &err);
	if (!rc)
		rc = dl_model_alloc(&m, be, &err);
	if (!rc)
		rc = dl_model_plan(&m, 2, &err);
	CHECK_INT(rc, 0);
	if (!rc) {
		CHECK(m.y[0] == m.x);
		dl_model_forward(&m, 2);
		dl_model_backward(&m, 2);
		dl_model_release(&m);
	}
	dl_backend_close(be);
}

static float *init_params(dl_test_ctx *t, dl_backend *be, const char *spec, uint64_t seed,
			  size_t *n)
{
	dl_model m;
	dl_err err;
	int rc = dl_model_build(&m, spec, "t", &err);
	if (!rc)
		rc = dl_model_alloc(&m, be, &err);
	if (!rc)
		rc = dl_model_init(&m, seed, &err);
	CHECK_INT(rc, 0);
	if (rc)
		return NULL;
	float *p = malloc(m.nparams * sizeof *p);
	be->ops->to_host(be, p, m.params, m.nparams * sizeof *p);
	*n = m.nparams;
	dl_model_release(&m);
	return p;
}

static const char *INIT_SPEC = "input h=6 w=6 c=3\nconv2d filters=4 size=3 pad=same\nrelu\n"
			       "maxpool size=2\nflatten\ndense units=5\ndense units=3 bias=0\n";

TEST(model_init_deterministic)
{
	dl_backend *be = dl_test_cpu(1);
	size_t n1 = 0, n2 = 0, n3 = 0;
	float *a = init_params(t, be, INIT_SPEC, 42, &n1);
	float *b = init_params(t, be, INIT_SPEC, 42, &n2);
	float *c = init_params(t, be, INIT_SPEC, 43, &n3);
	if (a && b && c) {
		CHECK_INT(n1, 4 * 27 + 4 + 36 * 5 + 5 + 15);
		CHECK_INT(n1, n2);
		CHECK(!memcmp(a, b, n1 * sizeof *a));
		size_t same = 0;
		for (size_t i = 0; i < n1; i++)
			same += a[i] == c[i];
		CHECK(same < n1 / 100 + 1);
	}
	free(a);
	free(b);
	free(c);
	dl_backend_close(be);
}

/* PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and
 * biases; the values should fill that range, not a narrower one. */
TEST(model_init_bounds)
{
	dl_backend *be = dl_test_cpu(1);
	dl_model m;
	dl_err err;
	int rc = dl_model_load(&m, "lenet", &err);
	if (!rc)
		rc = dl_model_alloc(&m, be, &err);
	if (!rc)
		rc = dl_model_init(&m, 7, &err);
	CHECK_INT(rc, 0);
	if (rc) {
		dl_backend_close(be);
		return;
	}
	int fan_in[] = { 25, 0, 0, 500, 0, 0, 0, 2450, 0, 500 };
	for (int i = 0; i < m.nlayers; i++) {
		dl_layer *l = &m.layers[i];
		CHECK_INT(l->nparam, fan_in[i] ? 2 : 0);
		for (int p = 0; p < l->nparam; p++) {
			double bound = 1.0 / sqrt((double)fan_in[i]), lo = 0, hi = 0, sum = 0;
			size_t cnt = l->param[p].count;
			for (size_t q = 0; q < cnt; q++) {
				double v = l->p[p][q];
				lo = v < lo ? v : lo;
				hi = v > hi ? v : hi;
				sum += v;
			}
			CHECK(hi <= bound * (1 + 1e-6) && lo >= -bound * (1 + 1e-6));
			if (cnt >= 50) {
				CHECK(hi > 0.9 * bound && lo < -0.9 * bound);
				/* mean of U(-b, b) over cnt draws: sd b / sqrt(3 cnt) */
				CHECK(fabs(sum / cnt) < 5 * bound / sqrt(3.0 * cnt));
			}
		}
	}
	dl_model_release(&m);
	dl_backend_close(be);
}
