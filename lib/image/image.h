/* Images in memory and the operations dl-prep and dl-eval predict need:
 * decode (PNG via libpng, JPEG via libjpeg-turbo, binary PPM/PGM), convert
 * channels, crop, resize, encode PNG.
 *
 * An image is 8-bit, interleaved, row-major HWC with c = 1 (gray) or 3
 * (RGB); decoders reduce everything else to those (RGBA and gray+alpha
 * drop alpha, palette expands, 16-bit reduces to 8-bit — each decoder
 * documents exactly how, so an independent decoder can be matched).
 * In short (details in png.c, jpeg.c, pnm.c; all match PIL's decoding):
 *   PNG   palette -> RGB; 1/2/4-bit gray scaled to 8; 16-bit -> high byte;
 *         alpha and tRNS dropped (no compositing); gamma/ICC ignored;
 *         interlaced read.  Gray(+alpha) -> c 1, the rest -> c 3.
 *   JPEG  gray -> c 1, YCbCr/RGB -> c 3 (JDCT_ISLOW, fancy upsampling);
 *         CMYK and YCCK are REFUSED (DL_EDATA), not converted; libjpeg
 *         warnings (truncated or corrupt data) are errors.
 *   PNM   binary P5 (c 1) / P6 (c 3), maxval 1..65535 scaled to 0..255 as
 *         round(v * 255 / maxval); plain P1-P4 are not read.
 * A 5x7 bitmap font for labels is in image/font.h.
 *
 * All functions are thread-safe (no shared state) and return 0 or a dl_err
 * code: DL_EDATA for bad/unsupported bytes (message names `name`),
 * DL_EFAIL for out of memory.  Limits guard against decompression bombs:
 * the header's dimensions are checked before any pixel memory is taken. */
#ifndef DL_IMAGE_IMAGE_H
#define DL_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "core/error.h"

typedef struct dl_image {
	int w, h, c;
	uint8_t *px;          /* h * w * c bytes, owned */
} dl_image;

typedef struct dl_image_limits {
	uint64_t max_pixels;  /* w * h; 0: the default (64 Mpx) */
	int max_side;         /* 0: the default (32768) */
} dl_image_limits;

typedef enum { DL_IMG_UNKNOWN = 0, DL_IMG_PNG, DL_IMG_JPEG, DL_IMG_PNM } dl_image_format;

/* The format from the first bytes, or DL_IMG_UNKNOWN. */
dl_image_format dl_image_sniff(const void *data, size_t len);

/* Decodes data (any supported format) into out; want_c = 0 keeps the
 * file's gray/RGB, 1 or 3 converts.  `name` is used in messages. */
int dl_image_decode(const void *data, size_t len, const char *name,
		    const dl_image_limits *lim, int want_c, dl_image *out, dl_err *err);
/* Reads and decodes a file. */
int dl_image_load(const char *path, const dl_image_limits *lim, int want_c, dl_image *out,
		  dl_err *err);
void dl_image_free(dl_image *im);

/* out = src with c channels (gray -> RGB replicates; RGB -> gray uses
 * ITU-R 601-2 luma L = R*299/1000 + G*587/1000 + B*114/1000, as PIL). */
int dl_image_convert(const dl_image *src, int c, dl_image *out, dl_err *err);
/* out = the w x h rectangle at (x, y); it must lie inside src. */
int dl_image_crop(const dl_image *src, int x, int y, int w, int h, dl_image *out,
		  dl_err *err);
/* out = the largest centred crop of src with aspect w:h. */
int dl_image_center_crop(const dl_image *src, int w, int h, dl_image *out, dl_err *err);
/* out = src resized to w x h: area averaging on an axis that shrinks,
 * bilinear (half-pixel centres) on one that grows. */
int dl_image_resize(const dl_image *src, int w, int h, dl_image *out, dl_err *err);

/* PNG encoding (8-bit gray or RGB). dl_image_save_png writes atomically
 * (temp file, fsync, rename). */
int dl_image_encode_png(const dl_image *im, uint8_t **data, size_t *len, dl_err *err);
int dl_image_save_png(const char *path, const dl_image *im, dl_err *err);

#endif
