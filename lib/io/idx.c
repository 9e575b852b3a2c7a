/* IDX reader (raw or gzip); see idx.h. */
#include "io/idx.h"
#include "core/readall.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* A byte source over the input: the bytes themselves, or their gzip
 * decompression (concatenated members allowed, as gunzip does). */
typedef struct src {
	const unsigned char *p;
	size_t size, fed;     /* input bytes; how many were handed to zlib */
	int gz, zinit, ended;
	z_stream z;
	const char *name;
	dl_err *err;
} src;

static size_t input_left(const src *s)
{
	return s->gz ? s->size - s->fed + s->z.avail_in : s->size - s->fed;
}

/* Reads up to n bytes; *got tells how many (fewer only at the end). */
static int src_read(src *s, unsigned char *dst, size_t n, size_t *got)
{
	*got = 0;
	if (!s->gz) {
		size_t k = s->size - s->fed < n ? s->size - s->fed : n;
		memcpy(dst, s->p + s->fed, k);
		s->fed += k;
		*got = k;
		return 0;
	}
	while (*got < n && !s->ended) {
		if (s->z.avail_in == 0) {
			if (s->fed == s->size)
				break;   /* input ends inside the stream */
			size_t k = s->size - s->fed;
			if (k > UINT_MAX)
				k = UINT_MAX;
			s->z.next_in = (unsigned char *)s->p + s->fed;
			s->z.avail_in = (uInt)k;
			s->fed += k;
		}
		size_t want = n - *got;
		if (want > UINT_MAX)
			want = UINT_MAX;
		s->z.next_out = dst + *got;
		s->z.avail_out = (uInt)want;
		int zr = inflate(&s->z, Z_NO_FLUSH);
		*got += want - s->z.avail_out;
		if (zr == Z_STREAM_END) {
			size_t left = input_left(s);
			if (left == 0) {
				s->ended = 1;
				break;
			}
			/* another member must follow; anything else is garbage */
			if (s->z.avail_in == 0) {
				s->z.next_in = (unsigned char *)s->p + s->fed;
				s->z.avail_in = (uInt)(left > UINT_MAX ? UINT_MAX : left);
				s->fed += s->z.avail_in;
			}
			if (s->z.avail_in < 2 || s->z.next_in[0] != 0x1f || s->z.next_in[1] != 0x8b)
				return dl_fail(s->err, DL_EDATA,
					       "%s: %zu bytes of trailing garbage after the gzip data",
					       s->name, left);
			inflateReset(&s->z);
		} else if (zr == Z_BUF_ERROR) {
			if (s->z.avail_in != 0 && s->z.avail_out != 0)
				return dl_fail(s->err, DL_EDATA, "%s: corrupt gzip data", s->name);
		} else if (zr == Z_MEM_ERROR) {
			return dl_fail(s->err, DL_EFAIL, "%s: out of memory in zlib", s->name);
		} else if (zr != Z_OK) {
			return dl_fail(s->err, DL_EDATA, "%s: corrupt gzip data: %s", s->name,
				       s->z.msg ? s->z.msg : "inflate failed");
		}
	}
	return 0;
}

static uint32_t be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static size_t elem_size(int type)
{
	switch (type) {
	case DL_IDX_U8: case DL_IDX_I8: return 1;
	case DL_IDX_I16: return 2;
	case DL_IDX_I32: case DL_IDX_F32: return 4;
	case DL_IDX_F64: return 8;
	}
	return 0;
}

/* Big-endian elements to host order, in place. */
static void to_host(void *data, size_t count, size_t es)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	unsigned char *p = data;
	for (size_t i = 0; i < count; i++, p += es) {
		if (es == 2) {
			uint16_t v;
			memcpy(&v, p, 2);
			v = __builtin_bswap16(v);
			memcpy(p, &v, 2);
		} else if (es == 4) {
			uint32_t v;
			memcpy(&v, p, 4);
			v = __builtin_bswap32(v);
			memcpy(p, &v, 4);
		} else if (es == 8) {
			uint64_t v;
			memcpy(&v, p, 8);
			v = __builtin_bswap64(v);
			memcpy(p, &v, 8);
		}
	}
#else
	(void)data; (void)count; (void)es;
#endif
}

/* Reads `bytes` of data into a buffer that grows as the data really
 * arrives (16 MiB at a time), so a header's claim takes memory only as
 * the stream backs it. */
static int read_data(src *s, size_t bytes, void **data, size_t *got)
{
	size_t cap = 0, step = (size_t)16 << 20;
	unsigned char *buf = malloc(1);   /* never NULL, even for 0 bytes */
	*got = 0;
	if (!buf)
		return dl_fail(s->err, DL_EFAIL, "%s: out of memory", s->name);
	while (*got < bytes) {
		size_t want = bytes - *got < step ? bytes - *got : step, n;
		if (*got + want > cap) {
			unsigned char *nb = realloc(buf, *got + want);
			if (!nb) {
				free(buf);
				return dl_fail(s->err, DL_EFAIL, "%s: out of memory (%zu bytes)", s->name,
					       *got + want);
			}
			buf = nb;
			cap = *got + want;
		}
		int rc = src_read(s, buf + *got, want, &n);
		if (rc) {
			free(buf);
			return rc;
		}
		*got += n;
		if (n < want)
			break;
	}
	*data = buf;
	return 0;
}

static int decode(dl_idx *out, src *s, size_t max_bytes, double max_ratio)
{
	const char *name = s->name;
	dl_err *err = s->err;
	unsigned char hdr[4 + 4 * DL_IDX_MAX_DIMS];
	size_t got;
	int rc = src_read(s, hdr, 4, &got);
	if (rc)
		return rc;
	if (got < 4)
		return dl_fail(err, DL_EDATA, "%s: truncated: expected at least 4 bytes of header, "
			       "got %zu", name, got);
	if (hdr[0] != 0 || hdr[1] != 0)
		return dl_fail(err, DL_EDATA, "%s: not an idx file: bad magic %02x %02x",
			       name, hdr[0], hdr[1]);
	size_t es = elem_size(hdr[2]);
	if (!es)
		return dl_fail(err, DL_EDATA, "%s: not an idx file: unknown element type 0x%02x",
			       name, hdr[2]);
	int ndim = hdr[3];
	if (ndim < 1 || ndim > DL_IDX_MAX_DIMS)
		return dl_fail(err, DL_EDATA, "%s: bad idx header: %d dimensions (expected 1 to %d)",
			       name, ndim, DL_IDX_MAX_DIMS);
	size_t hlen = 4 + 4 * (size_t)ndim;
	if ((rc = src_read(s, hdr + 4, hlen - 4, &got)) != 0)
		return rc;
	if (got < hlen - 4)
		return dl_fail(err, DL_EDATA, "%s: truncated: expected %zu bytes of header, got %zu",
			       name, hlen, 4 + got);
	out->type = (dl_idx_type)hdr[2];
	out->ndim = ndim;
	out->elem_size = es;
	size_t count = 1, bytes;
	for (int i = 0; i < ndim; i++) {
		out->dims[i] = be32(hdr + 4 + 4 * i);
		if (__builtin_mul_overflow(count, (size_t)out->dims[i], &count))
			return dl_fail(err, DL_EDATA, "%s: bad idx header: element count overflows",
				       name);
	}
	if (__builtin_mul_overflow(count, es, &bytes) || bytes > max_bytes)
		return dl_fail(err, DL_EDATA, "%s: idx data too large: %zu elements of %zu bytes "
			       "exceed the limit of %zu bytes", name, count, es, max_bytes);
	/* the claim against the real input before taking memory for it: a
	 * raw file holds its data; gzip expands by at most max_ratio (a 1 MB
	 * bomb once took 1 GB before dl-prep saw the label count) */
	if (!s->gz && bytes > s->size - hlen)
		return dl_fail(err, DL_EDATA, "%s: truncated: expected %zu bytes of data, got %zu",
			       name, hlen + bytes, s->size);
	if (s->gz && (double)bytes > max_ratio * (double)(s->size > 4096 ? s->size : 4096))
		return dl_fail(err, DL_EDATA, "%s: the header claims %zu bytes of data, more than %g "
			       "times the %zu compressed bytes (a gzip bomb? raise --idx-max-ratio)",
			       name, bytes, max_ratio, s->size);
	out->count = count;
	if ((rc = read_data(s, bytes, &out->data, &got)) != 0)
		return rc;
	if (got < bytes)
		return dl_fail(err, DL_EDATA, "%s: truncated: expected %zu bytes of data, got %zu",
			       name, hlen + bytes, hlen + got);
	unsigned char extra;
	if ((rc = src_read(s, &extra, 1, &got)) != 0)
		return rc;
	if (got)
		return dl_fail(err, DL_EDATA, "%s: trailing bytes after the expected %zu bytes of "
			       "data", name, hlen + bytes);
	if (s->gz && !s->ended)
		return dl_fail(err, DL_EDATA, "%s: truncated gzip stream", name);
	to_host(out->data, count, es);
	return 0;
}

int dl_idx_parse(dl_idx *out, const void *buf, size_t size, const char *name,
		 size_t max_bytes, double max_ratio, dl_err *err)
{
	memset(out, 0, sizeof *out);
	src s;
	memset(&s, 0, sizeof s);
	s.p = buf;
	s.size = size;
	s.name = name;
	s.err = err;
	s.gz = size >= 2 && s.p[0] == 0x1f && s.p[1] == 0x8b;
	if (s.gz) {
		if (inflateInit2(&s.z, 15 + 16) != Z_OK)
			return dl_fail(err, DL_EFAIL, "%s: cannot start zlib", name);
		s.zinit = 1;
	}
	int rc = decode(out, &s, max_bytes, max_ratio > 0 ? max_ratio : DL_IDX_MAX_RATIO);
	if (s.zinit)
		inflateEnd(&s.z);
	if (rc)
		dl_idx_release(out);
	return rc;
}


int dl_idx_read(dl_idx *out, const char *path, size_t max_bytes, double max_ratio, dl_err *err)
{
	memset(out, 0, sizeof *out);
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0)
		return dl_fail_errno(err, DL_EIO, "%s: cannot open", path);
	struct stat st;
	int rc;
	if (fstat(fd, &st) != 0) {
		rc = dl_fail_errno(err, DL_EIO, "%s: cannot stat", path);
	} else if (S_ISDIR(st.st_mode)) {
		rc = dl_fail(err, DL_EIO, "%s: is a directory", path);
	} else if (S_ISREG(st.st_mode) && st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			rc = dl_fail_errno(err, DL_EIO, "%s: cannot map", path);
		} else {
			rc = dl_idx_parse(out, m, (size_t)st.st_size, path, max_bytes, max_ratio, err);
			munmap(m, (size_t)st.st_size);
		}
	} else {
		/* pipes, stdin, empty files: a raw file is at most header +
		 * max_bytes, and gzip does not expand data by much */
		unsigned char *p = NULL;
		size_t len = 0;
		size_t cap = max_bytes > SIZE_MAX / 2 ? SIZE_MAX / 2 : max_bytes + max_bytes / 8 + 4096;
		rc = dl_read_all(fd, path, cap, &p, &len, err);
		if (!rc)
			rc = dl_idx_parse(out, p, len, path, max_bytes, max_ratio, err);
		free(p);
	}
	if (fd != 0)
		close(fd);
	return rc;
}

void dl_idx_release(dl_idx *x)
{
	free(x->data);
	memset(x, 0, sizeof *x);
}
