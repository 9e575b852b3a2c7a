/* IDX reader: every element type, gzip, and malformed files. */
#include "test.h"

#include "io/idx.h"

#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

/* An IDX image: header for (type, ndim, dims), then `payload` bytes as
 * given (already big-endian). */
static unsigned char *mk(int type, int ndim, const uint32_t *dims, const void *payload,
			 size_t plen, size_t *size)
{
	*size = 4 + 4 * (size_t)ndim + plen;
	unsigned char *p = malloc(*size ? *size : 1);
	p[0] = 0;
	p[1] = 0;
	p[2] = (unsigned char)type;
	p[3] = (unsigned char)ndim;
	for (int i = 0; i < ndim; i++) {
		p[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
		p[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
		p[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
		p[7 + 4 * i] = (unsigned char)dims[i];
	}
	if (plen)
		memcpy(p + 4 + 4 * ndim, payload, plen);
	return p;
}

/* Big-endian bytes of an n-byte value. */
static void put_be(unsigned char *o, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		o[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
}

static char *tmp_path(const char *name)
{
	const char *d = dl_test_tmpdir();
	size_t n = strlen(d) + strlen(name) + 2;
	char *p = malloc(n);
	snprintf(p, n, "%s/%s", d, name);
	return p;
}

static int write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	int ok = fwrite(p, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int write_gz(const char *path, const void *p, size_t n)
{
	gzFile g = gzopen(path, "wb");
	if (!g)
		return -1;
	int ok = n == 0 || gzwrite(g, p, (unsigned)n) == (int)n;
	return gzclose(g) == Z_OK && ok ? 0 : -1;
}

static unsigned char *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *p = malloc(len > 0 ? (size_t)len : 1);
	*n = fread(p, 1, (size_t)len, f);
	fclose(f);
	return p;
}

static int parse(const void *p, size_t n, size_t max, dl_idx *x, dl_err *err)
{
	err->msg[0] = '\0';
	return dl_idx_parse(x, p, n, "x.idx", max, 0, err);
}

TEST(idx_u8_and_i8)
{
	uint32_t dims[3] = { 2, 3, 4 };
	unsigned char pay[24];
	for (int i = 0; i < 24; i++)
		pay[i] = (unsigned char)(i * 11);
	size_t n;
	unsigned char *p = mk(0x08, 3, dims, pay, 24, &n);
	dl_idx x;
	dl_err err;
	CHECK_INT(parse(p, n, DL_IDX_MAX_BYTES, &x, &err), 0);
	CHECK_INT(x.type, DL_IDX_U8);
	CHECK_INT(x.ndim, 3);
	CHECK_INT(x.dims[0], 2);
	CHECK_INT(x.dims[1], 3);
	CHECK_INT(x.dims[2], 4);
	CHECK_INT(x.count, 24);
	CHECK_INT(x.elem_size, 1);
	CHECK(x.data && !memcmp(x.data, pay, 24));
	dl_idx_release(&x);
	CHECK(x.data == NULL && x.count == 0);
	dl_idx_release(&x);
	free(p);

	int8_t s[4] = { -128, -1, 0, 127 };
	uint32_t d1[1] = { 4 };
	p = mk(0x09, 1, d1, s, 4, &n);
	CHECK_INT(parse(p, n, DL_IDX_MAX_BYTES, &x, &err), 0);
	CHECK_INT(x.type, DL_IDX_I8);
	CHECK(x.data && ((int8_t *)x.data)[0] == -128 && ((int8_t *)x.data)[3] == 127);
	dl_idx_release(&x);
	free(p);
}

TEST(idx_wide_types_big_endian)
{
	int16_t i16[3] = { -2, 0x1234, 32767 };
	int32_t i32[3] = { -70000, 0x12345678, -1 };
	float f32[3] = { 1.5f, -0.0f, 3.4e38f };
	double f64[3] = { 3.141592653589793, -1e-300, 2.0 };
	const struct {
		int type;
		const void *vals;
		int es;
	} cases[4] = {
		{ 0x0B, i16, 2 }, { 0x0C, i32, 4 }, { 0x0D, f32, 4 }, { 0x0E, f64, 8 },
	};
	for (int c = 0; c < 4; c++) {
		unsigned char pay[24];
		for (int i = 0; i < 3; i++) {
			uint64_t v = 0;
			if (cases[c].es == 2) {
				uint16_t u;
				memcpy(&u, (const char *)cases[c].vals + 2 * i, 2);
				v = u;
			} else if (cases[c].es == 4) {
				uint32_t u;
				memcpy(&u, (const char *)cases[c].vals + 4 * i, 4);
				v = u;
			} else {
				memcpy(&v, (const char *)cases[c].vals + 8 * i, 8);
			}
			put_be(pay + cases[c].es * i, v, cases[c].es);
		}
		uint32_t dims[2] = { 1, 3 };
		size_t n;
		unsigned char *p = mk(cases[c].type, 2, dims, pay, 3 * (size_t)cases[c].es, &n);
		dl_idx x;
		dl_err err;
		CHECK_INT(parse(p, n, DL_IDX_MAX_BYTES, &x, &err), 0);
		CHECK_INT(x.type, cases[c].type);
		CHECK_INT(x.elem_size, cases[c].es);
		CHECK_INT(x.count, 3);
		CHECK(x.data && !memcmp(x.data, cases[c].vals, 3 * (size_t)cases[c].es));
		dl_idx_release(&x);
		free(p);
	}
	/* spot check against hand-written bytes */
	unsigned char be[4] = { 0x12, 0x34, 0x56, 0x78 };
	uint32_t d1[1] = { 1 };
	size_t n;
	unsigned char *p = mk(0x0C, 1, d1, be, 4, &n);
	dl_idx x;
	dl_err err;
	CHECK_INT(parse(p, n, DL_IDX_MAX_BYTES, &x, &err), 0);
	CHECK(x.data && ((int32_t *)x.data)[0] == 0x12345678);
	dl_idx_release(&x);
	free(p);
}

TEST(idx_header_errors)
{
	uint32_t dims[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	unsigned char pay[1] = { 5 };
	dl_idx x;
	dl_err err;
	size_t n;
	unsigned char *p = mk(0x08, 1, dims, pay, 1, &n);
	CHECK_INT(parse(p, n, DL_IDX_MAX_BYTES, &x, &err), 0);
	dl_idx_release(&x);
	p[0] = 1;   /* wrong magic */
	CHECK_INT(parse(p, n, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "x.idx: not an idx file: bad magic");
	CHECK(x.data == NULL);
	p[0] = 0;
	p[1] = 8;
	CHECK_INT(parse(p, n, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "bad magic");
	p[1] = 0;
	const int bad_types[] = { 0x00, 0x07, 0x0A, 0x0F, 0xFF };
	for (int i = 0; i < 5; i++) {
		p[2] = (unsigned char)bad_types[i];
		CHECK_INT(parse(p, n, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
		CHECK_STR_HAS(err.msg, "x.idx: not an idx file: unknown element type");
	}
	free(p);
	/* ndim 0 and too large */
	p = mk(0x08, 0, dims, pay, 1, &n);
	CHECK_INT(parse(p, n, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "x.idx: bad idx header: 0 dimensions");
	free(p);
	p = mk(0x08, 9, dims, pay, 1, &n);
	CHECK_INT(parse(p, n, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "9 dimensions (expected 1 to 8)");
	free(p);
	p = mk(0x08, 8, dims, pay, 1, &n);
	CHECK_INT(parse(p, n, DL_IDX_MAX_BYTES, &x, &err), 0);
	CHECK_INT(x.ndim, 8);
	dl_idx_release(&x);
	free(p);
	/* header itself truncated */
	p = mk(0x08, 3, dims, pay, 0, &n);
	CHECK_INT(parse(p, 3, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "x.idx: truncated");
	CHECK_INT(parse(p, 0, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "truncated");
	CHECK_INT(parse(p, 10, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "x.idx: truncated: expected 16 bytes of header, got 10");
	free(p);
}

TEST(idx_overflow_and_cap)
{
	uint32_t big[8] = { 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu,
			    0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu };
	dl_idx x;
	dl_err err;
	size_t n;
	unsigned char *p = mk(0x08, 8, big, NULL, 0, &n);
	CHECK_INT(parse(p, n, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "element count overflows");
	free(p);
	/* fits in count but not in bytes (f64) */
	uint32_t d3[2] = { 0xFFFFFFFFu, 0x40000000u };
	p = mk(0x0E, 2, d3, NULL, 0, &n);
	CHECK_INT(parse(p, n, (size_t)-1, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "too large");
	free(p);
	/* a header claiming 16 GiB is refused before any allocation */
	uint32_t d2[2] = { 65536, 65536 };
	p = mk(0x0C, 2, d2, NULL, 0, &n);
	CHECK_INT(parse(p, n, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "exceed the limit of 4294967296 bytes");
	free(p);
	/* the cap is inclusive */
	unsigned char pay[100] = { 0 };
	uint32_t d1[1] = { 25 };
	p = mk(0x0D, 1, d1, pay, 100, &n);
	CHECK_INT(parse(p, n, 100, &x, &err), 0);
	dl_idx_release(&x);
	CHECK_INT(parse(p, n, 99, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "x.idx: idx data too large: 25 elements of 4 bytes exceed the "
		      "limit of 99 bytes");
	CHECK(x.data == NULL);
	free(p);
	/* a zero dimension: an empty but valid file */
	uint32_t dz[2] = { 0, 28 };
	p = mk(0x08, 2, dz, NULL, 0, &n);
	CHECK_INT(parse(p, n, DL_IDX_MAX_BYTES, &x, &err), 0);
	CHECK_INT(x.count, 0);
	CHECK_INT(x.dims[1], 28);
	dl_idx_release(&x);
	free(p);
}

TEST(idx_exact_length)
{
	/* the MNIST test labels: 8 header bytes + 10000 */
	unsigned char *pay = calloc(10001, 1);
	uint32_t d1[1] = { 10000 };
	size_t n;
	unsigned char *p = mk(0x08, 1, d1, pay, 10001, &n);
	dl_idx x;
	dl_err err;
	err.msg[0] = '\0';
	CHECK_INT(dl_idx_parse(&x, p, 5000, "t10k-labels-idx1-ubyte.gz", DL_IDX_MAX_BYTES, 0, &err),
		  DL_EDATA);
	CHECK(!strcmp(err.msg, "t10k-labels-idx1-ubyte.gz: truncated: expected 10008 bytes of "
		      "data, got 5000"));
	CHECK(x.data == NULL);
	CHECK_INT(parse(p, 10007, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "got 10007");
	CHECK_INT(parse(p, 10009, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "x.idx: trailing bytes after the expected 10008 bytes");
	CHECK_INT(parse(p, 10008, DL_IDX_MAX_BYTES, &x, &err), 0);
	CHECK_INT(x.count, 10000);
	dl_idx_release(&x);
	free(p);
	free(pay);
}

TEST(idx_gzip)
{
	int16_t vals[6] = { 1, -2, 3, -4, 5, 32767 };
	unsigned char pay[12];
	for (int i = 0; i < 6; i++)
		put_be(pay + 2 * i, (uint16_t)vals[i], 2);
	uint32_t dims[2] = { 3, 2 };
	size_t n;
	unsigned char *raw = mk(0x0B, 2, dims, pay, 12, &n);
	/* no .gz suffix: detection is by magic */
	char *path = tmp_path("gz-i16-idx2");
	CHECK_INT(write_gz(path, raw, n), 0);
	dl_idx x;
	dl_err err;
	CHECK_INT(dl_idx_read(&x, path, DL_IDX_MAX_BYTES, 0, &err), 0);
	CHECK_INT(x.type, DL_IDX_I16);
	CHECK_INT(x.ndim, 2);
	CHECK_INT(x.count, 6);
	CHECK(x.data && !memcmp(x.data, vals, sizeof vals));
	dl_idx_release(&x);

	size_t gn;
	unsigned char *gz = read_file(path, &gn);
	CHECK(gz && gn > 18 && gz[0] == 0x1f && gz[1] == 0x8b);
	if (!gz) {
		free(path);
		free(raw);
		return;
	}
	CHECK_INT(parse(gz, gn, DL_IDX_MAX_BYTES, &x, &err), 0);
	dl_idx_release(&x);
	/* every truncation of the compressed stream is an error */
	for (size_t k = 0; k < gn; k++) {
		unsigned char *cut = malloc(k ? k : 1);
		memcpy(cut, gz, k);
		CHECK_INT(parse(cut, k, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
		CHECK(x.data == NULL);
		free(cut);
	}
	/* cut after the data but before the gzip trailer */
	CHECK_INT(parse(gz, gn - 8, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "truncated gzip stream");
	/* a corrupt CRC */
	unsigned char *bad = malloc(gn);
	memcpy(bad, gz, gn);
	bad[gn - 8] ^= 0x55;
	CHECK_INT(parse(bad, gn, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "x.idx: corrupt gzip data");
	/* a corrupt deflate stream */
	memcpy(bad, gz, gn);
	bad[10] = 0xff;
	CHECK_INT(parse(bad, gn, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "corrupt gzip data");
	free(bad);
	/* trailing garbage after the gzip member */
	unsigned char *tr = malloc(gn + 3);
	memcpy(tr, gz, gn);
	memcpy(tr + gn, "xyz", 3);
	CHECK_INT(parse(tr, gn + 3, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "3 bytes of trailing garbage after the gzip data");
	free(tr);
	/* two members, as `cat a.gz b.gz`: the IDX is then too long */
	unsigned char *two = malloc(2 * gn);
	memcpy(two, gz, gn);
	memcpy(two + gn, gz, gn);
	CHECK_INT(parse(two, 2 * gn, DL_IDX_MAX_BYTES, &x, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "trailing bytes after the expected 24 bytes");
	free(two);
	free(gz);

	/* a split across members is fine: header in one, data in the next */
	char *split = tmp_path("split.gz");
	CHECK_INT(write_gz(split, raw, 10), 0);
	unsigned char *a = read_file(split, &gn);
	CHECK_INT(write_gz(split, raw + 10, n - 10), 0);
	size_t bn;
	unsigned char *b = read_file(split, &bn);
	unsigned char *ab = malloc(gn + bn);
	memcpy(ab, a, gn);
	memcpy(ab + gn, b, bn);
	CHECK_INT(parse(ab, gn + bn, DL_IDX_MAX_BYTES, &x, &err), 0);
	CHECK(x.data && !memcmp(x.data, vals, sizeof vals));
	dl_idx_release(&x);
	free(a);
	free(b);
	free(ab);
	free(split);

	/* truncated payload inside a complete gzip stream */
	CHECK_INT(write_gz(path, raw, n - 3), 0);
	CHECK_INT(dl_idx_read(&x, path, DL_IDX_MAX_BYTES, 0, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "gz-i16-idx2: truncated: expected 24 bytes of data, got 21");
	free(path);
	free(raw);
}

TEST(idx_gzip_bomb)
{
	/* 64 MiB of zeros behind a header that claims 1000 bytes: refused at
	 * the first byte past the data, without decompressing the rest */
	size_t big = (size_t)64 << 20;
	unsigned char *raw = calloc(1, big);
	uint32_t d1[1] = { 1000 };
	size_t hn;
	unsigned char *h = mk(0x08, 1, d1, NULL, 0, &hn);
	memcpy(raw, h, hn);
	free(h);
	char *path = tmp_path("bomb.gz");
	CHECK_INT(write_gz(path, raw, big), 0);
	free(raw);
	dl_idx x;
	dl_err err;
	CHECK_INT(dl_idx_read(&x, path, DL_IDX_MAX_BYTES, 0, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "trailing bytes");
	/* a header claiming 64 MiB, over a 1 MiB cap */
	raw = calloc(1, big + 8);
	d1[0] = (uint32_t)big;
	h = mk(0x08, 1, d1, NULL, 0, &hn);
	memcpy(raw, h, hn);
	free(h);
	CHECK_INT(write_gz(path, raw, big + 8), 0);
	free(raw);
	CHECK_INT(dl_idx_read(&x, path, (size_t)1 << 20, 0, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "exceed the limit of 1048576 bytes");
	CHECK(x.data == NULL);
	/* 64 MiB of zeros gzip about 1000:1: over the default ratio (100),
	 * refused on the header before any memory is taken; a higher
	 * --idx-max-ratio reads it */
	CHECK_INT(dl_idx_read(&x, path, DL_IDX_MAX_BYTES, 0, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "times the");
	CHECK(x.data == NULL);
	CHECK_INT(dl_idx_read(&x, path, DL_IDX_MAX_BYTES, 5000, &err), 0);
	CHECK_INT(x.count, big);
	dl_idx_release(&x);
	free(path);
}

TEST(idx_read_files)
{
	dl_idx x;
	dl_err err;
	char *path = tmp_path("missing-idx3-ubyte");
	CHECK_INT(dl_idx_read(&x, path, DL_IDX_MAX_BYTES, 0, &err), DL_EIO);
	CHECK_STR_HAS(err.msg, "missing-idx3-ubyte: cannot open");
	CHECK_INT(dl_idx_read(&x, dl_test_tmpdir(), DL_IDX_MAX_BYTES, 0, &err), DL_EIO);
	/* empty file */
	CHECK_INT(write_file(path, "", 0), 0);
	CHECK_INT(dl_idx_read(&x, path, DL_IDX_MAX_BYTES, 0, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "missing-idx3-ubyte: truncated");
	/* raw file on disk */
	float v[2] = { 0.25f, -8 };
	unsigned char pay[8];
	for (int i = 0; i < 2; i++) {
		uint32_t u;
		memcpy(&u, &v[i], 4);
		put_be(pay + 4 * i, u, 4);
	}
	uint32_t d1[1] = { 2 };
	size_t n;
	unsigned char *p = mk(0x0D, 1, d1, pay, 8, &n);
	CHECK_INT(write_file(path, p, n), 0);
	CHECK_INT(dl_idx_read(&x, path, DL_IDX_MAX_BYTES, 0, &err), 0);
	CHECK(x.data && ((float *)x.data)[0] == 0.25f && ((float *)x.data)[1] == -8);
	dl_idx_release(&x);
	free(p);
	free(path);
}
