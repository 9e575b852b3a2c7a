/* libFuzzer target: dl_idx_parse on arbitrary bytes (raw or gzip).
 * The first byte picks a mode: even, the rest as given; odd, the rest
 * gzip-compressed first (so the decoded IDX content gets fuzzed behind a
 * valid gzip layer too), cut short by the second byte's count of bytes. */
#include "io/idx.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char *gzip(const uint8_t *p, size_t n, size_t *out)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	size_t cap = deflateBound(&z, (uLong)n) + 32;
	unsigned char *o = malloc(cap);
	if (!o) {
		deflateEnd(&z);
		return NULL;
	}
	z.next_in = (unsigned char *)p;
	z.avail_in = (uInt)n;
	z.next_out = o;
	z.avail_out = (uInt)cap;
	int rc = deflate(&z, Z_FINISH);
	*out = cap - z.avail_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(o);
		return NULL;
	}
	return o;
}

static void check(const unsigned char *buf, size_t size)
{
	dl_idx x;
	dl_err err;
	/* a small cap keeps claimed sizes from exhausting memory */
	if (dl_idx_parse(&x, buf, size, "fuzz", (size_t)1 << 24, 0, &err) == 0) {
		size_t count = 1;
		for (int i = 0; i < x.ndim; i++)
			count *= x.dims[i];
		if (count != x.count || x.ndim < 1 || x.ndim > DL_IDX_MAX_DIMS)
			abort();
		if (x.count) {
			const unsigned char *d = x.data;
			if ((d[0] ^ d[x.count * x.elem_size - 1]) == 0x100)
				abort();
		}
		dl_idx_release(&x);
	} else if (!err.msg[0] || x.data) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 2 && (data[0] & 1)) {
		size_t n;
		unsigned char *gz = gzip(data + 2, size - 2, &n);
		if (gz) {
			size_t cut = data[1] < n ? data[1] : n;
			check(gz, n - (data[0] & 2 ? cut : 0));
			free(gz);
		}
		return 0;
	}
	/* an exact-size copy so ASan catches any read past the end */
	unsigned char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	check(buf, size);
	free(buf);
	return 0;
}
