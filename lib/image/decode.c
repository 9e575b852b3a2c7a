/* Format sniffing, dispatch to the decoders, loading files, limits. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/readall.h"
#include "image/codec.h"

/* Files larger than this are refused before reading (no image we decode
 * needs more compressed bytes than pixels, and the pixel limit is 64 Mpx). */
#define DL_IMAGE_MAX_FILE ((size_t)1 << 30)

dl_image_format dl_image_sniff(const void *data, size_t len)
{
	const unsigned char *p = data;
	static const unsigned char png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	if (len >= 8 && !memcmp(p, png_sig, 8))
		return DL_IMG_PNG;
	if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
		return DL_IMG_JPEG;
	if (len >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '6'))
		return DL_IMG_PNM;
	return DL_IMG_UNKNOWN;
}

int dl_image_check_dims(const char *name, const char *fmt, uint64_t w, uint64_t h,
			const dl_image_limits *lim, dl_err *err)
{
	uint64_t maxpx = lim && lim->max_pixels ? lim->max_pixels : DL_IMAGE_DEFAULT_MAX_PIXELS;
	uint64_t maxside = lim && lim->max_side > 0 ? (uint64_t)lim->max_side
						    : DL_IMAGE_DEFAULT_MAX_SIDE;
	if (w == 0 || h == 0)
		return dl_fail(err, DL_EDATA, "%s: %s image has zero size (%llux%llu)", name, fmt,
			       (unsigned long long)w, (unsigned long long)h);
	if (w > maxside || h > maxside || w * h > maxpx)
		return dl_fail(err, DL_EDATA,
			       "%s: %s image %llux%llu exceeds the limit (%llu pixels, side %llu)",
			       name, fmt, (unsigned long long)w, (unsigned long long)h,
			       (unsigned long long)maxpx, (unsigned long long)maxside);
	return 0;
}

int dl_image_alloc(dl_image *out, int w, int h, int c, dl_err *err)
{
	memset(out, 0, sizeof *out);
	out->px = malloc((size_t)w * (size_t)h * (size_t)c);
	if (!out->px)
		return dl_fail(err, DL_EFAIL, "out of memory for a %dx%dx%d image", w, h, c);
	out->w = w;
	out->h = h;
	out->c = c;
	return 0;
}

void dl_image_free(dl_image *im)
{
	if (!im)
		return;
	free(im->px);
	memset(im, 0, sizeof *im);
}

int dl_image_decode(const void *data, size_t len, const char *name,
		    const dl_image_limits *lim, int want_c, dl_image *out, dl_err *err)
{
	memset(out, 0, sizeof *out);
	if (want_c != 0 && want_c != 1 && want_c != 3)
		return dl_fail(err, DL_EFAIL, "%s: cannot decode to %d channels", name, want_c);
	int rc;
	switch (dl_image_sniff(data, len)) {
	case DL_IMG_PNG:
		rc = dl_image_decode_png(data, len, name, lim, out, err);
		break;
	case DL_IMG_JPEG:
		rc = dl_image_decode_jpeg(data, len, name, lim, out, err);
		break;
	case DL_IMG_PNM:
		rc = dl_image_decode_pnm(data, len, name, lim, out, err);
		break;
	default:
		return dl_fail(err, DL_EDATA, "%s: not a PNG, JPEG or binary PPM/PGM image", name);
	}
	if (rc || !want_c || want_c == out->c)
		return rc;
	dl_image conv;
	rc = dl_image_convert(out, want_c, &conv, err);
	dl_image_free(out);
	if (!rc)
		*out = conv;
	return rc;
}

int dl_image_load(const char *path, const dl_image_limits *lim, int want_c, dl_image *out,
		  dl_err *err)
{
	memset(out, 0, sizeof *out);
	int fd = dl_open_regular(path, NULL, err);   /* a FIFO must not hang predict */
	if (fd < 0)
		return err->code;
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc = dl_read_all(fd, path, DL_IMAGE_MAX_FILE, &buf, &len, err);
	close(fd);
	if (rc)
		return rc;
	rc = dl_image_decode(buf, len, path, lim, want_c, out, err);
	free(buf);
	return rc;
}
