/* The trainer on a tiny synthetic dataset: it learns an easy problem,
 * is bit-reproducible, resumes from its checkpoint exactly; datasets that
 * do not fit are refused. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "io/safetensors.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/trainer.h"

static const char *SPEC = "input h=8 w=8 c=1\nflatten\ndense units=2\n";

/* Writes a dataset: images U8 [n, h, w, c] (count n_img) and labels I32
 * [n_lab]; classes may be NULL (no dl.classes). */
static int write_dataset(const char *path, int n_img, int h, int w, int c, const uint8_t *img,
			 int n_lab, const int32_t *lab, const char *classes, dl_err *err)
{
	int64_t is[4] = { n_img, h, w, c }, ls[1] = { n_lab };
	dl_st_writer wr;
	dl_st_writer_init(&wr);
	int rc = dl_st_add(&wr, "images", DL_U8, 4, is, img, err);
	if (!rc) rc = dl_st_add(&wr, "labels", DL_I32, 1, ls, lab, err);
	if (!rc) rc = dl_st_add_meta(&wr, "dl.format", DL_DATASET_FORMAT, err);
	if (!rc && classes) rc = dl_st_add_meta(&wr, "dl.classes", classes, err);
	if (!rc) rc = dl_st_write(&wr, path, err);
	dl_st_writer_release(&wr);
	return rc;
}

/* Two classes of 8x8 images: 0 is bright on the left half, 1 on the right
 * half, both with noise; labels in a seeded random order. */
static void make_images(uint64_t seed, int n, uint8_t *img, int32_t *lab)
{
	dl_rng r;
	dl_rng_seed(&r, seed);
	for (int i = 0; i < n; i++) {
		lab[i] = (int32_t)dl_rng_below(&r, 2);
		for (int y = 0; y < 8; y++)
			for (int x = 0; x < 8; x++) {
				int bright = (x < 4) == (lab[i] == 0);
				int v = (bright ? 150 : 40) + (int)dl_rng_below(&r, 80);
				img[(size_t)i * 64 + y * 8 + x] = (uint8_t)v;
			}
	}
}

enum { N = 96 };

static int open_synthetic(dl_test_ctx *t, dl_dataset *d, const char *name, uint64_t seed)
{
	static uint8_t img[N * 64];
	static int32_t lab[N];
	char path[512];
	dl_err err;
	snprintf(path, sizeof path, "%s/%s", dl_test_tmpdir(), name);
	make_images(seed, N, img, lab);
	int rc = write_dataset(path, N, 8, 8, 1, img, N, lab, "[\"a\",\"b\"]", &err);
	if (!rc)
		rc = dl_dataset_open(d, path, &err);
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  %s: %s\n", t->name, err.msg);
	return rc;
}

typedef struct run {
	dl_model m;
	dl_optim o;
	dl_train_state st;
} run;

static int run_start(dl_test_ctx *t, run *r, dl_backend *be, uint64_t seed)
{
	dl_err err;
	memset(r, 0, sizeof *r);
	int rc = dl_model_build(&r->m, SPEC, "tiny", &err);
	if (!rc) rc = dl_model_alloc(&r->m, be, &err);
	if (!rc) rc = dl_model_init(&r->m, seed, &err);
	if (!rc) rc = dl_optim_init(&r->o, DL_OPTIM_ADAM, 1e-2f, r->m.nparams, be, &err);
	if (!rc) rc = dl_optim_ready(&r->o, &err);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s: %s\n", t->name, err.msg);
		return rc;
	}
	r->st.seed = seed;
	dl_rng_seed(&r->st.rng, seed);
	return 0;
}

static void run_release(run *r)
{
	dl_optim_release(&r->o);
	dl_model_release(&r->m);
}

static int train(dl_test_ctx *t, run *r, const dl_dataset *d, const dl_dataset *val,
		 int epochs, const char *ckpt, FILE *log)
{
	dl_norm norm;
	dl_norm_default(&norm, 1);
	/* epochs more than the state has done */
	dl_train_opts opts = { .epochs = r->st.epoch + epochs, .batch = 8, .checkpoint = ckpt,
			       .log = log };
	dl_schedule_init(&opts.sched, r->o.lr);
	dl_data td = { d, NULL, d->n }, vd = { val, NULL, val ? val->n : 0 };
	dl_train_result res;
	dl_err err;
	int rc = dl_train(&r->m, &r->o, &r->st, &td, val ? &vd : NULL, &norm, d->classes_json, &opts,
			  &res, &err);
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  %s: %s\n", t->name, err.msg);
	return rc;
}

static dl_metrics evaluate(dl_test_ctx *t, run *r, const dl_dataset *d, float *logits)
{
	dl_norm norm;
	dl_norm_default(&norm, 1);
	dl_metrics mt = { 0 };
	dl_err err;
	int rc = dl_evaluate(&r->m, d, &norm, 16, &mt, logits, &err);
	CHECK_INT(rc, 0);
	return mt;
}

TEST(train_learns_separable_classes)
{
	dl_backend *be = dl_test_cpu(2);
	dl_dataset d, v;
	run r;
	if (open_synthetic(t, &d, "train.ds", 1) || open_synthetic(t, &v, "val.ds", 2) ||
	    run_start(t, &r, be, 7)) {
		dl_backend_close(be);
		return;
	}
	CHECK_INT(d.classes, 2);
	dl_err err;
	CHECK_INT(dl_check_fit(&r.m, &d, "train.ds", &err), 0);
	CHECK_INT(dl_model_plan(&r.m, 16, &err), 0);
	dl_metrics before = evaluate(t, &r, &v, NULL);
	char *log = NULL;
	size_t loglen = 0;
	FILE *lf = open_memstream(&log, &loglen);
	if (!train(t, &r, &d, &v, 5, NULL, lf)) {
		fclose(lf);
		lf = NULL;
		CHECK_INT(r.st.epoch, 5);
		CHECK_INT(r.st.step, 5 * (N / 8));
		CHECK_INT(r.o.step, 5 * (N / 8));
		CHECK_INT(r.st.batch, 8);
		float *logits = malloc((size_t)v.n * 2 * sizeof *logits);
		dl_metrics after = evaluate(t, &r, &v, logits);
		if (getenv("VERBOSE"))
			fprintf(stderr, "  %s: accuracy %.3f -> %.3f, loss %.4f -> %.4f\n", t->name,
				before.accuracy, after.accuracy, before.loss, after.loss);
		CHECK_INT(after.n, N);
		CHECK(after.accuracy > 0.95);
		CHECK(after.loss < before.loss);
		CHECK(after.loss < 0.3);
		/* the logits agree with the accuracy */
		int correct = 0;
		for (int i = 0; i < v.n; i++)
			correct += (logits[2 * i + 1] > logits[2 * i]) == (v.labels[i] == 1);
		CHECK_NEAR((double)correct / v.n, after.accuracy, 1e-9);
		free(logits);
		/* one JSON line per epoch, with validation */
		int lines = 0;
		for (char *p = log; p && (p = strstr(p, "\"event\": \"epoch\"")); p++)
			lines++;
		CHECK_INT(lines, 5);
		CHECK_STR_HAS(log, "\"val_accuracy\"");
	}
	if (lf)
		fclose(lf);
	free(log);
	run_release(&r);
	dl_dataset_close(&d);
	dl_dataset_close(&v);
	dl_backend_close(be);
}

/* Trains from scratch; returns the parameters (host copy). */
static float *train_params(dl_test_ctx *t, dl_backend *be, const dl_dataset *d, uint64_t seed,
			   uint64_t shuffle_seed, int epochs)
{
	run r;
	if (run_start(t, &r, be, seed))
		return NULL;
	dl_rng_seed(&r.st.rng, shuffle_seed);
	float *p = NULL;
	if (!train(t, &r, d, NULL, epochs, NULL, NULL)) {
		p = malloc(r.m.nparams * sizeof *p);
		be->ops->to_host(be, p, r.m.params, r.m.nparams * sizeof *p);
	}
	run_release(&r);
	return p;
}

TEST(train_reproducible)
{
	dl_backend *be = dl_test_cpu(2);
	dl_dataset d;
	if (open_synthetic(t, &d, "repro.ds", 3)) {
		dl_backend_close(be);
		return;
	}
	size_t np = 8 * 8 * 2 + 2;
	float *a = train_params(t, be, &d, 11, 11, 3);
	float *b = train_params(t, be, &d, 11, 11, 3);
	/* the same initial weights, another sample order: the order matters */
	float *c = train_params(t, be, &d, 11, 12, 3);
	if (a && b && c) {
		CHECK(!memcmp(a, b, np * sizeof *a));
		CHECK(memcmp(a, c, np * sizeof *a) != 0);
	}
	free(a);
	free(b);
	free(c);
	/* with one thread as well */
	dl_backend *be1 = dl_test_cpu(1);
	a = train_params(t, be1, &d, 13, 13, 2);
	b = train_params(t, be1, &d, 13, 13, 2);
	if (a && b)
		CHECK(!memcmp(a, b, np * sizeof *a));
	free(a);
	free(b);
	dl_backend_close(be1);
	dl_dataset_close(&d);
	dl_backend_close(be);
}

/* 2 epochs, a checkpoint, 2 more from the checkpoint == 4 straight. */
TEST(train_resume_from_checkpoint)
{
	dl_backend *be = dl_test_cpu(2);
	dl_dataset d;
	if (open_synthetic(t, &d, "resume.ds", 4)) {
		dl_backend_close(be);
		return;
	}
	char ckpt[512];
	snprintf(ckpt, sizeof ckpt, "%s/resume.ckpt", dl_test_tmpdir());
	float *straight = train_params(t, be, &d, 21, 21, 4);
	run r;
	if (straight && !run_start(t, &r, be, 21)) {
		int rc = train(t, &r, &d, NULL, 2, ckpt, NULL);
		run_release(&r);
		dl_model m;
		dl_optim o;
		dl_checkpoint ck;
		dl_err err;
		if (!rc && !(rc = dl_checkpoint_load(ckpt, &m, be, &o, &ck, &err))) {
			CHECK_INT(ck.train.epoch, 2);
			CHECK_INT(ck.train.step, 2 * (N / 8));
			CHECK(ck.classes_json && !strcmp(ck.classes_json, "[\"a\",\"b\"]"));
			run r2 = { .m = m, .o = o, .st = ck.train };
			if (!train(t, &r2, &d, NULL, 2, NULL, NULL)) {
				CHECK_INT(r2.st.epoch, 4);
				CHECK(!memcmp(r2.m.params, straight, r2.m.nparams * sizeof(float)));
			}
			dl_checkpoint_release(&ck);
			run_release(&r2);
		}
		CHECK_INT(rc, 0);
	}
	free(straight);
	dl_dataset_close(&d);
	dl_backend_close(be);
}

TEST(train_check_fit)
{
	dl_backend *be = dl_test_cpu(1);
	dl_err err;
	char path[512];
	static uint8_t img[4 * 8 * 7 * 1];
	int32_t lab[4] = { 0, 1, 2, 1 };
	dl_model m;
	dl_dataset d;
	int rc = dl_model_build(&m, SPEC, "tiny", &err);
	CHECK_INT(rc, 0);
	if (rc) {
		dl_backend_close(be);
		return;
	}
	/* 8x7 images for an 8x8 model */
	snprintf(path, sizeof path, "%s/shape.ds", dl_test_tmpdir());
	CHECK_INT(write_dataset(path, 4, 8, 7, 1, img, 4, lab, "[\"a\",\"b\",\"c\"]", &err), 0);
	rc = dl_dataset_open(&d, path, &err);
	CHECK_INT(rc, 0);
	if (!rc) {
		CHECK_INT(dl_check_fit(&m, &d, path, &err), DL_EDATA);
		CHECK_STR_HAS(err.msg, "8x7x1");
		CHECK_STR_HAS(err.msg, "8x8x1");
		dl_dataset_close(&d);
	}
	/* 8x8 but 2 channels */
	static uint8_t img2[4 * 8 * 8 * 2];
	CHECK_INT(write_dataset(path, 4, 8, 8, 2, img2, 4, lab, NULL, &err), 0);
	if (!(rc = dl_dataset_open(&d, path, &err))) {
		CHECK_INT(d.classes, 3);   /* max label + 1 without dl.classes */
		CHECK_INT(dl_check_fit(&m, &d, path, &err), DL_EDATA);
		CHECK_STR_HAS(err.msg, "8x8x2");
		dl_dataset_close(&d);
	}
	CHECK_INT(rc, 0);
	/* the right shape but 3 classes for 2 outputs */
	static uint8_t img3[4 * 8 * 8];
	CHECK_INT(write_dataset(path, 4, 8, 8, 1, img3, 4, lab, "[\"a\",\"b\",\"c\"]", &err), 0);
	if (!(rc = dl_dataset_open(&d, path, &err))) {
		CHECK_INT(dl_check_fit(&m, &d, path, &err), DL_EDATA);
		CHECK_STR_HAS(err.msg, "3 classes");
		dl_dataset_close(&d);
	}
	CHECK_INT(rc, 0);
	/* and one that fits */
	int32_t lab2[4] = { 0, 1, 1, 0 };
	CHECK_INT(write_dataset(path, 4, 8, 8, 1, img3, 4, lab2, "[\"a\",\"b\"]", &err), 0);
	if (!(rc = dl_dataset_open(&d, path, &err))) {
		CHECK_INT(dl_check_fit(&m, &d, path, &err), 0);
		dl_dataset_close(&d);
	}
	CHECK_INT(rc, 0);
	dl_model_release(&m);
	dl_backend_close(be);
}

static void expect_open_error(dl_test_ctx *t, const char *path, const char *n1)
{
	dl_dataset d;
	dl_err err = { 0 };
	int rc = dl_dataset_open(&d, path, &err);
	CHECK_INT(rc, DL_EDATA);
	if (!rc) {
		dl_dataset_close(&d);
		return;
	}
	CHECK_STR_HAS(err.msg, path);
	CHECK_STR_HAS(err.msg, n1);
	CHECK(d.images == NULL && d.labels == NULL && d.file.base == NULL);
}

TEST(train_dataset_rejects_bad_files)
{
	dl_err err;
	char path[512];
	snprintf(path, sizeof path, "%s/bad.ds", dl_test_tmpdir());
	static uint8_t img[5 * 4 * 4];
	int32_t lab[5] = { 0, 1, 2, 1, 0 };
	/* label 2 with two classes declared */
	CHECK_INT(write_dataset(path, 5, 4, 4, 1, img, 5, lab, "[\"a\",\"b\"]", &err), 0);
	expect_open_error(t, path, "label 2 of sample 2");
	/* negative label, no class list */
	int32_t neg[5] = { 0, 1, 0, -1, 0 };
	CHECK_INT(write_dataset(path, 5, 4, 4, 1, img, 5, neg, NULL, &err), 0);
	expect_open_error(t, path, "label -1 of sample 3");
	/* 5 images, 4 labels */
	CHECK_INT(write_dataset(path, 5, 4, 4, 1, img, 4, lab, NULL, &err), 0);
	expect_open_error(t, path, "5 images but 4 labels");
	/* classes that are not a list */
	CHECK_INT(write_dataset(path, 5, 4, 4, 1, img, 5, lab, "{\"a\": 1}", &err), 0);
	expect_open_error(t, path, "dl.classes");
	CHECK_INT(write_dataset(path, 5, 4, 4, 1, img, 5, lab, "[]", &err), 0);
	expect_open_error(t, path, "dl.classes");
	/* images of the wrong dtype */
	{
		int64_t is[4] = { 5, 4, 4, 1 }, ls[1] = { 5 };
		static float fimg[5 * 16];
		dl_st_writer w;
		dl_st_writer_init(&w);
		int rc = dl_st_add(&w, "images", DL_F32, 4, is, fimg, &err);
		if (!rc) rc = dl_st_add(&w, "labels", DL_I32, 1, ls, lab, &err);
		if (!rc) rc = dl_st_write(&w, path, &err);
		dl_st_writer_release(&w);
		CHECK_INT(rc, 0);
		expect_open_error(t, path, "'images'");
	}
	/* the boundary: labels 0..2 with three classes is fine */
	CHECK_INT(write_dataset(path, 5, 4, 4, 1, img, 5, lab, "[\"a\",\"b\",\"c\"]", &err), 0);
	dl_dataset d;
	int rc = dl_dataset_open(&d, path, &err);
	CHECK_INT(rc, 0);
	if (!rc) {
		CHECK_INT(d.n, 5);
		CHECK_INT(d.classes, 3);
		CHECK(d.h == 4 && d.w == 4 && d.c == 1);
		dl_dataset_close(&d);
	}
	/* a missing file */
	snprintf(path, sizeof path, "%s/none.ds", dl_test_tmpdir());
	CHECK_INT(dl_dataset_open(&d, path, &err), DL_EIO);
}
