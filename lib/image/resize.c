/* Resizing: separable, one axis at a time (rows first, then columns).
 *
 * On an axis that shrinks (out <= in) each output sample is the area
 * average of the input samples its footprint [i*s, (i+1)*s), s = in/out,
 * covers, each weighted by the covered fraction (a box filter; for an
 * integer factor this is PIL's Image.reduce).  On an axis that grows,
 * bilinear interpolation with half-pixel centres: the sample at output i
 * is taken at input coordinate (i + 0.5) * in / out - 0.5, clamped to the
 * edge samples (PIL's BILINEAR when enlarging).  The row pass keeps float
 * intermediates; the column pass rounds half up to 0..255. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/codec.h"

/* For each output index i: taps[i*k .. i*k+n[i]) weights from input index
 * first[i] onwards. */
struct axis {
	int k;
	int *first, *n;
	float *w;
};

static void axis_free(struct axis *a)
{
	free(a->first);
	free(a->n);
	free(a->w);
}

static int axis_init(struct axis *a, int in, int out)
{
	memset(a, 0, sizeof *a);
	double s = (double)in / out;
	a->k = out <= in ? (int)ceil(s) + 1 : 2;
	a->first = calloc((size_t)out, sizeof *a->first);
	a->n = calloc((size_t)out, sizeof *a->n);
	a->w = calloc((size_t)out * (size_t)a->k, sizeof *a->w);
	if (!a->first || !a->n || !a->w) {
		axis_free(a);
		return -1;
	}
	for (int i = 0; i < out; i++) {
		float *w = a->w + (size_t)i * a->k;
		if (out <= in) {
			double lo = i * s, hi = (i + 1) * s;
			int j0 = (int)floor(lo), j1 = (int)ceil(hi);
			if (j1 > in)
				j1 = in;
			a->first[i] = j0;
			for (int j = j0; j < j1 && j - j0 < a->k; j++) {
				double l = j > lo ? j : lo, r = j + 1 < hi ? j + 1 : hi;
				w[a->n[i]++] = (float)((r - l) / s);
			}
		} else {
			double x = (i + 0.5) * s - 0.5;
			int x0 = (int)floor(x);
			double f = x - x0;
			if (x0 < 0) {
				x0 = 0;
				f = 0;
			}
			if (x0 >= in - 1) {
				x0 = in - 1;
				f = 0;
			}
			a->first[i] = x0;
			w[0] = (float)(1 - f);
			a->n[i] = 1;
			if (f > 0) {
				w[1] = (float)f;
				a->n[i] = 2;
			}
		}
	}
	return 0;
}

int dl_image_resize(const dl_image *src, int w, int h, dl_image *out, dl_err *err)
{
	memset(out, 0, sizeof *out);
	if (!src || !src->px || src->w < 1 || src->h < 1 || (src->c != 1 && src->c != 3) ||
	    w < 1 || h < 1 || w > DL_IMAGE_DEFAULT_MAX_SIDE || h > DL_IMAGE_DEFAULT_MAX_SIDE)
		return dl_fail(err, DL_EFAIL, "image resize: bad arguments (to %dx%d)", w, h);
	int c = src->c;
	struct axis ax, ay;
	if (axis_init(&ax, src->w, w)) 
		return dl_fail(err, DL_EFAIL, "image resize: out of memory");
	if (axis_init(&ay, src->h, h)) {
		axis_free(&ax);
		return dl_fail(err, DL_EFAIL, "image resize: out of memory");
	}
	size_t trow = (size_t)w * (size_t)c;
	float *tmp = malloc(sizeof *tmp * trow * (size_t)src->h);
	if (!tmp || dl_image_alloc(out, w, h, c, err)) {
		free(tmp);
		axis_free(&ax);
		axis_free(&ay);
		return dl_fail(err, DL_EFAIL, "image resize: out of memory");
	}
	/* rows: src [h_in, w_in, c] -> tmp [h_in, w, c] */
	for (int y = 0; y < src->h; y++) {
		const uint8_t *s = src->px + (size_t)y * src->w * c;
		float *t = tmp + (size_t)y * trow;
		for (int x = 0; x < w; x++) {
			const float *wt = ax.w + (size_t)x * ax.k;
			const uint8_t *sp = s + (size_t)ax.first[x] * c;
			for (int ch = 0; ch < c; ch++) {
				float acc = 0;
				for (int k = 0; k < ax.n[x]; k++)
					acc += wt[k] * sp[k * c + ch];
				t[x * c + ch] = acc;
			}
		}
	}
	/* columns: tmp [h_in, w, c] -> out [h, w, c] */
	for (int y = 0; y < h; y++) {
		const float *wt = ay.w + (size_t)y * ay.k;
		uint8_t *d = out->px + (size_t)y * trow;
		for (size_t i = 0; i < trow; i++) {
			const float *tp = tmp + (size_t)ay.first[y] * trow + i;
			float acc = 0;
			for (int k = 0; k < ay.n[y]; k++)
				acc += wt[k] * tp[(size_t)k * trow];
			int v = (int)(acc + 0.5f);
			d[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
	}
	free(tmp);
	axis_free(&ax);
	axis_free(&ay);
	return 0;
}
