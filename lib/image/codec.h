/* Internal to lib/image: one decoder per format, and the shared checks.
 * Each decoder fills out with c = 1 or 3 (its own documented reduction)
 * and leaves out zeroed on failure. */
#ifndef DL_IMAGE_CODEC_H
#define DL_IMAGE_CODEC_H

#include "image/image.h"

#define DL_IMAGE_DEFAULT_MAX_PIXELS ((uint64_t)64 << 20)
#define DL_IMAGE_DEFAULT_MAX_SIDE 32768

/* DL_EDATA "<name>: <fmt> image WxH exceeds the limit ..." unless
 * 1 <= w, h <= max side and w * h <= max pixels. */
int dl_image_check_dims(const char *name, const char *fmt, uint64_t w, uint64_t h,
			const dl_image_limits *lim, dl_err *err);
/* Allocates out->px for w x h x c (dimensions already checked). */
int dl_image_alloc(dl_image *out, int w, int h, int c, dl_err *err);

int dl_image_decode_png(const void *data, size_t len, const char *name,
			const dl_image_limits *lim, dl_image *out, dl_err *err);
int dl_image_decode_jpeg(const void *data, size_t len, const char *name,
			 const dl_image_limits *lim, dl_image *out, dl_err *err);
int dl_image_decode_pnm(const void *data, size_t len, const char *name,
			const dl_image_limits *lim, dl_image *out, dl_err *err);

#endif
