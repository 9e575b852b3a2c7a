/* lib/image: round trips, crops, conversion, limits, and bad input
 * (truncated, corrupt CRC, decompression bombs) for every decoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <zlib.h>

#include "image/font.h"
#include "image/image.h"
#include "test.h"

static dl_image pattern(int w, int h, int c)
{
	dl_image im = { w, h, c, malloc((size_t)w * h * c) };
	for (int i = 0; i < w * h * c; i++)
		im.px[i] = (uint8_t)(i * 7 + (i / (w * c)) * 13);
	return im;
}

/* A JPEG made with libjpeg (quality 90); components 1, 3 or 4 (CMYK). */
static unsigned char *make_jpeg(int w, int h, int comps, unsigned long *len)
{
	struct jpeg_compress_struct ci;
	struct jpeg_error_mgr jerr;
	unsigned char *buf = NULL;
	ci.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&ci);
	jpeg_mem_dest(&ci, &buf, len);
	ci.image_width = (JDIMENSION)w;
	ci.image_height = (JDIMENSION)h;
	ci.input_components = comps;
	ci.in_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
	jpeg_set_defaults(&ci);
	jpeg_set_quality(&ci, 90, TRUE);
	jpeg_start_compress(&ci, TRUE);
	unsigned char *row = malloc((size_t)w * comps);
	while (ci.next_scanline < ci.image_height) {
		for (int x = 0; x < w * comps; x++)
			row[x] = (unsigned char)(x * 3 + ci.next_scanline * 5);
		jpeg_write_scanlines(&ci, &row, 1);
	}
	jpeg_finish_compress(&ci);
	jpeg_destroy_compress(&ci);
	free(row);
	return buf;
}

static int decode(const void *d, size_t n, int want_c, dl_image *im, dl_err *err)
{
	/* an exact-size copy so ASan sees any read past the end */
	void *copy = malloc(n ? n : 1);
	memcpy(copy, d, n);
	int rc = dl_image_decode(copy, n, "img", NULL, want_c, im, err);
	free(copy);
	return rc;
}

TEST(image_png_roundtrip_gray_rgb)
{
	for (int c = 1; c <= 3; c += 2) {
		dl_image a = pattern(37, 21, c), b;
		uint8_t *png;
		size_t len;
		dl_err err = { 0 };
		CHECK_INT(dl_image_encode_png(&a, &png, &len, &err), 0);
		CHECK_INT(dl_image_sniff(png, len), DL_IMG_PNG);
		CHECK_INT(decode(png, len, 0, &b, &err), 0);
		CHECK(b.w == 37 && b.h == 21 && b.c == c);
		CHECK(b.px && !memcmp(a.px, b.px, (size_t)37 * 21 * c));
		dl_image_free(&b);
		/* want_c converts */
		CHECK_INT(decode(png, len, 4 - c, &b, &err), 0);
		CHECK_INT(b.c, 4 - c);
		dl_image_free(&b);
		free(png);
		dl_image_free(&a);
	}
}

TEST(image_save_png_atomic)
{
	char path[512];
	snprintf(path, sizeof path, "%s/saved.png", dl_test_tmpdir());
	dl_image a = pattern(5, 4, 3), b;
	dl_err err = { 0 };
	CHECK_INT(dl_image_save_png(path, &a, &err), 0);
	CHECK_INT(dl_image_load(path, NULL, 0, &b, &err), 0);
	CHECK(b.px && !memcmp(a.px, b.px, 60));
	dl_image_free(&b);
	snprintf(path, sizeof path, "%s/no/such/dir/x.png", dl_test_tmpdir());
	CHECK_INT(dl_image_save_png(path, &a, &err), DL_EIO);
	CHECK_INT(dl_image_load(path, NULL, 0, &b, &err), DL_EIO);
	CHECK_STR_HAS(err.msg, path);
	dl_image_free(&a);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

TEST(image_png_bad_input)
{
	dl_image a = pattern(40, 30, 3), b;
	uint8_t *png;
	size_t len;
	dl_err err = { 0 };
	CHECK_INT(dl_image_encode_png(&a, &png, &len, &err), 0);
	/* every truncation is refused, with the name */
	for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 37)) {
		err.msg[0] = 0;
		int rc = decode(png, cut, 0, &b, &err);
		if (rc != DL_EDATA)
			fprintf(stderr, "  cut %zu: rc %d\n", cut, rc);
		CHECK_INT(rc, DL_EDATA);
		CHECK_STR_HAS(err.msg, "img");
		CHECK(b.px == NULL);
	}
	/* a flipped bit in the IHDR CRC, then in the IDAT CRC */
	uint8_t *bad = malloc(len);
	memcpy(bad, png, len);
	bad[29] ^= 0x40;
	CHECK_INT(decode(bad, len, 0, &b, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "img: bad PNG");
	CHECK_STR_HAS(err.msg, "CRC");
	memcpy(bad, png, len);
	size_t idat = 8 + 25;
	CHECK(!memcmp(bad + idat + 4, "IDAT", 4));
	bad[idat + 8 + be32(bad + idat)] ^= 0x01;
	CHECK_INT(decode(bad, len, 0, &b, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "CRC");
	/* a flipped byte inside the compressed data */
	memcpy(bad, png, len);
	bad[idat + 8 + 10] ^= 0x40;
	CHECK_INT(decode(bad, len, 0, &b, &err), DL_EDATA);
	/* a bomb: IHDR says 30000 x 30000 (CRC made valid) */
	memcpy(bad, png, len);
	put_be32(bad + 16, 30000);
	put_be32(bad + 20, 30000);
	put_be32(bad + 29, (uint32_t)crc32(0, bad + 12, 17));
	CHECK_INT(be32(bad + 8), 13);
	CHECK_INT(decode(bad, len, 0, &b, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "exceeds the limit");
	CHECK_STR_HAS(err.msg, "30000x30000");
	/* and a caller's tighter limit */
	dl_image_limits lim = { 100, 0 };
	CHECK_INT(dl_image_decode(png, len, "small", &lim, 0, &b, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "small: PNG image 40x30 exceeds");
	free(bad);
	free(png);
	dl_image_free(&a);
}

TEST(image_jpeg_decode_and_bad_input)
{
	unsigned long len = 0;
	unsigned char *jpg = make_jpeg(48, 40, 3, &len);
	dl_image b;
	dl_err err = { 0 };
	CHECK_INT(dl_image_sniff(jpg, len), DL_IMG_JPEG);
	CHECK_INT(decode(jpg, len, 0, &b, &err), 0);
	CHECK(b.w == 48 && b.h == 40 && b.c == 3);
	dl_image_free(&b);
	for (size_t cut = 0; cut < len - 2; cut += (cut < 64 ? 1 : 29)) {
		int rc = decode(jpg, cut, 0, &b, &err);
		CHECK_INT(rc, DL_EDATA);
		CHECK_STR_HAS(err.msg, "img");
		CHECK(b.px == NULL);
	}
	/* bomb: the SOF0 frame header claims 65000 x 65000 */
	size_t i;
	for (i = 2; i + 9 < len && !(jpg[i] == 0xff && jpg[i + 1] == 0xc0); i++)
		;
	CHECK(i + 9 < len);
	if (i + 9 < len) {
		jpg[i + 5] = jpg[i + 7] = 0xfd;
		jpg[i + 6] = jpg[i + 8] = 0xe8;
		CHECK_INT(decode(jpg, len, 0, &b, &err), DL_EDATA);
		CHECK_STR_HAS(err.msg, "img: JPEG image 65000x65000 exceeds the limit");
	}
	free(jpg);
	jpg = make_jpeg(16, 8, 1, &len);
	CHECK_INT(decode(jpg, len, 0, &b, &err), 0);
	CHECK(b.w == 16 && b.h == 8 && b.c == 1);
	dl_image_free(&b);
	free(jpg);
	jpg = make_jpeg(16, 8, 4, &len);
	CHECK_INT(decode(jpg, len, 0, &b, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "img: CMYK/YCCK JPEG is not supported");
	free(jpg);
}

TEST(image_pnm_decode_and_bad_input)
{
	dl_image b;
	dl_err err = { 0 };
	static const char p6[] = "P6\n# c\n2 1\n255\n\x01\x02\x03\xfa\xfb\xfc";
	CHECK_INT(decode(p6, sizeof p6 - 1, 0, &b, &err), 0);
	CHECK(b.w == 2 && b.h == 1 && b.c == 3 && b.px[5] == 0xfc);
	dl_image_free(&b);
	/* maxval 3 scales 0..3 to 0, 85, 170, 255; above maxval counts as maxval */
	static const char p5[] = "P5 5 1 3 \x00\x01\x02\x03\x09";
	CHECK_INT(decode(p5, sizeof p5 - 1, 0, &b, &err), 0);
	CHECK(b.c == 1 && b.px[1] == 85 && b.px[2] == 170 && b.px[3] == 255 && b.px[4] == 255);
	dl_image_free(&b);
	/* 16-bit: 0x8000 of 65535 -> round(32768 * 255 / 65535) = 128 */
	static const char p16[] = "P5 1 1 65535\n\x80\x00";
	CHECK_INT(decode(p16, sizeof p16 - 1, 0, &b, &err), 0);
	CHECK(b.px && b.px[0] == 128);
	dl_image_free(&b);
	for (size_t cut = 0; cut < sizeof p6 - 1; cut++) {
		CHECK_INT(decode(p6, cut, 0, &b, &err), DL_EDATA);
		CHECK(b.px == NULL);
	}
	CHECK_STR_HAS(err.msg, "img: truncated raster");
	const char *bad[] = { "P6 1 1 0 \x01\x01\x01", "P6 1 1 65536 ", "P6 -1 1 255 ",
			      "P6 99999999999 1 255 ", "P6 40000 40000 255 ", "P61 1 255 xxx",
			      "P6 0 1 255 " };
	for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
		CHECK_INT(decode(bad[k], strlen(bad[k]), 0, &b, &err), DL_EDATA);
		CHECK_STR_HAS(err.msg, "img: ");
	}
	CHECK_STR_HAS(err.msg, "zero size");
	CHECK_INT(decode("GIF89a", 6, 0, &b, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "img: not a PNG, JPEG or binary PPM/PGM image");
}

TEST(image_convert_crop)
{
	dl_image rgb = { 2, 1, 3, (uint8_t[]){ 255, 0, 0, 10, 200, 30 } }, g, back, cr;
	dl_err err = { 0 };
	CHECK_INT(dl_image_convert(&rgb, 1, &g, &err), 0);
	/* PIL: (255*19595 + 0x8000) >> 16 = 76; (10*19595 + 200*38470 + 30*7471 + 0x8000) >> 16 = 124 */
	CHECK(g.c == 1 && g.px[0] == 76 && g.px[1] == 124);
	CHECK_INT(dl_image_convert(&g, 3, &back, &err), 0);
	CHECK(back.px[3] == 124 && back.px[4] == 124 && back.px[5] == 124);
	dl_image_free(&g);
	dl_image_free(&back);
	dl_image p = pattern(10, 6, 3);
	CHECK_INT(dl_image_crop(&p, 3, 2, 4, 3, &cr, &err), 0);
	CHECK(cr.w == 4 && cr.h == 3 && !memcmp(cr.px, p.px + (2 * 10 + 3) * 3, 12) &&
	      !memcmp(cr.px + 24, p.px + (4 * 10 + 3) * 3, 12));
	dl_image_free(&cr);
	CHECK_INT(dl_image_crop(&p, 7, 0, 4, 1, &cr, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "outside the 10x6 image");
	CHECK_INT(dl_image_crop(&p, 0, 0, 0, 1, &cr, &err), DL_EDATA);
	/* centre crop to 1:1 of 10x6 is the middle 6x6 */
	CHECK_INT(dl_image_center_crop(&p, 1, 1, &cr, &err), 0);
	CHECK(cr.w == 6 && cr.h == 6 && !memcmp(cr.px, p.px + 2 * 3, 18));
	dl_image_free(&cr);
	/* to 10:3 it is the middle 10x3 rows 1..3 */
	CHECK_INT(dl_image_center_crop(&p, 10, 3, &cr, &err), 0);
	CHECK(cr.w == 10 && cr.h == 3 && !memcmp(cr.px, p.px + 10 * 3, 90));
	dl_image_free(&cr);
	dl_image_free(&p);
}

TEST(image_resize_basics)
{
	dl_image p = pattern(9, 7, 3), r;
	dl_err err = { 0 };
	/* same size is the identity */
	CHECK_INT(dl_image_resize(&p, 9, 7, &r, &err), 0);
	CHECK(!memcmp(r.px, p.px, 9 * 7 * 3));
	dl_image_free(&r);
	/* a constant image stays constant whichever way it is resized */
	memset(p.px, 77, 9 * 7 * 3);
	int sizes[][2] = { { 1, 1 }, { 4, 3 }, { 30, 2 }, { 2, 40 }, { 100, 100 } };
	for (int k = 0; k < 5; k++) {
		CHECK_INT(dl_image_resize(&p, sizes[k][0], sizes[k][1], &r, &err), 0);
		int same = r.w == sizes[k][0] && r.h == sizes[k][1];
		for (int i = 0; same && i < r.w * r.h * 3; i++)
			same = r.px[i] == 77;
		CHECK(same);
		dl_image_free(&r);
	}
	/* 2x2 -> 1x1 is the mean, halves rounded up: (0 + 1 + 1 + 1) / 4 = 0.75 -> 1 */
	dl_image q = { 2, 2, 1, (uint8_t[]){ 0, 1, 1, 1 } };
	CHECK_INT(dl_image_resize(&q, 1, 1, &r, &err), 0);
	CHECK_INT(r.px[0], 1);
	dl_image_free(&r);
	CHECK_INT(dl_image_resize(&q, 0, 1, &r, &err), DL_EFAIL);
	dl_image_free(&p);
}

/* counts pixels equal to v */
static int count_px(const dl_image *im, uint8_t v)
{
	int n = 0;
	for (int i = 0; i < im->w * im->h * im->c; i++)
		n += im->px[i] == v;
	return n;
}

TEST(image_font_draws_glyphs)
{
	uint8_t buf[40 * 20];
	dl_image im = { 40, 20, 1, buf };
	const uint8_t white = 255;
	CHECK_INT(dl_font_text_width("", 1), 0);
	CHECK_INT(dl_font_text_width("AB", 1), 11);
	CHECK_INT(dl_font_text_width("AB", 2), 22);
	CHECK_INT(dl_font_glyphs("caf\xc3\xa9"), 4);
	/* "1" has 10 lit pixels (1 + 2 + 1 + 1 + 1 + 1 + 3), 40 at scale 2 */
	memset(buf, 0, sizeof buf);
	dl_font_draw(&im, 1, 1, "1", 1, &white);
	CHECK_INT(count_px(&im, 255), 10);
	CHECK(buf[1 * 40 + 1 + 2] == 255 && buf[1 * 40 + 1] == 0);   /* the top pixel of "1" */
	memset(buf, 0, sizeof buf);
	dl_font_draw(&im, 0, 0, "1", 2, &white);
	CHECK_INT(count_px(&im, 255), 40);
	/* lowercase is drawn as uppercase; unknown characters as '?' */
	uint8_t a[40 * 20];
	memset(buf, 0, sizeof buf);
	dl_font_draw(&im, 0, 0, "shirt", 1, &white);
	memcpy(a, buf, sizeof a);
	memset(buf, 0, sizeof buf);
	dl_font_draw(&im, 0, 0, "SHIRT", 1, &white);
	CHECK(!memcmp(a, buf, sizeof a));
	memset(buf, 0, sizeof buf);
	dl_font_draw(&im, 0, 0, "\x01", 1, &white);
	memcpy(a, buf, sizeof a);
	memset(buf, 0, sizeof buf);
	dl_font_draw(&im, 0, 0, "?", 1, &white);
	CHECK(!memcmp(a, buf, sizeof a) && count_px(&im, 255) > 0);
	/* clipped at every edge, no write outside */
	memset(buf, 0, sizeof buf);
	dl_font_draw(&im, -3, -4, "W", 3, &white);
	dl_font_draw(&im, 38, 17, "W", 3, &white);
	CHECK(count_px(&im, 255) > 0);
}
