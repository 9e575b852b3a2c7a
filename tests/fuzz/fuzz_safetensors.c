/* libFuzzer target: dl_st_parse on arbitrary bytes must never crash,
 * and whatever it accepts must be self-consistent. */
#include "io/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy so ASan catches any read past the end */
	unsigned char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	dl_st_file f;
	dl_err err;
	if (dl_st_parse(&f, buf, size, "fuzz", &err) == 0) {
		size_t total = 0;
		for (int i = 0; i < f.ntensors; i++) {
			const dl_st_tensor *t = &f.tensors[i];
			const unsigned char *d = t->data;
			if (d < f.base || d + t->nbytes > f.base + f.size ||
			    t->nbytes != t->count * dl_dtype_size(t->dtype) ||
			    dl_st_find(&f, t->name) == NULL)
				abort();
			/* touch the first and last byte of every tensor */
			if (t->nbytes && (d[0] ^ d[t->nbytes - 1]) == 0x100)
				abort();
			total += t->nbytes;
		}
		if (total > f.size)
			abort();
		for (int i = 0; i < f.nmeta; i++)
			if (strcmp(dl_st_meta_get(&f, f.meta[i].key), f.meta[i].value))
				abort();
		dl_st_close(&f);
	} else if (!err.msg[0] || strchr(err.msg, '\n')) {
		abort();
	}
	free(buf);
	return 0;
}
