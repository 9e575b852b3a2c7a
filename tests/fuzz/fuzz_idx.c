/* libFuzzer target: dl_idx_parse on arbitrary bytes (raw or gzip). */
#include "io/idx.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	dl_idx x;
	dl_err err;
	/* a small cap keeps claimed sizes from exhausting memory */
	if (dl_idx_parse(&x, buf, size, "fuzz", (size_t)1 << 24, &err) == 0) {
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
	free(buf);
	return 0;
}
