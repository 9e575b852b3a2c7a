/* dl-prep idx: IDX images [N, H, W] or [N, H, W, C] (u8) and labels [N]
 * (u8 / i8 / i16 / i32) -> dataset file, through the common pipeline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/idx.h"
#include "prep.h"

typedef struct idx_files {
	dl_idx im, lb;        /* the images stay borrowed by the set until the end */
	double ratio;         /* --idx-max-ratio (0: DL_IDX_MAX_RATIO) */
} idx_files;

static int setup_idx(void *cfg, dl_opt *opts)
{
	idx_files *f = cfg;
	opts[0] = (dl_opt)DL_OPT_FLOAT(0, "idx-max-ratio", &f->ratio, "R",
				       "most data bytes per compressed byte of a gzip IDX file (default 100)",
				       DL_ABOVE(0));
	return 1;
}

static int fill_idx(prep_set *s, int npos, char **argv, void *cfg, dl_err *err)
{
	(void)npos;
	idx_files *f = cfg;
	dl_idx *im = &f->im, *lb = &f->lb;
	const char *ipath = argv[1], *lpath = argv[2];
	int rc;
	/* the labels first: a small file whose count the images must match */
	if ((rc = dl_idx_read(lb, lpath, (size_t)1 << 31, f->ratio, err)) ||
	    (rc = dl_idx_read(im, ipath, DL_IDX_MAX_BYTES, f->ratio, err)))
		return rc;
	if (im->type != DL_IDX_U8 || im->ndim < 3 || im->ndim > 4 || (im->ndim == 4 && im->dims[3] > 4))
		return dl_fail(err, DL_EDATA, "%s: expected u8 images [N,H,W] or [N,H,W,C<=4]", ipath);
	if (lb->ndim != 1 || lb->type == DL_IDX_F32 || lb->type == DL_IDX_F64)
		return dl_fail(err, DL_EDATA, "%s: expected integer labels [N]", lpath);
	for (int i = 0; i < im->ndim; i++)
		if (im->dims[i] == 0)
			return dl_fail(err, DL_EDATA, "%s: dimension %d of the images is 0 (%s)", ipath, i,
				       i ? "empty images" : "no images");
	if (lb->dims[0] != im->dims[0])
		return dl_fail(err, DL_EDATA, "%s: %u labels for %u images in %s", lpath, lb->dims[0],
			       im->dims[0], ipath);
	if (im->dims[0] > (uint32_t)INT32_MAX || im->dims[1] > 65535 || im->dims[2] > 65535)
		return dl_fail(err, DL_EDATA, "%s: too many or too large images", ipath);
	size_t n = im->dims[0];
	int h = (int)im->dims[1], w = (int)im->dims[2], c = im->ndim == 4 ? (int)im->dims[3] : 1;
	size_t sample = (size_t)h * w * c;
	int maxl = -1;
	for (size_t i = 0; i < n; i++) {
		long v;
		switch (lb->type) {
		case DL_IDX_U8: v = ((const uint8_t *)lb->data)[i]; break;
		case DL_IDX_I8: v = ((const int8_t *)lb->data)[i]; break;
		case DL_IDX_I16: v = ((const int16_t *)lb->data)[i]; break;
		default: v = ((const int32_t *)lb->data)[i]; break;
		}
		if (v < 0 || v > 1000000)
			return dl_fail(err, DL_EDATA, "%s: label %ld of sample %zu is out of range", lpath,
				       v, i);
		if (v > maxl)
			maxl = (int)v;
		if ((rc = prep_add(s, NULL, (const uint8_t *)im->data + i * sample, w, h, c, (int32_t)v,
				   NULL, NULL, NULL, err)))
			return rc;
	}
	return prep_set_classes_n(s, maxl + 1, err);
}

static void release_idx(void *cfg)
{
	idx_files *f = cfg;
	dl_idx_release(&f->im);
	dl_idx_release(&f->lb);
}

const prep_source prep_src_idx = {
	.name = "idx",
	.args = "IMAGES LABELS",
	.what = "IDX image + label files (MNIST family, raw or .gz)",
	.summary = "Converts an IDX image file (u8 [N,H,W] or [N,H,W,C]; raw or gzip) and an IDX\n"
		   "label file ([N], integer) into a dataset: images U8 [N,H,W,C], labels I32 [N].",
	.footer = "example:\n  dl-prep idx train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz \\\n"
		  "      --classes fashion-mnist --val-fraction 0.1 --val-out val.safetensors -o train.safetensors\n",
	.minpos = 2, .maxpos = 2, .files = 1,
	.cfg_size = sizeof(idx_files),
	.setup = setup_idx,
	.fill = fill_idx,
	.release = release_idx,
};
