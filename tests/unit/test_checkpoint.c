/* Checkpoints: a save/load round trip restores everything bit for bit
 * (parameters, optimizer state and settings, normalisation, classes, train
 * state) so a resumed step equals the uninterrupted one; malformed files
 * are refused with DL_EDATA naming what is wrong. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "io/safetensors.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "train/checkpoint.h"
#include "train/dataset.h"

static const char *SPEC = "input h=4 w=4 c=1\nconv2d filters=2 size=3 pad=same\nrelu\n"
			  "flatten\ndense units=3\n";
static const char *CLASSES = "[\"cat\", \"dog\", \"bird\"]";
enum { B = 4 };

static void tmp_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", dl_test_tmpdir(), name);
}

/* One training step on a fixed batch derived from `k`. */
static void step(dl_model *m, dl_optim *o, int k)
{
	dl_backend *be = m->be;
	dl_rng r;
	dl_rng_seed(&r, 1000 + (uint64_t)k);
	int32_t *lab = be->ops->alloc(be, B * sizeof *lab);
	float *stats = be->ops->alloc(be, 2 * sizeof *stats);
	for (int i = 0; i < B * 16; i++)
		m->x[i] = dl_rng_uniform(&r);
	for (int i = 0; i < B; i++)
		lab[i] = (int32_t)dl_rng_below(&r, 3);
	dl_model_forward(m, B);
	be->ops->zero(be, m->grads, m->nparams * sizeof(float));
	be->ops->softmax_xent(be, B, 3, dl_model_output(m), lab, 0.0f, 1.0f / B, dl_model_doutput(m),
			      stats);
	dl_model_backward(m, B);
	dl_optim_step(o, m->params, m->grads, o->lr);
	be->ops->free(be, lab);
	be->ops->free(be, stats);
}

typedef struct fixture {
	dl_backend *be;
	dl_model m;
	dl_optim o;
	dl_train_state st;
	dl_norm norm;
} fixture;

/* A model trained a few steps with `kind`, and a train state. */
static int fixture_init(dl_test_ctx *t, fixture *f, dl_optim_kind kind, float momentum)
{
	dl_err err;
	memset(f, 0, sizeof *f);
	f->be = dl_test_cpu(2);
	int rc = dl_model_build(&f->m, SPEC, "tiny", &err);
	if (!rc) rc = dl_model_alloc(&f->m, f->be, &err);
	if (!rc) rc = dl_model_init(&f->m, 3, &err);
	if (!rc) rc = dl_model_plan(&f->m, B, &err);
	if (!rc) rc = dl_optim_init(&f->o, kind, 1e-2f, f->m.nparams, f->be, &err);
	if (!rc) {
		f->o.momentum = momentum;
		f->o.weight_decay = 1e-3f;
		f->o.beta2 = 0.99f;
		rc = dl_optim_ready(&f->o, &err);
	}
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s: %s\n", t->name, err.msg);
		return rc;
	}
	for (int k = 0; k < 3; k++)
		step(&f->m, &f->o, k);
	f->st.epoch = 2;
	f->st.step = 3;
	f->st.batch = B;
	f->st.seed = 18446744073709551557ull;   /* needs all 64 bits */
	dl_rng_seed(&f->st.rng, 99);
	for (int i = 0; i < 5; i++)
		dl_rng_u64(&f->st.rng);
	memset(&f->norm, 0, sizeof f->norm);
	f->norm.c = 1;
	f->norm.scale = 1.0f / 255.0f;
	f->norm.mean[0] = 0.1307f;
	f->norm.std[0] = 0.3081f;
	return 0;
}

static void fixture_release(fixture *f)
{
	dl_optim_release(&f->o);
	dl_model_release(&f->m);
	dl_backend_close(f->be);
}

static void check_roundtrip(dl_test_ctx *t, dl_optim_kind kind, float momentum, int nstate)
{
	fixture f;
	if (fixture_init(t, &f, kind, momentum))
		return;
	CHECK_INT(f.o.nstate, nstate);
	char path[512];
	tmp_path(path, sizeof path, "rt.ckpt");
	dl_err err;
	int rc = dl_checkpoint_save(path, &f.m, &f.o, &f.st, &f.norm, CLASSES, &err);
	CHECK_INT(rc, 0);
	dl_model m2;
	dl_optim o2;
	dl_checkpoint ck;
	rc = dl_checkpoint_load(path, &m2, f.be, &o2, &ck, &err);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s: %s\n", t->name, err.msg);
		fixture_release(&f);
		return;
	}
	/* model */
	CHECK(!strcmp(m2.spec_text, SPEC));
	CHECK(!strcmp(m2.name, "tiny"));
	CHECK_INT(m2.nparams, f.m.nparams);
	CHECK(!memcmp(m2.params, f.m.params, f.m.nparams * sizeof(float)));
	/* optimizer */
	CHECK_INT(ck.has_optim, 1);
	CHECK_INT(o2.kind, kind);
	CHECK_INT(o2.step, 3);
	CHECK_INT(o2.nstate, nstate);
	CHECK_INT(o2.n, f.m.nparams);
	CHECK(o2.lr == f.o.lr && o2.momentum == f.o.momentum && o2.weight_decay == f.o.weight_decay);
	CHECK(o2.beta1 == f.o.beta1 && o2.beta2 == f.o.beta2 && o2.eps == f.o.eps);
	if (nstate)
		CHECK(o2.state && !memcmp(o2.state, f.o.state, (size_t)nstate * f.o.n * sizeof(float)));
	/* metadata */
	CHECK_INT(ck.norm.c, 1);
	CHECK(ck.norm.scale == f.norm.scale);
	CHECK(ck.norm.mean[0] == f.norm.mean[0] && ck.norm.std[0] == f.norm.std[0]);
	CHECK(ck.classes_json && !strcmp(ck.classes_json, CLASSES));
	CHECK_INT(ck.train.epoch, 2);
	CHECK_INT(ck.train.step, 3);
	CHECK_INT(ck.train.batch, B);
	CHECK(ck.train.seed == f.st.seed);
	CHECK(!memcmp(ck.train.rng.s, f.st.rng.s, sizeof f.st.rng.s));
	/* a resumed step is the uninterrupted step */
	rc = dl_model_plan(&m2, B, &err);
	CHECK_INT(rc, 0);
	if (!rc) {
		for (int k = 3; k < 5; k++) {
			step(&f.m, &f.o, k);
			step(&m2, &o2, k);
		}
		CHECK(!memcmp(m2.params, f.m.params, f.m.nparams * sizeof(float)));
		CHECK_INT(o2.step, f.o.step);
	}
	dl_checkpoint_release(&ck);
	dl_optim_release(&o2);
	dl_model_release(&m2);

	/* loading without an optimizer (evaluation) */
	rc = dl_checkpoint_load(path, &m2, f.be, NULL, &ck, &err);
	CHECK_INT(rc, 0);
	if (!rc) {
		CHECK_INT(ck.has_optim, 0);
		CHECK_INT(ck.train.epoch, 2);
		dl_checkpoint_release(&ck);
		dl_model_release(&m2);
	}
	fixture_release(&f);
}

TEST(checkpoint_roundtrip_adam)
{
	check_roundtrip(t, DL_OPTIM_ADAM, 0.0f, 2);
}

TEST(checkpoint_roundtrip_sgd)
{
	check_roundtrip(t, DL_OPTIM_SGD, 0.9f, 1);
	check_roundtrip(t, DL_OPTIM_SGD, 0.0f, 0);
}

TEST(checkpoint_no_classes)
{
	fixture f;
	if (fixture_init(t, &f, DL_OPTIM_ADAM, 0))
		return;
	char path[512];
	tmp_path(path, sizeof path, "nocls.ckpt");
	dl_err err;
	CHECK_INT(dl_checkpoint_save(path, &f.m, &f.o, &f.st, &f.norm, NULL, &err), 0);
	dl_model m2;
	dl_checkpoint ck;
	int rc = dl_checkpoint_load(path, &m2, f.be, NULL, &ck, &err);
	CHECK_INT(rc, 0);
	if (!rc) {
		CHECK(ck.classes_json == NULL);
		dl_model_release(&m2);
		dl_checkpoint_release(&ck);
	}
	fixture_release(&f);
}

/* Rewrites the checkpoint at src to dst with tensor `name` changed by
 * `how`: 0 drop it, 1 its last dimension one shorter, 2 one extra leading
 * dimension of 1, 3 the same bytes labelled I32, 4 an extra tensor
 * after it.  Metadata copied unchanged. */
static int rewrite(const char *src, const char *dst, const char *name, int how, dl_err *err)
{
	dl_st_file f;
	int rc = dl_st_open(&f, src, err);
	if (rc)
		return rc;
	dl_st_writer w;
	dl_st_writer_init(&w);
	static const float extra[4] = { 1, 2, 3, 4 };
	for (int i = 0; i < f.ntensors && !rc; i++) {
		const dl_st_tensor *tn = &f.tensors[i];
		int64_t shape[DL_ST_MAX_DIMS];
		int nd = tn->ndim;
		memcpy(shape, tn->shape, sizeof shape);
		if (strcmp(tn->name, name)) {
			rc = dl_st_add(&w, tn->name, tn->dtype, nd, shape, tn->data, err);
			continue;
		}
		if (how == 0)
			continue;
		if (how == 1) {
			shape[nd - 1]--;
			rc = dl_st_add(&w, tn->name, tn->dtype, nd, shape, tn->data, err);
		} else if (how == 2) {
			memmove(shape + 1, shape, (size_t)nd * sizeof *shape);
			shape[0] = 1;
			rc = dl_st_add(&w, tn->name, tn->dtype, nd + 1, shape, tn->data, err);
		} else if (how == 3) {
			rc = dl_st_add(&w, tn->name, DL_I32, nd, shape, tn->data, err);
		} else {
			rc = dl_st_add(&w, tn->name, tn->dtype, nd, shape, tn->data, err);
			int64_t es[1] = { 4 };
			if (!rc)
				rc = dl_st_add(&w, "9.weight", DL_F32, 1, es, extra, err);
		}
	}
	for (int i = 0; i < f.nmeta && !rc; i++)
		rc = dl_st_add_meta(&w, f.meta[i].key, f.meta[i].value, err);
	if (!rc)
		rc = dl_st_write(&w, dst, err);
	dl_st_writer_release(&w);
	dl_st_close(&f);
	return rc;
}

static void expect_load_error(dl_test_ctx *t, dl_backend *be, const char *path, int code,
			      const char *n1, const char *n2)
{
	dl_model m;
	dl_optim o;
	dl_checkpoint ck;
	dl_err err = { 0 };
	int rc = dl_checkpoint_load(path, &m, be, &o, &ck, &err);
	CHECK_INT(rc, code);
	if (!rc) {
		dl_optim_release(&o);
		dl_model_release(&m);
		dl_checkpoint_release(&ck);
		return;
	}
	CHECK_STR_HAS(err.msg, path);
	CHECK_STR_HAS(err.msg, n1);
	if (n2)
		CHECK_STR_HAS(err.msg, n2);
	CHECK(!strchr(err.msg, '\n'));   /* one line, whatever the file holds */
	/* everything released on failure */
	CHECK(m.layers == NULL && m.params == NULL && o.state == NULL && ck.classes_json == NULL);
}

TEST(checkpoint_tampered)
{
	fixture f;
	if (fixture_init(t, &f, DL_OPTIM_ADAM, 0))
		return;
	char path[512], bad[512];
	tmp_path(path, sizeof path, "good.ckpt");
	tmp_path(bad, sizeof bad, "bad.ckpt");
	dl_err err;
	CHECK_INT(dl_checkpoint_save(path, &f.m, &f.o, &f.st, &f.norm, CLASSES, &err), 0);
	/* the rewriter itself keeps a good file good */
	CHECK_INT(rewrite(path, bad, "none", 0, &err), 0);
	expect_load_error(t, f.be, bad, 0, "", NULL);

	/* layer 3 is the dense: weight [3, 32] */
	CHECK_INT(rewrite(path, bad, "3.weight", 1, &err), 0);
	expect_load_error(t, f.be, bad, DL_EDATA, "'3.weight' dimension 1 is 31", "32");
	CHECK_INT(rewrite(path, bad, "0.weight", 1, &err), 0);
	expect_load_error(t, f.be, bad, DL_EDATA, "'0.weight'", NULL);
	CHECK_INT(rewrite(path, bad, "0.bias", 2, &err), 0);
	expect_load_error(t, f.be, bad, DL_EDATA, "'0.bias'", "dimensions");
	CHECK_INT(rewrite(path, bad, "3.bias", 3, &err), 0);
	expect_load_error(t, f.be, bad, DL_EDATA, "'3.bias'", "I32");
	CHECK_INT(rewrite(path, bad, "3.bias", 0, &err), 0);
	expect_load_error(t, f.be, bad, DL_EDATA, "'3.bias'", NULL);
	CHECK_INT(rewrite(path, bad, "3.bias", 4, &err), 0);
	expect_load_error(t, f.be, bad, DL_EDATA, "tensors", NULL);
	CHECK_INT(rewrite(path, bad, "optim.state", 1, &err), 0);
	expect_load_error(t, f.be, bad, DL_EDATA, "optimizer state", NULL);
	CHECK_INT(rewrite(path, bad, "optim.state", 0, &err), 0);
	expect_load_error(t, f.be, bad, DL_EDATA, "optimizer state", NULL);
	fixture_release(&f);
}

/* A checkpoint whose metadata is altered: written by hand with the real
 * tensors. */
static int write_meta_variant(const char *src, const char *dst, const char *key,
			      const char *value, dl_err *err)
{
	dl_st_file f;
	int rc = dl_st_open(&f, src, err);
	if (rc)
		return rc;
	dl_st_writer w;
	dl_st_writer_init(&w);
	for (int i = 0; i < f.ntensors && !rc; i++)
		rc = dl_st_add(&w, f.tensors[i].name, f.tensors[i].dtype, f.tensors[i].ndim,
			       f.tensors[i].shape, f.tensors[i].data, err);
	for (int i = 0; i < f.nmeta && !rc; i++) {
		if (strcmp(f.meta[i].key, key))
			rc = dl_st_add_meta(&w, f.meta[i].key, f.meta[i].value, err);
		else if (value)
			rc = dl_st_add_meta(&w, key, value, err);
	}
	if (!rc)
		rc = dl_st_write(&w, dst, err);
	dl_st_writer_release(&w);
	dl_st_close(&f);
	return rc;
}

TEST(checkpoint_bad_metadata)
{
	fixture f;
	if (fixture_init(t, &f, DL_OPTIM_ADAM, 0))
		return;
	char path[512], bad[512];
	tmp_path(path, sizeof path, "meta.ckpt");
	tmp_path(bad, sizeof bad, "meta-bad.ckpt");
	dl_err err;
	CHECK_INT(dl_checkpoint_save(path, &f.m, &f.o, &f.st, &f.norm, CLASSES, &err), 0);
	struct { const char *key, *value, *want; } cases[] = {
		{ "dl.format", NULL, "not a dl-tools checkpoint" },
		{ "dl.format", "dl-tools checkpoint 2", "not a dl-tools checkpoint" },
		{ "dl.model", NULL, "not a dl-tools checkpoint" },
		{ "dl.train", NULL, "not a dl-tools checkpoint" },
		/* a different model than the tensors were saved for */
		{ "dl.model", "input h=4 w=4 c=1\nflatten\ndense units=3\n", "'1.weight'" },
		{ "dl.model", "input h=4 w=4 c=1\nflaten\n", ":2:" },
		{ "dl.input", "{\"h\": 5, \"w\": 4, \"c\": 1, \"scale\": 1, \"mean\": [0], \"std\": [1]}",
		  "dl.input" },
		{ "dl.input", "{\"h\": 4, \"w\": 4, \"c\": 1, \"scale\": 1, \"mean\": [0], \"std\": [0]}",
		  "std" },
		{ "dl.train", "{\"epoch\": 1}", "dl.train" },
		{ "dl.train", "{\"epoch\": 1, \"step\": 3, \"batch\": 4, \"seed\": \"1\", "
		  "\"rng\": [\"0\", \"1\", \"2\", \"3\"]}", "rng" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		CHECK_INT(write_meta_variant(path, bad, cases[i].key, cases[i].value, &err), 0);
		expect_load_error(t, f.be, bad, DL_EDATA, cases[i].want, NULL);
	}
	fixture_release(&f);
}

/* dl.model_name is quoted in messages (found by fuzz_checkpoint: a name
 * with a newline made the error of a bad spec two lines): control bytes
 * become '?', in the message and in the loaded model's name. */
TEST(checkpoint_model_name_one_line)
{
	fixture f;
	if (fixture_init(t, &f, DL_OPTIM_ADAM, 0))
		return;
	char path[512], named[512], bad[512];
	tmp_path(path, sizeof path, "name.ckpt");
	tmp_path(named, sizeof named, "name-nl.ckpt");
	tmp_path(bad, sizeof bad, "name-nl-bad.ckpt");
	dl_err err;
	CHECK_INT(dl_checkpoint_save(path, &f.m, &f.o, &f.st, &f.norm, CLASSES, &err), 0);
	CHECK_INT(write_meta_variant(path, named, "dl.model_name", "two\nlines\x1b", &err), 0);
	CHECK_INT(write_meta_variant(named, bad, "dl.model", "input h=4 w=4 c=1\nflaten\n", &err), 0);
	expect_load_error(t, f.be, bad, DL_EDATA, "(model two?lines?):2:", NULL);
	dl_model m;
	dl_checkpoint ck;
	int rc = dl_checkpoint_load(named, &m, f.be, NULL, &ck, &err);
	CHECK_INT(rc, 0);
	if (!rc) {
		CHECK(!strcmp(m.name, "two?lines?"));
		dl_model_release(&m);
		dl_checkpoint_release(&ck);
	}
	fixture_release(&f);
}

TEST(checkpoint_not_a_checkpoint)
{
	dl_backend *be = dl_test_cpu(1);
	char path[512];
	tmp_path(path, sizeof path, "data.safetensors");
	/* a dataset file */
	uint8_t img[2 * 4 * 4] = { 0 };
	int32_t lab[2] = { 0, 1 };
	int64_t is[4] = { 2, 4, 4, 1 }, ls[1] = { 2 };
	dl_st_writer w;
	dl_err err;
	dl_st_writer_init(&w);
	int rc = dl_st_add(&w, "images", DL_U8, 4, is, img, &err);
	if (!rc) rc = dl_st_add(&w, "labels", DL_I32, 1, ls, lab, &err);
	if (!rc) rc = dl_st_add_meta(&w, "dl.format", DL_DATASET_FORMAT, &err);
	if (!rc) rc = dl_st_add_meta(&w, "dl.classes", "[\"a\", \"b\"]", &err);
	if (!rc) rc = dl_st_write(&w, path, &err);
	dl_st_writer_release(&w);
	CHECK_INT(rc, 0);
	expect_load_error(t, be, path, DL_EDATA, "not a dl-tools checkpoint", NULL);

	/* not safetensors at all */
	tmp_path(path, sizeof path, "text.ckpt");
	FILE *f = fopen(path, "w");
	if (f) {
		fputs("hello, this is not a checkpoint\n", f);
		fclose(f);
	}
	expect_load_error(t, be, path, DL_EDATA, "not a safetensors file", NULL);

	tmp_path(path, sizeof path, "missing.ckpt");
	expect_load_error(t, be, path, DL_EIO, "", NULL);
	dl_backend_close(be);
}
