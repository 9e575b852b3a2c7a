/* Channel conversion and crops. */
#include <string.h>

#include "image/codec.h"

static int valid(const dl_image *im)
{
	return im && im->px && im->w > 0 && im->h > 0 && (im->c == 1 || im->c == 3);
}

int dl_image_convert(const dl_image *src, int c, dl_image *out, dl_err *err)
{
	memset(out, 0, sizeof *out);
	if (!valid(src) || (c != 1 && c != 3))
		return dl_fail(err, DL_EFAIL, "image convert: bad arguments (%d -> %d channels)",
			       src ? src->c : 0, c);
	if (dl_image_alloc(out, src->w, src->h, c, err))
		return DL_EFAIL;
	size_t n = (size_t)src->w * (size_t)src->h;
	const uint8_t *s = src->px;
	uint8_t *d = out->px;
	if (c == src->c) {
		memcpy(d, s, n * (size_t)c);
	} else if (c == 3) {
		for (size_t i = 0; i < n; i++)
			d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = s[i];
	} else {
		/* ITU-R 601-2 luma in PIL's fixed point: weights 299/587/114
		 * scaled to 2^16 (19595 + 38470 + 7471 = 65536), rounded */
		for (size_t i = 0; i < n; i++)
			d[i] = (uint8_t)((s[3 * i] * 19595u + s[3 * i + 1] * 38470u +
					  s[3 * i + 2] * 7471u + 0x8000u) >> 16);
	}
	return 0;
}

int dl_image_crop(const dl_image *src, int x, int y, int w, int h, dl_image *out,
		  dl_err *err)
{
	memset(out, 0, sizeof *out);
	if (!valid(src))
		return dl_fail(err, DL_EFAIL, "image crop: bad source image");
	if (w < 1 || h < 1 || x < 0 || y < 0 || x > src->w - w || y > src->h - h)
		return dl_fail(err, DL_EDATA, "crop %dx%d at (%d,%d) is outside the %dx%d image",
			       w, h, x, y, src->w, src->h);
	if (dl_image_alloc(out, w, h, src->c, err))
		return DL_EFAIL;
	size_t row = (size_t)w * (size_t)src->c;
	for (int r = 0; r < h; r++)
		memcpy(out->px + (size_t)r * row,
		       src->px + ((size_t)(y + r) * (size_t)src->w + (size_t)x) * (size_t)src->c, row);
	return 0;
}

int dl_image_center_crop(const dl_image *src, int w, int h, dl_image *out, dl_err *err)
{
	memset(out, 0, sizeof *out);
	if (!valid(src) || w < 1 || h < 1)
		return dl_fail(err, DL_EFAIL, "image center crop: bad arguments");
	/* the larger of the two fits: full height (source wider) or full width */
	int cw = src->w, ch = src->h;
	if ((int64_t)src->w * h > (int64_t)src->h * w) {
		cw = (int)(((int64_t)src->h * w * 2 + h) / (2 * (int64_t)h));
		if (cw < 1)
			cw = 1;
	} else {
		ch = (int)(((int64_t)src->w * h * 2 + w) / (2 * (int64_t)w));
		if (ch < 1)
			ch = 1;
	}
	return dl_image_crop(src, (src->w - cw) / 2, (src->h - ch) / 2, cw, ch, out, err);
}
