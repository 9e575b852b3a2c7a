/* safetensors reader and writer: round trips and every validation. */
#include "test.h"

#include "io/safetensors.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file image: u64 LE header length, the header, datalen pattern bytes. */
static unsigned char *image(const char *hdr, uint64_t hlen, size_t datalen, size_t *size)
{
	size_t n = strlen(hdr);
	*size = 8 + n + datalen;
	unsigned char *p = malloc(*size);
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(hlen >> (8 * i));
	memcpy(p + 8, hdr, n);
	for (size_t i = 0; i < datalen; i++)
		p[8 + n + i] = (unsigned char)(i * 7 + 1);
	return p;
}

/* Parses header + datalen bytes of data; returns the code, err filled. */
static int parse_hdr(const char *hdr, size_t datalen, dl_err *err)
{
	size_t size;
	unsigned char *p = image(hdr, strlen(hdr), datalen, &size);
	dl_st_file f;
	err->code = 0;
	err->msg[0] = '\0';
	int rc = dl_st_parse(&f, p, size, "x.st", err);
	if (!rc)
		dl_st_close(&f);
	free(p);
	return rc;
}

#define REJECTS(hdr, datalen, want) do {                                    \
	dl_err e_;                                                              \
	CHECK_INT(parse_hdr((hdr), (datalen), &e_), DL_EDATA);                  \
	CHECK_STR_HAS(e_.msg, "x.st: not a safetensors file: ");                \
	CHECK_STR_HAS(e_.msg, (want));                                          \
	CHECK(!strchr(e_.msg, '\n'));                                           \
} while (0)

#define ACCEPTS(hdr, datalen) do {                                          \
	dl_err e_;                                                              \
	int rc_ = parse_hdr((hdr), (datalen), &e_);                             \
	if (rc_)                                                                \
		fprintf(stderr, "  unexpected error: %s\n", e_.msg);               \
	CHECK_INT(rc_, 0);                                                      \
} while (0)

static char *tmp_path(const char *name)
{
	const char *d = dl_test_tmpdir();
	size_t n = strlen(d) + strlen(name) + 2;
	char *p = malloc(n);
	snprintf(p, n, "%s/%s", d, name);
	return p;
}

/* Number of entries in dir whose name contains sub. */
static int count_entries(const char *dir, const char *sub)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strstr(e->d_name, sub))
			n++;
	closedir(d);
	return n;
}

TEST(safetensors_dtypes)
{
	CHECK_INT(dl_dtype_size(DL_F32), 4);
	CHECK_INT(dl_dtype_size(DL_BF16), 2);
	CHECK_INT(dl_dtype_size(DL_U64), 8);
	CHECK_INT(dl_dtype_size(DL_BOOL), 1);
	CHECK_INT(dl_dtype_size(DL_DTYPE_COUNT), 0);
	for (int i = 0; i < DL_DTYPE_COUNT; i++) {
		dl_dtype d = DL_DTYPE_COUNT;
		CHECK_INT(dl_dtype_parse(dl_dtype_name((dl_dtype)i), &d), 0);
		CHECK_INT(d, i);
	}
	dl_dtype d;
	CHECK_INT(dl_dtype_parse("f32", &d), -1);
	CHECK_INT(dl_dtype_parse("F8", &d), -1);
	CHECK_INT(dl_dtype_parse("", &d), -1);
	CHECK(!strcmp(dl_dtype_name(DL_I16), "I16"));
}

TEST(safetensors_round_trip)
{
	float w[6] = { 1.5f, -2, 3, 4.25f, 5, -6 };
	uint8_t u[5] = { 0, 1, 2, 254, 255 };
	int64_t l[2] = { -1, INT64_MAX };
	uint16_t h[3] = { 0x3f80, 0x0001, 0xffff };
	double dd[1] = { 3.141592653589793 };
	int32_t scalar = -42;
	int64_t sw[2] = { 2, 3 }, su[1] = { 5 }, sl[1] = { 2 }, sh[1] = { 3 }, sd[2] = { 1, 1 };
	int64_t sz[2] = { 4, 0 };
	dl_st_writer w8;
	dl_err err;
	dl_st_writer_init(&w8);
	CHECK_INT(dl_st_add(&w8, "w", DL_F32, 2, sw, w, &err), 0);
	CHECK_INT(dl_st_add(&w8, "bytes", DL_U8, 1, su, u, &err), 0);
	CHECK_INT(dl_st_add(&w8, "long", DL_I64, 1, sl, l, &err), 0);
	CHECK_INT(dl_st_add(&w8, "half \"q\"", DL_BF16, 1, sh, h, &err), 0);
	CHECK_INT(dl_st_add(&w8, "d", DL_F64, 2, sd, dd, &err), 0);
	CHECK_INT(dl_st_add(&w8, "empty", DL_F32, 2, sz, NULL, &err), 0);
	CHECK_INT(dl_st_add(&w8, "s", DL_I32, 0, NULL, &scalar, &err), 0);
	CHECK_INT(dl_st_add_meta(&w8, "format", "dl-tools 1", &err), 0);
	CHECK_INT(dl_st_add_meta(&w8, "classes", "t-shirt\n\"trouser\"\t\xc3\xa9", &err), 0);
	char *path = tmp_path("rt.safetensors");
	CHECK_INT(dl_st_write(&w8, path, &err), 0);
	dl_st_writer_release(&w8);

	dl_st_file f;
	int rc = dl_st_open(&f, path, &err);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s\n", err.msg);
		free(path);
		return;
	}
	CHECK_INT(f.mapped, 1);
	CHECK_INT(f.ntensors, 7);
	CHECK_INT(f.nmeta, 2);
	/* header padded so the data buffer starts 8-byte aligned */
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | f.base[i];
	CHECK_INT(n % 8, 0);
	CHECK_INT(f.base[8 + n - 1] == ' ' || f.base[8 + n - 1] == '}', 1);
	CHECK_INT(f.size, 8 + n + 24 + 5 + 16 + 6 + 8 + 0 + 4);
	/* tensors come back in the order written (= order of offsets) */
	const char *order[7] = { "w", "bytes", "long", "half \"q\"", "d", "empty", "s" };
	for (int i = 0; i < 7 && i < f.ntensors; i++)
		CHECK(!strcmp(f.tensors[i].name, order[i]));
	CHECK_INT((uintptr_t)f.tensors[0].data % 8, 0);
	CHECK(f.tensors[0].data == f.base + 8 + n);

	const dl_st_tensor *ts;
	CHECK_INT(dl_st_get(&f, "w", DL_F32, 2, &ts, &err), 0);
	if (ts) {
		CHECK_INT(ts->shape[0], 2);
		CHECK_INT(ts->shape[1], 3);
		CHECK_INT(ts->count, 6);
		CHECK_INT(ts->nbytes, 24);
		CHECK(!memcmp(ts->data, w, sizeof w));
	}
	CHECK_INT(dl_st_get(&f, "bytes", DL_U8, 1, &ts, &err), 0);
	CHECK(ts && ts->nbytes == 5 && !memcmp(ts->data, u, 5));
	CHECK_INT(dl_st_get(&f, "long", DL_I64, -1, &ts, &err), 0);
	CHECK(ts && !memcmp(ts->data, l, sizeof l));
	CHECK_INT(dl_st_get(&f, "half \"q\"", DL_BF16, 1, &ts, &err), 0);
	CHECK(ts && ts->nbytes == 6 && !memcmp(ts->data, h, 6));
	CHECK_INT(dl_st_get(&f, "d", DL_F64, 2, &ts, &err), 0);
	CHECK(ts && !memcmp(ts->data, dd, 8));
	CHECK_INT(dl_st_get(&f, "empty", DL_F32, 2, &ts, &err), 0);
	CHECK(ts && ts->count == 0 && ts->nbytes == 0 && ts->shape[0] == 4 && ts->shape[1] == 0);
	CHECK_INT(dl_st_get(&f, "s", DL_I32, 0, &ts, &err), 0);
	CHECK(ts && ts->count == 1 && ts->nbytes == 4 && !memcmp(ts->data, &scalar, 4));
	CHECK(ts && (const unsigned char *)ts->data + 4 == f.base + f.size);

	CHECK(!strcmp(dl_st_meta_get(&f, "format"), "dl-tools 1"));
	const char *cl = dl_st_meta_get(&f, "classes");
	CHECK(cl && !strcmp(cl, "t-shirt\n\"trouser\"\t\xc3\xa9"));
	CHECK(dl_st_meta_get(&f, "nope") == NULL);
	CHECK(dl_st_find(&f, "nope") == NULL);

	CHECK_INT(dl_st_get(&f, "nope", DL_F32, 1, &ts, &err), DL_EDATA);
	CHECK(ts == NULL);
	CHECK_STR_HAS(err.msg, "rt.safetensors: no tensor 'nope'");
	CHECK_INT(dl_st_get(&f, "bytes", DL_F32, 1, &ts, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "tensor 'bytes' is U8, expected F32");
	CHECK_INT(dl_st_get(&f, "w", DL_F32, 4, &ts, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "tensor 'w' has 2 dimensions, expected 4");
	dl_st_close(&f);
	CHECK(f.base == NULL && f.tensors == NULL);
	dl_st_close(&f);   /* twice is fine */
	free(path);
}

TEST(safetensors_aligned_tensors)
{
	/* every tensor whose predecessors are multiples of 8 bytes is aligned */
	double a[3] = { 1, 2, 3 }, b[5] = { 4, 5, 6, 7, 8 };
	int64_t s3[1] = { 3 }, s5[1] = { 5 };
	dl_st_writer w;
	dl_err err;
	dl_st_writer_init(&w);
	CHECK_INT(dl_st_add(&w, "a", DL_F64, 1, s3, a, &err), 0);
	CHECK_INT(dl_st_add(&w, "bb", DL_F64, 1, s5, b, &err), 0);
	CHECK_INT(dl_st_add_meta(&w, "x", "y", &err), 0);
	char *path = tmp_path("al.safetensors");
	CHECK_INT(dl_st_write(&w, path, &err), 0);
	dl_st_writer_release(&w);
	dl_st_file f;
	CHECK_INT(dl_st_open(&f, path, &err), 0);
	CHECK_INT(f.ntensors, 2);
	for (int i = 0; i < f.ntensors; i++)
		CHECK_INT((uintptr_t)f.tensors[i].data % 8, 0);
	const dl_st_tensor *ts = dl_st_find(&f, "bb");
	CHECK(ts && ((const double *)ts->data)[4] == 8);
	dl_st_close(&f);
	free(path);
}

TEST(safetensors_zero_tensors)
{
	dl_st_writer w;
	dl_err err;
	dl_st_writer_init(&w);
	char *path = tmp_path("empty.safetensors");
	CHECK_INT(dl_st_write(&w, path, &err), 0);
	dl_st_writer_release(&w);
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_size, 16);   /* 8 + "{}" padded to 8 */
	dl_st_file f;
	CHECK_INT(dl_st_open(&f, path, &err), 0);
	CHECK_INT(f.ntensors, 0);
	CHECK_INT(f.nmeta, 0);
	CHECK(dl_st_find(&f, "a") == NULL);
	dl_st_close(&f);

	/* metadata only */
	dl_st_writer_init(&w);
	CHECK_INT(dl_st_add_meta(&w, "k", "v", &err), 0);
	CHECK_INT(dl_st_write(&w, path, &err), 0);
	dl_st_writer_release(&w);
	CHECK_INT(dl_st_open(&f, path, &err), 0);
	CHECK_INT(f.ntensors, 0);
	CHECK_INT(f.nmeta, 1);
	CHECK(dl_st_meta_get(&f, "k") && !strcmp(dl_st_meta_get(&f, "k"), "v"));
	dl_st_close(&f);
	free(path);

	ACCEPTS("{}", 0);
	ACCEPTS("{}      ", 0);
	ACCEPTS("{\"__metadata__\":{}}", 0);
	REJECTS("{}", 1, "1 trailing bytes");
}

TEST(safetensors_zero_element_tensors)
{
	/* empty tensors at the start, between and at the end */
	ACCEPTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
		"\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
		"\"c\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[4,4]},"
		"\"d\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[4,8]},"
		"\"e\":{\"dtype\":\"F64\",\"shape\":[0,5],\"data_offsets\":[8,8]}}", 8);
	ACCEPTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0);
	/* an empty tensor past the end is still out of range */
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[5,5]}}", 4,
		"out of range");
	/* an empty tensor inside another one sits in a gap/overlap */
	REJECTS("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
		"\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[2,2]}}", 4, "overlaps");

	size_t size;
	const char *hdr = "{\"c\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[4,4]},"
			  "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}";
	unsigned char *p = image(hdr, strlen(hdr), 4, &size);
	dl_st_file f;
	dl_err err;
	CHECK_INT(dl_st_parse(&f, p, size, "x.st", &err), 0);
	CHECK_INT(f.ntensors, 2);
	CHECK_INT(f.mapped, -1);
	if (f.ntensors == 2) {
		CHECK(!strcmp(f.tensors[0].name, "b"));   /* sorted by offset */
		CHECK(f.tensors[0].data == p + 8 + strlen(hdr));
		CHECK(f.tensors[1].data == p + size);
		CHECK_INT(f.tensors[1].count, 0);
	}
	dl_st_close(&f);
	free(p);
}

TEST(safetensors_bad_length_and_magic)
{
	dl_err err;
	dl_st_file f;
	size_t size;
	/* the example from the spec of our messages */
	unsigned char *p = image("{\"a\":1}", 9999999999ULL, 120 - 8 - 7, &size);
	CHECK_INT(size, 120);
	CHECK_INT(dl_st_parse(&f, p, size, "data/x.safetensors", &err), DL_EDATA);
	CHECK(!strcmp(err.msg, "data/x.safetensors: not a safetensors file: header length "
		      "9999999999 exceeds file size 120"));
	free(p);
	/* off by one: header length = file size - 7 */
	p = image("{}", 3, 0, &size);
	CHECK_INT(dl_st_parse(&f, p, size, "x.st", &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "header length 3 exceeds file size 10");
	free(p);
	/* u64 max must not wrap */
	p = image("{}", UINT64_MAX, 0, &size);
	CHECK_INT(dl_st_parse(&f, p, size, "x.st", &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "exceeds file size");
	free(p);
	/* beyond the 100 MB header cap, in a file big enough to hold it */
	size = 8 + (size_t)DL_ST_MAX_HEADER + 1 + 8;
	p = calloc(1, size);
	uint64_t n = DL_ST_MAX_HEADER + 1;
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(n >> (8 * i));
	p[8] = '{';
	CHECK_INT(dl_st_parse(&f, p, size, "x.st", &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "header length 100000001 exceeds the limit");
	free(p);
	/* too short to hold the length */
	unsigned char tiny[5] = { 2, 0, 0, 0, 0 };
	CHECK_INT(dl_st_parse(&f, tiny, sizeof tiny, "x.st", &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "x.st: not a safetensors file: only 5 bytes");
	CHECK_INT(dl_st_parse(&f, tiny, 0, "x.st", &err), DL_EDATA);
	/* not JSON: a zip, a numpy file, an empty header */
	REJECTS("PK\x03\x04xxxx", 0, "does not start with '{'");
	REJECTS("\x93NUMPY", 0, "does not start with '{'");
	REJECTS("", 0, "does not start with '{'");
	REJECTS(" {}", 0, "does not start with '{'");
	REJECTS("{", 0, "bad json");
}

TEST(safetensors_bad_json)
{
	REJECTS("{\"a\":}", 0, "header: bad json at byte 5");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4, "bad json");
	/* NUL padding is not JSON whitespace */
	unsigned char nul[16] = { 8, 0, 0, 0, 0, 0, 0, 0, '{', '}', 0, 0, 0, 0, 0, 0 };
	dl_st_file f;
	dl_err err;
	CHECK_INT(dl_st_parse(&f, nul, sizeof nul, "x.st", &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "x.st: not a safetensors file: header: bad json at byte 2");
	memset(nul + 10, ' ', 6);   /* the same padded with spaces is fine */
	CHECK_INT(dl_st_parse(&f, nul, sizeof nul, "x.st", &err), 0);
	CHECK_INT(f.ntensors, 0);
	dl_st_close(&f);
	REJECTS("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
		"invalid utf-8");
	/* duplicate tensor names */
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		"\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
		"duplicate key");
	/* duplicate fields inside an entry */
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"U8\",\"shape\":[1],"
		"\"data_offsets\":[0,4]}}", 4, "duplicate key");
	/* trailing space padding is allowed */
	ACCEPTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}       ", 4);
}

TEST(safetensors_bad_entries)
{
	REJECTS("{\"a\":5}", 0, "tensor 'a' is not an object");
	/* names from the file are shown on one line, cut when long */
	REJECTS("{\"a\\nb\\u0001\":5}", 0, "tensor 'a?b?' is not an object");
	REJECTS("{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaa\":5}", 0, "aaaaaaaaa...' is not an object");
	REJECTS("{\"__metadata__\":{\"k\\n\":1}}", 0, "metadata 'k?' is not a string");
	REJECTS("{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
		"unknown dtype F8");
	REJECTS("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
		"unknown dtype f32");
	REJECTS("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
		"unknown dtype");
	REJECTS("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "lacks dtype");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "lacks shape");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "lacks data_offsets");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
		"unknown field 'x'");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
		"bad shape");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
		"bad shape");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4,
		"bad shape");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4,
		"bad shape");
	REJECTS("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
		1, "has 9 dimensions (at most 8)");
	ACCEPTS("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1);
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
		"bad data_offsets");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]}}", 4,
		"bad data_offsets");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
		"bad data_offsets");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}}}", 4,
		"bad data_offsets");
}

TEST(safetensors_shape_overflow)
{
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
		"\"data_offsets\":[0,0]}}", 0, "shape product overflows");
	/* the product fits but times the dtype size it does not */
	REJECTS("{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,536870912],"
		"\"data_offsets\":[0,0]}}", 0, "byte size overflows");
	/* a zero dimension makes a huge shape empty: that is fine */
	ACCEPTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,0,4294967296],"
		"\"data_offsets\":[0,0]}}", 0);
	/* huge offsets */
	REJECTS("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1e300,1e300]}}", 1,
		"bad data_offsets");
	REJECTS("{\"a\":{\"dtype\":\"U8\",\"shape\":[4503599627370496],"
		"\"data_offsets\":[0,4503599627370496]}}", 1, "out of range");
}

TEST(safetensors_offsets)
{
	/* out of range */
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[25],\"data_offsets\":[0,100]}}", 8,
		"tensor 'a': data_offsets [0, 100] out of range (data is 8 bytes)");
	/* truncated data: one byte short */
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 7,
		"out of range");
	/* overlap */
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		"\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
		"tensor 'b' overlaps tensor 'a'");
	/* the same span twice */
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		"\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "overlaps");
	/* gap at the start and in the middle */
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
		"gap of 4 bytes before tensor 'a'");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		"\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
		"gap of 4 bytes before tensor 'b'");
	/* trailing bytes */
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
		"4 trailing bytes after the last tensor");
	/* shape and offsets disagree */
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
		"tensor 'a': shape and dtype need 8 bytes but data_offsets span 4");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,0]}}", 0,
		"need 4 bytes but data_offsets span 0");
	/* out of file order in the header is fine: sorted by offset */
	ACCEPTS("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
		"\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8);
}

TEST(safetensors_metadata)
{
	REJECTS("{\"__metadata__\":{\"k\":1}}", 0, "metadata 'k' is not a string");
	REJECTS("{\"__metadata__\":{\"k\":\"v\",\"n\":null}}", 0, "metadata 'n' is not a string");
	REJECTS("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, "metadata 'k' is not a string");
	REJECTS("{\"__metadata__\":[\"a\"]}", 0, "__metadata__ is not an object");
	REJECTS("{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "duplicate key");
	ACCEPTS("{\"__metadata__\":{\"k\":\"v\",\"empty\":\"\"}}", 0);
	REJECTS("[]", 0, "does not start with '{'");
	REJECTS("{\"__metadata__\":{}", 0, "bad json");
}

TEST(safetensors_truncated_file)
{
	int64_t s[1] = { 16 };
	float x[16];
	for (int i = 0; i < 16; i++)
		x[i] = (float)i;
	dl_st_writer w;
	dl_err err;
	dl_st_writer_init(&w);
	CHECK_INT(dl_st_add(&w, "x", DL_F32, 1, s, x, &err), 0);
	char *path = tmp_path("trunc.safetensors");
	CHECK_INT(dl_st_write(&w, path, &err), 0);
	dl_st_writer_release(&w);
	dl_st_file f;
	CHECK_INT(dl_st_open(&f, path, &err), 0);
	size_t size = f.size;
	unsigned char *copy = malloc(size + 3);
	memcpy(copy, f.base, size);
	dl_st_close(&f);
	/* every prefix is rejected, without reading past it */
	for (size_t n = 0; n < size; n++) {
		unsigned char *p = malloc(n ? n : 1);
		memcpy(p, copy, n);
		int rc = dl_st_parse(&f, p, n, "x.st", &err);
		CHECK_INT(rc, DL_EDATA);
		free(p);
	}
	/* and a longer file too */
	memset(copy + size, 0, 3);
	CHECK_INT(dl_st_parse(&f, copy, size + 3, "x.st", &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "3 trailing bytes");
	CHECK_INT(dl_st_parse(&f, copy, size, "x.st", &err), 0);
	dl_st_close(&f);

	/* truncated on disk: opened from the file */
	FILE *fp = fopen(path, "wb");
	CHECK(fp != NULL);
	if (fp) {
		fwrite(copy, 1, size - 4, fp);
		fclose(fp);
	}
	CHECK_INT(dl_st_open(&f, path, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "trunc.safetensors: not a safetensors file: ");
	CHECK_STR_HAS(err.msg, "out of range");
	free(copy);
	free(path);
}

TEST(safetensors_open_errors)
{
	dl_st_file f;
	dl_err err;
	char *path = tmp_path("does-not-exist.safetensors");
	CHECK_INT(dl_st_open(&f, path, &err), DL_EIO);
	CHECK_STR_HAS(err.msg, "does-not-exist.safetensors: cannot open");
	free(path);
	CHECK_INT(dl_st_open(&f, dl_test_tmpdir(), &err), DL_EIO);
	CHECK_STR_HAS(err.msg, "is a directory");
	path = tmp_path("zero.safetensors");
	FILE *fp = fopen(path, "wb");
	if (fp)
		fclose(fp);
	CHECK_INT(dl_st_open(&f, path, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "zero.safetensors: not a safetensors file: only 0 bytes");
	free(path);
}

TEST(safetensors_stdin)
{
	int64_t s[1] = { 3 };
	int16_t v[3] = { -1, 2, 300 };
	dl_st_writer w;
	dl_err err;
	dl_st_writer_init(&w);
	CHECK_INT(dl_st_add(&w, "v", DL_I16, 1, s, v, &err), 0);
	char *path = tmp_path("stdin.safetensors");
	CHECK_INT(dl_st_write(&w, path, &err), 0);
	dl_st_writer_release(&w);
	int saved = dup(0);
	int fd = open(path, O_RDONLY);
	CHECK(saved >= 0 && fd >= 0);
	if (saved < 0 || fd < 0) {
		free(path);
		return;
	}
	dup2(fd, 0);
	close(fd);
	dl_st_file f;
	int rc = dl_st_open(&f, "-", &err);
	dup2(saved, 0);
	close(saved);
	CHECK_INT(rc, 0);
	if (!rc) {
		CHECK_INT(f.mapped, 0);
		const dl_st_tensor *ts;
		CHECK_INT(dl_st_get(&f, "v", DL_I16, 1, &ts, &err), 0);
		CHECK(ts && !memcmp(ts->data, v, sizeof v));
		dl_st_close(&f);
	}
	free(path);
}

TEST(safetensors_writer_errors)
{
	dl_st_writer w;
	dl_err err;
	int64_t s[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 }, neg[1] = { -2 };
	uint8_t d[4] = { 1, 2, 3, 4 };
	dl_st_writer_init(&w);
	CHECK_INT(dl_st_add(&w, "a", DL_U8, 1, s, d, &err), 0);
	CHECK(dl_st_add(&w, "a", DL_U8, 1, s, d, &err) != 0);
	CHECK_STR_HAS(err.msg, "duplicate tensor name 'a'");
	CHECK(dl_st_add(&w, "__metadata__", DL_U8, 1, s, d, &err) != 0);
	CHECK(dl_st_add(&w, "b", DL_U8, 9, s, d, &err) != 0);
	CHECK_STR_HAS(err.msg, "rank 9");
	CHECK(dl_st_add(&w, "b", DL_U8, -1, s, d, &err) != 0);
	CHECK(dl_st_add(&w, "b", DL_U8, 1, neg, d, &err) != 0);
	CHECK(dl_st_add(&w, "b", DL_DTYPE_COUNT, 1, s, d, &err) != 0);
	CHECK(dl_st_add(&w, "b", DL_U8, 1, s, NULL, &err) != 0);
	CHECK_INT(dl_st_add(&w, "b", DL_U8, 8, s, d, &err), 0);
	CHECK_INT(dl_st_add_meta(&w, "k", "v", &err), 0);
	CHECK(dl_st_add_meta(&w, "k", "w", &err) != 0);
	CHECK_STR_HAS(err.msg, "duplicate metadata key 'k'");
	CHECK_INT(w.n, 2);
	CHECK_INT(w.nmeta, 1);
	char *path = tmp_path("werr.safetensors");
	CHECK_INT(dl_st_write(&w, path, &err), 0);
	dl_st_writer_release(&w);
	dl_st_file f;
	CHECK_INT(dl_st_open(&f, path, &err), 0);
	CHECK_INT(f.ntensors, 2);
	dl_st_close(&f);
	free(path);

	/* a name that is not UTF-8 cannot go into JSON: refused, no file */
	dl_st_writer_init(&w);
	CHECK_INT(dl_st_add(&w, "bad\xff", DL_U8, 1, s, d, &err), 0);
	path = tmp_path("badname.safetensors");
	CHECK(dl_st_write(&w, path, &err) != 0);
	CHECK_STR_HAS(err.msg, "badname.safetensors: cannot write header");
	dl_st_writer_release(&w);
	CHECK(access(path, F_OK) != 0);
	CHECK_INT(count_entries(dl_test_tmpdir(), "badname"), 0);
	free(path);
}

TEST(safetensors_atomic_write)
{
	uint8_t d[3] = { 7, 8, 9 };
	int64_t s[1] = { 3 };
	dl_st_writer w;
	dl_err err;
	dl_st_writer_init(&w);
	CHECK_INT(dl_st_add(&w, "d", DL_U8, 1, s, d, &err), 0);

	/* the target directory does not exist / is a file */
	char *path = tmp_path("no-such-dir/x.safetensors");
	CHECK_INT(dl_st_write(&w, path, &err), DL_EIO);
	CHECK_STR_HAS(err.msg, "no-such-dir/x.safetensors");
	CHECK(access(path, F_OK) != 0);
	free(path);
	char *file = tmp_path("plainfile");
	FILE *fp = fopen(file, "wb");
	if (fp)
		fclose(fp);
	path = tmp_path("plainfile/x.safetensors");
	CHECK_INT(dl_st_write(&w, path, &err), DL_EIO);
	free(path);
	free(file);

	/* (An unwritable directory is not tested: CI runs as root, which
	 * ignores permissions.  The same failure path -- temp file cannot be
	 * created or renamed -- is covered above and below.) */

	/* the rename fails (target is a directory) after the temp file was
	 * written: the temp file is removed, the directory untouched */
	char *sub = tmp_path("atomic");
	CHECK_INT(mkdir(sub, 0755), 0);
	size_t n = strlen(sub) + 32;
	char *target = malloc(n);
	snprintf(target, n, "%s/out.safetensors", sub);
	CHECK_INT(mkdir(target, 0755), 0);
	CHECK_INT(dl_st_write(&w, target, &err), DL_EIO);
	CHECK_STR_HAS(err.msg, "out.safetensors");
	CHECK_INT(count_entries(sub, ".tmp"), 0);
	CHECK_INT(count_entries(sub, "out.safetensors"), 1);
	rmdir(target);

	/* success replaces an existing file and leaves no temp file */
	fp = fopen(target, "wb");
	if (fp) {
		fputs("old", fp);
		fclose(fp);
	}
	CHECK_INT(dl_st_write(&w, target, &err), 0);
	CHECK_INT(count_entries(sub, ".tmp"), 0);
	CHECK_INT(count_entries(sub, "out.safetensors"), 1);
	dl_st_file f;
	CHECK_INT(dl_st_open(&f, target, &err), 0);
	CHECK_INT(f.ntensors, 1);
	dl_st_close(&f);
	free(target);
	free(sub);
	dl_st_writer_release(&w);
}
