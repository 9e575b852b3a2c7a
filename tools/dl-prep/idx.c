/* dl-prep idx: IDX images [N, H, W] or [N, H, W, C] (u8) and labels [N]
 * (u8 / i8 / i16 / i32) -> dataset file, through the common pipeline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/opt.h"
#include "io/idx.h"
#include "prep.h"
#include "core/guard.h"
#include "set.h"

int dl_prep_idx_main(int argc, char **argv)
{
	prep_opts o;
	prep_opts_defaults(&o);
	dl_opt opts[40];
	prep_opt_table(&o, NULL, opts, 40);
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
	prep_set s;
	dl_guard g = { 0 };
	prep_set_init(&s);
	if ((rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err)))
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-prep", &err);
	if (npos != 2) {
		rc = dl_fail(&err, DL_EUSAGE, "idx: expected IMAGES and LABELS files, got %d arguments", npos);
		goto fail;
	}
	if ((rc = prep_opts_check(&o, "idx", &err)) || (rc = prep_guard(&g, &o, 2, argv, &err)))
		goto fail;
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
	if (im.dims[0] > (uint32_t)INT32_MAX || im.dims[1] > 65535 || im.dims[2] > 65535) {
		rc = dl_fail(&err, DL_EDATA, "%s: too many or too large images", ipath);
		goto fail;
	}
	size_t n = im.dims[0];
	int h = (int)im.dims[1], w = (int)im.dims[2], c = im.ndim == 4 ? (int)im.dims[3] : 1;
	size_t sample = (size_t)h * w * c;
	snprintf(s.source, sizeof s.source, "idx %s %s", ipath, lpath);
	int maxl = -1;
	for (size_t i = 0; i < n; i++) {
		long v;
		switch (lb.type) {
		case DL_IDX_U8: v = ((const uint8_t *)lb.data)[i]; break;
		case DL_IDX_I8: v = ((const int8_t *)lb.data)[i]; break;
		case DL_IDX_I16: v = ((const int16_t *)lb.data)[i]; break;
		default: v = ((const int32_t *)lb.data)[i]; break;
		}
		if (v < 0 || v > 1000000) {
			rc = dl_fail(&err, DL_EDATA, "%s: label %ld of sample %zu is out of range", lpath, v, i);
			goto fail;
		}
		if (v > maxl)
			maxl = (int)v;
		if ((rc = prep_add(&s, NULL, (const uint8_t *)im.data + i * sample, w, h, c, (int32_t)v,
				   NULL, NULL, NULL, &err)))
			goto fail;
	}
	if ((rc = prep_set_classes_n(&s, maxl + 1, &err)) ||
	    (rc = prep_classes_option(&s, o.classes, &err)) || (rc = prep_run(&s, &o, &err)))
		goto fail;
	rc = 0;
	goto out;
fail:
	rc = dl_tool_fail("dl-prep", &err);
out:
	dl_guard_end(&g);
	prep_set_release(&s);
	dl_idx_release(&im);
	dl_idx_release(&lb);
	return rc;
}
