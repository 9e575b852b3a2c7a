/* Binary PGM (P5) and PPM (P6) decoding, per the netpbm spec.
 *
 * Header: magic, width, height, maxval as ASCII decimals separated by
 * whitespace, with '#' comments to the end of a line allowed between them,
 * then exactly one whitespace byte, then the raster.  maxval 1..65535:
 * below 256 one byte per sample, else two (big-endian).  Samples are
 * scaled to 0..255 as round(v * 255 / maxval), halves rounded up, and a
 * sample above maxval counts as maxval (maxval 255 copies bytes as they
 * are).  PIL computes round(v / maxval * 255) with halves to even, so the
 * two can differ by 1 exactly where v * 510 is an odd multiple of maxval.
 * P5 gives c = 1, P6 c = 3.  A raster shorter than the header says is
 * DL_EDATA; bytes after the first image are ignored (netpbm allows several
 * images in one file; we read the first).  Plain (ASCII) P1-P3 and
 * bitmaps (P4) are not supported. */
#include <string.h>

#include "image/codec.h"

static int is_space(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Skips whitespace and comments, then reads a decimal number <= 2^31 - 1. */
static int read_num(const unsigned char *p, size_t len, size_t *pos, unsigned long *out)
{
	size_t i = *pos;
	for (;;) {
		while (i < len && is_space(p[i]))
			i++;
		if (i < len && p[i] == '#') {
			while (i < len && p[i] != '\n' && p[i] != '\r')
				i++;
			continue;
		}
		break;
	}
	if (i >= len || p[i] < '0' || p[i] > '9')
		return -1;
	unsigned long v = 0;
	while (i < len && p[i] >= '0' && p[i] <= '9') {
		v = v * 10 + (unsigned long)(p[i] - '0');
		if (v > 0x7fffffffUL)
			return -1;
		i++;
	}
	*pos = i;
	*out = v;
	return 0;
}

int dl_image_decode_pnm(const void *data, size_t len, const char *name,
			const dl_image_limits *lim, dl_image *out, dl_err *err)
{
	const unsigned char *p = data;
	memset(out, 0, sizeof *out);
	if (len < 2 || p[0] != 'P' || (p[1] != '5' && p[1] != '6'))
		return dl_fail(err, DL_EDATA, "%s: not a binary PGM/PPM (P5/P6) file", name);
	int c = p[1] == '5' ? 1 : 3;
	size_t pos = 2;
	unsigned long w, h, maxval;
	if (pos >= len || !is_space(p[pos]) || read_num(p, len, &pos, &w) ||
	    read_num(p, len, &pos, &h) || read_num(p, len, &pos, &maxval))
		return dl_fail(err, DL_EDATA, "%s: bad P%c header (expected width, height, maxval)",
			       name, p[1]);
	if (maxval < 1 || maxval > 65535)
		return dl_fail(err, DL_EDATA, "%s: bad maxval %lu (must be 1..65535)", name, maxval);
	if (pos >= len || !is_space(p[pos]))
		return dl_fail(err, DL_EDATA, "%s: no whitespace after the P%c header", name, p[1]);
	pos++;
	if (dl_image_check_dims(name, p[1] == '5' ? "PGM" : "PPM", w, h, lim, err))
		return DL_EDATA;
	size_t bps = maxval < 256 ? 1 : 2;
	size_t n = (size_t)w * h * (size_t)c;
	if (len - pos < n * bps)
		return dl_fail(err, DL_EDATA, "%s: truncated raster: %zu bytes, expected %zu", name,
			       len - pos, n * bps);
	if (dl_image_alloc(out, (int)w, (int)h, c, err))
		return DL_EFAIL;
	const unsigned char *s = p + pos;
	if (bps == 1 && maxval == 255) {
		memcpy(out->px, s, n);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned long v = bps == 1 ? s[i] : ((unsigned long)s[2 * i] << 8) | s[2 * i + 1];
		if (v > maxval)
			v = maxval;
		out->px[i] = (uint8_t)((v * 255 + maxval / 2) / maxval);
	}
	return 0;
}
