/* Checkpoints save layer buffers (batch-norm running statistics) as
 * "<layer>.<buffer>" tensors.  No layer kind on this branch declares a
 * buffer yet, so the test gives a dense layer one by hand before the model
 * is allocated (what a batch-norm configure() does) and checks the file;
 * and that the position and early-stopping state round-trip. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "io/safetensors.h"
#include "nn/model.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

TEST(checkpoint_saves_buffers_and_position)
{
	dl_backend *be = NULL;
	dl_err err;
	if (dl_backend_cpu_open(&be, 1, &err))
		abort();
	dl_model m;
	int rc = dl_model_build(&m, "input h=2 w=2 c=1\nflatten\ndense units=3\n", "buf", &err);
	CHECK_INT(rc, 0);
	if (rc) {
		dl_backend_close(be);
		return;
	}
	dl_layer *l = &m.layers[1];
	l->nbuf = 2;
	l->buf[0] = (dl_param){ .name = "running_mean", .ndim = 1, .shape = { 3 }, .offset = 0, .count = 3 };
	l->buf[1] = (dl_param){ .name = "running_var", .ndim = 1, .shape = { 3 }, .offset = 3, .count = 3 };
	m.nbuffers = 6;
	CHECK_INT(dl_model_alloc(&m, be, &err), 0);
	CHECK_INT(dl_model_init(&m, 1, &err), 0);
	for (int i = 0; i < 6; i++)
		m.buffers[i] = 0.5f + (float)i;
	dl_norm norm;
	dl_norm_default(&norm, 1);
	dl_train_state st = { .epoch = 3, .step = 40, .batch = 4, .seed = 9, .pos = 7, .seen = 28,
			      .stats = { 1.5f, 20, 0 }, .best = 0.123456789012345, .best_epoch = 2,
			      .bad_epochs = 1, .run = "{\"format\": 1}" };
	char path[512];
	snprintf(path, sizeof path, "%s/buffers.ckpt", dl_test_tmpdir());
	CHECK_INT(dl_checkpoint_save(path, &m, NULL, &st, &norm, NULL, &err), 0);
	dl_st_file f;
	if (!(rc = dl_st_open(&f, path, &err))) {
		const dl_st_tensor *mean = dl_st_find(&f, "1.running_mean"), *var = dl_st_find(&f, "1.running_var");
		CHECK(mean && var);
		if (mean && var) {
			const float *a = mean->data, *b = var->data;
			CHECK(a[0] == 0.5f && a[2] == 2.5f && b[0] == 3.5f && b[2] == 5.5f);
		}
		const char *run = dl_st_meta_get(&f, "dl.run");
		CHECK(run && !strcmp(run, "{\"format\": 1}"));
		dl_st_close(&f);
	}
	CHECK_INT(rc, 0);
	dl_model_release(&m);

	/* the position round-trips through a model without buffers */
	dl_model m2, m3;
	dl_checkpoint ck;
	CHECK_INT(dl_model_build(&m2, "input h=2 w=2 c=1\nflatten\ndense units=3\n", "pos", &err), 0);
	CHECK_INT(dl_model_alloc(&m2, be, &err), 0);
	CHECK_INT(dl_checkpoint_save(path, &m2, NULL, &st, &norm, NULL, &err), 0);
	if (!(rc = dl_checkpoint_load(path, &m3, be, NULL, &ck, &err))) {
		CHECK_INT(ck.train.pos, 7);
		CHECK_INT(ck.train.seen, 28);
		CHECK(ck.train.stats[0] == 1.5f && ck.train.stats[1] == 20.0f);
		CHECK(ck.train.best == 0.123456789012345);
		CHECK_INT(ck.train.best_epoch, 2);
		CHECK_INT(ck.train.bad_epochs, 1);
		CHECK(ck.run_json && !strcmp(ck.run_json, "{\"format\": 1}"));
		dl_checkpoint_release(&ck);
		dl_model_release(&m3);
	}
	CHECK_INT(rc, 0);
	dl_model_release(&m2);
	dl_backend_close(be);
}
