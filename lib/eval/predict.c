#include "eval/predict.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int dl_predict_fit(const dl_image *im, dl_shape in, int crop, uint8_t *dst, dl_err *err)
{
	dl_image cropped = { 0 }, sized = { 0 };
	const dl_image *src = im;
	int rc = 0;
	if (im->c != in.c)
		return dl_fail(err, DL_EFAIL, "image has %d channels, the model %d", im->c, in.c);
	if (crop && (long)im->w * in.h != (long)im->h * in.w) {
		rc = dl_image_center_crop(im, in.w, in.h, &cropped, err);
		src = &cropped;
	}
	if (!rc && (src->w != in.w || src->h != in.h)) {
		rc = dl_image_resize(src, in.w, in.h, &sized, err);
		src = &sized;
	}
	if (!rc)
		memcpy(dst, src->px, dl_shape_size(in));
	dl_image_free(&cropped);
	dl_image_free(&sized);
	return rc;
}

int dl_predict_decode(const void *data, size_t len, const char *name,
		      const dl_image_limits *lim, dl_shape in, int crop, uint8_t *dst, dl_err *err)
{
	dl_image im = { 0 };
	int rc = dl_image_decode(data, len, name, lim, in.c, &im, err);
	if (!rc)
		rc = dl_predict_fit(&im, in, crop, dst, err);
	dl_image_free(&im);
	return rc;
}

int dl_predict_load(const char *path, dl_shape in, int crop, uint8_t *dst, dl_err *err)
{
	dl_image im = { 0 };
	int rc = dl_image_load(path, NULL, in.c, &im, err);
	if (!rc)
		rc = dl_predict_fit(&im, in, crop, dst, err);
	dl_image_free(&im);
	return rc;
}

const char *dl_predict_class_name(const dl_json *classes, int i)
{
	if (classes && classes->type == DL_JSON_ARRAY && i >= 0 && (size_t)i < classes->len &&
	    classes->items[i].type == DL_JSON_STRING)
		return classes->items[i].str;
	return NULL;
}

void dl_predict_answer(dl_buf *b, const float *z, int k, int topk, int reg,
		       const dl_json *classes, int json)
{
	if (reg) {
		dl_buf_puts(b, json ? "\"outputs\": [" : "");
		for (int j = 0; j < k; j++)
			dl_buf_printf(b, json ? "%s%.6g" : "%s\t%.6g", json && j ? ", " : "",
				      (double)z[j]);
		dl_buf_puts(b, json ? "]" : "");
		return;
	}
	if (topk > k)
		topk = k;
	if (topk < 1)
		topk = 1;
	double mx = z[0], s = 0;
	for (int j = 1; j < k; j++)
		mx = fmax(mx, z[j]);
	for (int j = 0; j < k; j++)
		s += exp(z[j] - mx);
	unsigned char *taken = calloc((size_t)k, 1);
	if (!taken) {
		b->oom = 1;
		return;
	}
	dl_buf_puts(b, json ? "\"top\": [" : "");
	for (int t = 0; t < topk; t++) {
		int best = -1;   /* t-th largest: the max among the untaken */
		for (int j = 0; j < k; j++)
			if (!taken[j] && !isnan(z[j]) && (best < 0 || z[j] > z[best]))
				best = j;
		if (best < 0)
			break;
		taken[best] = 1;
		double prob = exp(z[best] - mx) / s;
		const char *nm = dl_predict_class_name(classes, best);
		if (json) {
			dl_buf_printf(b, "%s{\"class\": %d, \"name\": ", t ? ", " : "", best);
			if (nm)
				dl_buf_json_string(b, nm);
			else
				dl_buf_puts(b, "null");
			dl_buf_printf(b, ", \"probability\": %.6f}", prob);
		} else if (nm) {
			dl_buf_printf(b, "\t%s\t%.6f", nm, prob);
		} else {
			dl_buf_printf(b, "\t%d\t%.6f", best, prob);
		}
	}
	dl_buf_puts(b, json ? "]" : "");
	free(taken);
}
