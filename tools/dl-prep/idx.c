/* dl-prep idx: IDX images [N, H, W] or [N, H, W, C] (u8) and labels [N]
 * (u8 / i8 / i16 / i32) -> dataset file; optional seeded validation split. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/opt.h"
#include "core/rng.h"
#include "io/idx.h"
#include "io/safetensors.h"
#include "prep.h"
#include "train/dataset.h"

static const char *const fashion[] = {
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

/* The class list as a JSON array: a known set, a comma list, or "0".."k-1". */
static int classes_json(const char *spec, int k, dl_buf *out, int *count, dl_err *err)
{
	dl_buf_puts(out, "[");
	int n = 0;
	if (spec && !strcmp(spec, "fashion-mnist")) {
		for (n = 0; n < 10; n++) {
			dl_buf_puts(out, n ? ", " : "");
			dl_buf_json_string(out, fashion[n]);
		}
	} else if (spec && strcmp(spec, "mnist") && strcmp(spec, "numbers")) {
		const char *p = spec;
		while (*p) {
			const char *c = strchr(p, ',');
			size_t len = c ? (size_t)(c - p) : strlen(p);
			if (len == 0 || len > 200)
				return dl_fail(err, DL_EUSAGE, "--classes: empty or overlong class name");
			char name[256];
			memcpy(name, p, len);
			name[len] = '\0';
			dl_buf_puts(out, n++ ? ", " : "");
			dl_buf_json_string(out, name);
			p += len + (c ? 1 : 0);
			if (c && !*p)
				return dl_fail(err, DL_EUSAGE, "--classes: trailing comma");
		}
	} else {
		int upto = spec ? 10 : k;
		for (n = 0; n < upto; n++)
			dl_buf_printf(out, "%s\"%d\"", n ? ", " : "", n);
	}
	dl_buf_puts(out, "]");
	*count = n;
	return out->oom ? dl_fail(err, DL_EFAIL, "out of memory") : 0;
}

static int write_subset(const char *path, const uint8_t *images, const int32_t *labels,
			const uint32_t *pick, int n, int h, int w, int c, const char *classes,
			const char *source, dl_err *err)
{
	size_t sample = (size_t)h * w * c;
	uint8_t *im = malloc(sample * (size_t)(n ? n : 1));
	int32_t *lb = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
	int rc = 0;
	if (!im || !lb) {
		rc = dl_fail(err, DL_EFAIL, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		memcpy(im + (size_t)i * sample, images + (size_t)pick[i] * sample, sample);
		lb[i] = labels[pick[i]];
	}
	/* per-channel mean and std of pixel/255, for users who normalise */
	double sum[4] = { 0 }, sq[4] = { 0 };
	for (size_t i = 0; i < sample * (size_t)n; i++) {
		double v = im[i] / 255.0;
		sum[i % c] += v;
		sq[i % c] += v * v;
	}
	dl_buf mean, stdv;
	dl_buf_init(&mean);
	dl_buf_init(&stdv);
	dl_buf_puts(&mean, "[");
	dl_buf_puts(&stdv, "[");
	double cnt = (double)n * h * w;
	for (int k = 0; k < c; k++) {
		double mu = cnt ? sum[k] / cnt : 0, var = cnt ? sq[k] / cnt - mu * mu : 0;
		dl_buf_printf(&mean, "%s%.6f", k ? ", " : "", mu);
		dl_buf_printf(&stdv, "%s%.6f", k ? ", " : "", sqrt(var > 0 ? var : 0));
	}
	dl_buf_puts(&mean, "]");
	dl_buf_puts(&stdv, "]");
	dl_st_writer wr;
	dl_st_writer_init(&wr);
	int64_t ishape[4] = { n, h, w, c }, lshape[1] = { n };
	if (!(rc = dl_st_add(&wr, "images", DL_U8, 4, ishape, im, err)) &&
	    !(rc = dl_st_add(&wr, "labels", DL_I32, 1, lshape, lb, err)) &&
	    !(rc = dl_st_add_meta(&wr, "dl.format", DL_DATASET_FORMAT, err)) &&
	    !(rc = dl_st_add_meta(&wr, "dl.classes", classes, err)) &&
	    !(rc = dl_st_add_meta(&wr, "dl.source", source, err)) &&
	    !(rc = dl_st_add_meta(&wr, "dl.mean", mean.oom ? "[]" : mean.p, err)) &&
	    !(rc = dl_st_add_meta(&wr, "dl.std", stdv.oom ? "[]" : stdv.p, err)))
		rc = dl_st_write(&wr, path, err);
	dl_st_writer_release(&wr);
	dl_buf_release(&mean);
	dl_buf_release(&stdv);
out:
	free(im);
	free(lb);
	return rc;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int dl_prep_idx_main(int argc, char **argv)
{
	const char *out = NULL, *val_out = NULL, *classes = NULL;
	long limit = -1, seed = 1;
	double val_fraction = 0;
	const dl_opt opts[] = {
		{ 'o', "output", DL_OPT_STRING, &out, "FILE", "dataset file to write (required)" },
		{ 0, "limit", DL_OPT_INT, &limit, "N", "keep only the first N samples (tiny CI sets)" },
		{ 0, "val-fraction", DL_OPT_FLOAT, &val_fraction, "F",
		  "move a seeded random fraction F of the samples to --val-out" },
		{ 0, "val-out", DL_OPT_STRING, &val_out, "FILE", "validation file to write" },
		{ 0, "seed", DL_OPT_INT, &seed, "S", "seed of the validation split (default 1)" },
		{ 0, "classes", DL_OPT_STRING, &classes, "NAMES",
		  "class names: fashion-mnist, mnist, or a comma list (default: 0..K-1)" },
		{ 0, NULL, 0, NULL, NULL, NULL },
	};
	const dl_cmd cmd = {
		"dl-prep idx", "IMAGES LABELS -o OUT [options]",
		"Converts an IDX image file (u8 [N,H,W] or [N,H,W,C]; raw or gzip) and an IDX\n"
		"label file ([N], integer) into a dataset: images U8 [N,H,W,C], labels I32 [N].",
		opts,
		"example:\n  dl-prep idx train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz \\\n"
		"      --classes fashion-mnist --val-fraction 0.1 --val-out val.safetensors -o train.safetensors\n",
	};
	dl_err err = { 0 };
	int npos, rc;
	dl_idx im = { 0 }, lb = { 0 };
	dl_buf cj;
	dl_buf_init(&cj);
	uint32_t *order = NULL;
	int32_t *labels = NULL;
	if ((rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err)))
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-prep", &err);
	if (npos != 2) {
		rc = dl_fail(&err, DL_EUSAGE, "idx: expected IMAGES and LABELS files, got %d arguments", npos);
		goto fail;
	}
	if (!out) {
		rc = dl_fail(&err, DL_EUSAGE, "idx: missing -o OUT");
		goto fail;
	}
	if (val_fraction < 0 || val_fraction >= 1 || (val_fraction > 0) != (val_out != NULL)) {
		rc = dl_fail(&err, DL_EUSAGE, "idx: --val-fraction F (0 < F < 1) and --val-out go together");
		goto fail;
	}
	if (limit == 0 || limit < -1) {
		rc = dl_fail(&err, DL_EUSAGE, "idx: --limit must be positive");
		goto fail;
	}
	const char *ipath = argv[1], *lpath = argv[2];
	if ((rc = dl_idx_read(&im, ipath, DL_IDX_MAX_BYTES, &err)) ||
	    (rc = dl_idx_read(&lb, lpath, (size_t)1 << 31, &err)))
		goto fail;
	if (im.type != DL_IDX_U8 || im.ndim < 3 || im.ndim > 4 || (im.ndim == 4 && im.dims[3] > 4)) {
		rc = dl_fail(&err, DL_EDATA, "%s: expected u8 images [N,H,W] or [N,H,W,C<=4]", ipath);
		goto fail;
	}
	if (lb.ndim != 1 || lb.type == DL_IDX_F32 || lb.type == DL_IDX_F64) {
		rc = dl_fail(&err, DL_EDATA, "%s: expected integer labels [N]", lpath);
		goto fail;
	}
	if (lb.dims[0] != im.dims[0]) {
		rc = dl_fail(&err, DL_EDATA, "%s: %u labels for %u images in %s", lpath, lb.dims[0],
			     im.dims[0], ipath);
		goto fail;
	}
	if (im.dims[0] > (uint32_t)INT32_MAX) {
		rc = dl_fail(&err, DL_EDATA, "%s: too many images", ipath);
		goto fail;
	}
	int n = (int)im.dims[0], h = (int)im.dims[1], w = (int)im.dims[2];
	int c = im.ndim == 4 ? (int)im.dims[3] : 1;
	labels = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
	order = malloc(sizeof(uint32_t) * (size_t)(n ? n : 1));
	if (!labels || !order) {
		rc = dl_fail(&err, DL_EFAIL, "out of memory");
		goto fail;
	}
	int maxl = -1;
	for (int i = 0; i < n; i++) {
		long v;
		switch (lb.type) {
		case DL_IDX_U8: v = ((const uint8_t *)lb.data)[i]; break;
		case DL_IDX_I8: v = ((const int8_t *)lb.data)[i]; break;
		case DL_IDX_I16: v = ((const int16_t *)lb.data)[i]; break;
		default: v = ((const int32_t *)lb.data)[i]; break;
		}
		if (v < 0 || v > 1000000) {
			rc = dl_fail(&err, DL_EDATA, "%s: label %ld of sample %d is out of range", lpath, v, i);
			goto fail;
		}
		labels[i] = (int32_t)v;
		if (v > maxl)
			maxl = (int)v;
	}
	int nclasses = 0;
	if ((rc = classes_json(classes, maxl + 1, &cj, &nclasses, &err)))
		goto fail;
	for (int i = 0; i < n; i++)
		if (labels[i] >= nclasses) {
			rc = dl_fail(&err, DL_EDATA, "%s: label %d of sample %d is outside the %d classes",
				     lpath, labels[i], i, nclasses);
			goto fail;
		}
	if (limit > 0 && limit < n)
		n = (int)limit;
	char source[1024];
	snprintf(source, sizeof source, "idx %s %s", ipath, lpath);
	int nval = (int)llround(val_fraction * n), ntrain = n - nval;
	if (val_out && (nval < 1 || ntrain < 1)) {
		rc = dl_fail(&err, DL_EUSAGE, "idx: --val-fraction %g of %d samples leaves an empty set",
			     val_fraction, n);
		goto fail;
	}
	for (int i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	if (nval) {
		dl_rng rng;
		dl_rng_seed(&rng, (uint64_t)seed);
		dl_rng_shuffle_u32(&rng, order, (uint32_t)n);
		/* keep the file order inside each part */
		qsort(order, (size_t)nval, sizeof *order, cmp_u32);
		qsort(order + nval, (size_t)ntrain, sizeof *order, cmp_u32);
		if ((rc = write_subset(val_out, im.data, labels, order, nval, h, w, c, cj.p, source, &err)))
			goto fail;
	}
	if ((rc = write_subset(out, im.data, labels, order + nval, ntrain, h, w, c, cj.p, source, &err))) {
		if (nval)   /* both files or neither */
			unlink(val_out);
		goto fail;
	}
	fprintf(stderr, "dl-prep: %s: %d samples %dx%dx%d, %d classes%s\n", out, ntrain, h, w, c,
		nclasses, nval ? "" : "");
	if (nval)
		fprintf(stderr, "dl-prep: %s: %d samples (seed %ld)\n", val_out, nval, seed);
	rc = 0;
	goto out;
fail:
	rc = dl_tool_fail("dl-prep", &err);
out:
	free(order);
	free(labels);
	dl_buf_release(&cj);
	dl_idx_release(&im);
	dl_idx_release(&lb);
	return rc;
}
