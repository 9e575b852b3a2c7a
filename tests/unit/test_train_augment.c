/* Batch assembly with augmentation (gather_u8 crop + flip) against a naive
 * reference written from the contract in backend.h; dataset targets,
 * statistics and the seeded validation split. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "io/safetensors.h"
#include "train/dataset.h"

static dl_backend *cpu(int threads)
{
	dl_backend *be = NULL;
	dl_err err;
	if (dl_backend_cpu_open(&be, threads, &err))
		abort();
	return be;
}

/* torchvision RandomCrop(padding=pad) then RandomHorizontalFlip: pad the
 * image with zeros, cut an h x w window at (dy, dx) in [0, 2 pad], mirror. */
static void naive(const uint8_t *src, const uint32_t *idx, int n, int h, int w, int c,
		  const dl_norm *nm, const dl_aug *a, float *out)
{
	for (int i = 0; i < n; i++) {
		int span = 2 * a->pad + 1;
		int dy = a->pad ? (int)(dl_hash_u64(a->seed, 3 * (uint64_t)i) % (uint64_t)span) : a->pad;
		int dx = a->pad ? (int)(dl_hash_u64(a->seed, 3 * (uint64_t)i + 1) % (uint64_t)span) : a->pad;
		int flip = a->flip && (dl_hash_u64(a->seed, 3 * (uint64_t)i + 2) >> 63);
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				int cx = flip ? w - 1 - x : x;           /* column in the crop */
				int py = y + dy, px = cx + dx;           /* in the padded image */
				int sy = py - a->pad, sx = px - a->pad;  /* in the source */
				for (int ch = 0; ch < c; ch++) {
					int v = (sy >= 0 && sy < h && sx >= 0 && sx < w)
						? src[(((size_t)idx[i] * h + sy) * w + sx) * c + ch] : 0;
					out[(((size_t)i * h + y) * w + x) * c + ch] =
						((float)v * nm->scale - nm->mean[ch]) / nm->std[ch];
				}
			}
	}
}

TEST(train_gather_augment_matches_naive)
{
	enum { N = 9, H = 5, W = 7, C = 3, B = 6 };
	uint8_t *src = malloc(N * H * W * C);
	for (int i = 0; i < N * H * W * C; i++)
		src[i] = (uint8_t)(i * 37 + 11);
	uint32_t idx[B] = { 8, 0, 3, 3, 5, 1 };
	dl_norm nm = { .c = C, .scale = 1.0f / 255, .mean = { 0.1f, 0.2f, 0.3f }, .std = { 0.5f, 0.25f, 2.0f } };
	float *got = malloc(sizeof(float) * B * H * W * C), *want = malloc(sizeof(float) * B * H * W * C);
	dl_backend *be2 = cpu(2), *be1 = cpu(1);
	const dl_aug cases[] = {
		{ .pad = 0, .flip = 1, .seed = 1 }, { .pad = 2, .flip = 0, .seed = 2 },
		{ .pad = 3, .flip = 1, .seed = 3 }, { .pad = 1, .flip = 1, .seed = 99 },
	};
	int flipped = 0, shifted = 0;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		for (int threads = 1; threads <= 2; threads++) {
			dl_backend *be = threads == 1 ? be1 : be2;
			be->ops->gather_u8(be, src, idx, B, H, W, C, &nm, &cases[k], got);
			naive(src, idx, B, H, W, C, &nm, &cases[k], want);
			CHECK(!memcmp(got, want, sizeof(float) * B * H * W * C));
		}
		for (int i = 0; i < B; i++) {
			flipped += cases[k].flip && (dl_hash_u64(cases[k].seed, 3 * (uint64_t)i + 2) >> 63);
			shifted += cases[k].pad && dl_hash_u64(cases[k].seed, 3 * (uint64_t)i) % (2 * cases[k].pad + 1) != (uint64_t)cases[k].pad;
		}
	}
	/* the cases exercise both choices */
	CHECK(flipped > 0 && flipped < 3 * B);
	CHECK(shifted > 0);
	/* a new seed gives another batch; aug NULL is the plain gather */
	dl_aug a1 = { 2, 1, 1234 }, a2 = { 2, 1, 1235 };
	be2->ops->gather_u8(be2, src, idx, B, H, W, C, &nm, &a1, got);
	be2->ops->gather_u8(be2, src, idx, B, H, W, C, &nm, &a2, want);
	CHECK(memcmp(got, want, sizeof(float) * B * H * W * C) != 0);
	be2->ops->gather_u8(be2, src, idx, B, H, W, C, &nm, NULL, got);
	dl_aug none = { 0, 0, 5 };
	naive(src, idx, B, H, W, C, &nm, &none, want);
	CHECK(!memcmp(got, want, sizeof(float) * B * H * W * C));
	dl_backend_close(be1);
	dl_backend_close(be2);
	free(src);
	free(got);
	free(want);
}

TEST(train_gather_f32_rows)
{
	dl_backend *be = cpu(1);
	float src[4 * 3] = { 0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32 };
	uint32_t idx[3] = { 3, 0, 3 };
	float out[9];
	be->ops->gather_f32(be, src, idx, 3, 3, out);
	const float want[9] = { 30, 31, 32, 0, 1, 2, 30, 31, 32 };
	CHECK(!memcmp(out, want, sizeof want));
	dl_backend_close(be);
}

static int write_ds(const char *path, int n, const float *targets, int k, const int32_t *labels,
		    const char *mean, const char *std, dl_err *err)
{
	static uint8_t img[64 * 4 * 4];
	int64_t is[4] = { n, 4, 4, 1 }, ts[2] = { n, k }, ls[1] = { n };
	dl_st_writer w;
	dl_st_writer_init(&w);
	int rc = dl_st_add(&w, "images", DL_U8, 4, is, img, err);
	if (!rc && targets) rc = dl_st_add(&w, "targets", DL_F32, 2, ts, targets, err);
	if (!rc && labels) rc = dl_st_add(&w, "labels", DL_I32, 1, ls, labels, err);
	if (!rc && mean) rc = dl_st_add_meta(&w, "dl.mean", mean, err);
	if (!rc && std) rc = dl_st_add_meta(&w, "dl.std", std, err);
	if (!rc) rc = dl_st_write(&w, path, err);
	dl_st_writer_release(&w);
	return rc;
}

TEST(train_dataset_targets_and_stats)
{
	char path[512];
	dl_err err;
	dl_dataset d;
	snprintf(path, sizeof path, "%s/targets.ds", dl_test_tmpdir());
	float tg[6] = { 0.5f, -1, 2, 3, 4, 5 };
	/* targets only, no labels: regression data */
	CHECK_INT(write_ds(path, 3, tg, 2, NULL, "[0.25]", "[0.5]", &err), 0);
	int rc = dl_dataset_open(&d, path, &err);
	CHECK_INT(rc, 0);
	if (!rc) {
		CHECK(d.labels == NULL && d.targets != NULL);
		CHECK_INT(d.ntargets, 2);
		CHECK(d.targets[5] == 5.0f);
		CHECK_INT(d.has_stats, 1);
		CHECK(d.mean[0] == 0.25f && d.std[0] == 0.5f);
		dl_dataset_close(&d);
	}
	/* a non-finite target names the sample */
	tg[3] = NAN;
	CHECK_INT(write_ds(path, 3, tg, 2, NULL, NULL, NULL, &err), 0);
	CHECK_INT(dl_dataset_open(&d, path, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "sample 1");
	/* targets of the wrong row count */
	tg[3] = 0;
	CHECK_INT(write_ds(path, 2, tg, 3, NULL, NULL, NULL, &err), 0);
	rc = dl_dataset_open(&d, path, &err);
	CHECK_INT(rc, 0);   /* [2, 3] for 2 images is fine */
	if (!rc)
		dl_dataset_close(&d);
	/* neither labels nor targets */
	CHECK_INT(write_ds(path, 2, NULL, 1, NULL, NULL, NULL, &err), 0);
	CHECK_INT(dl_dataset_open(&d, path, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "labels");
	/* stats of the wrong length or std 0 are ignored (has_stats 0) */
	int32_t lab[2] = { 0, 1 };
	CHECK_INT(write_ds(path, 2, NULL, 1, lab, "[0.1, 0.2]", "[0.5, 0.5]", &err), 0);
	if (!(rc = dl_dataset_open(&d, path, &err))) {
		CHECK_INT(d.has_stats, 0);
		dl_dataset_close(&d);
	}
	CHECK_INT(write_ds(path, 2, NULL, 1, lab, "[0.1]", "[0]", &err), 0);
	if (!(rc = dl_dataset_open(&d, path, &err))) {
		CHECK_INT(d.has_stats, 0);
		dl_dataset_close(&d);
	}
	CHECK_INT(rc, 0);
}

TEST(train_dataset_split_seeded)
{
	uint32_t *tr, *va, *tr2, *va2;
	int nt, nv, nt2, nv2;
	dl_err err;
	CHECK_INT(dl_dataset_split(100, 0.2, 7, &tr, &nt, &va, &nv, &err), 0);
	CHECK_INT(nt, 80);
	CHECK_INT(nv, 20);
	/* disjoint, covering, increasing */
	uint8_t seen[100] = { 0 };
	for (int i = 0; i < nt; i++)
		seen[tr[i]]++;
	for (int i = 0; i < nv; i++)
		seen[va[i]]++;
	int ok = 1;
	for (int i = 0; i < 100; i++)
		ok &= seen[i] == 1;
	for (int i = 1; i < nv; i++)
		ok &= va[i] > va[i - 1];
	CHECK(ok);
	/* same seed, same split; another seed, another one */
	CHECK_INT(dl_dataset_split(100, 0.2, 7, &tr2, &nt2, &va2, &nv2, &err), 0);
	CHECK(!memcmp(va, va2, (size_t)nv * sizeof *va));
	free(tr2);
	free(va2);
	CHECK_INT(dl_dataset_split(100, 0.2, 8, &tr2, &nt2, &va2, &nv2, &err), 0);
	CHECK(memcmp(va, va2, (size_t)nv * sizeof *va) != 0);
	free(tr2);
	free(va2);
	free(tr);
	free(va);
	/* an empty side is refused */
	CHECK_INT(dl_dataset_split(3, 0.01, 1, &tr, &nt, &va, &nv, &err), DL_EUSAGE);
	CHECK_INT(dl_dataset_split(3, 0.99, 1, &tr, &nt, &va, &nv, &err), DL_EUSAGE);
}
