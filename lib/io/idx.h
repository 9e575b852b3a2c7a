/* IDX files (the MNIST family): magic 0x00 0x00 TYPE NDIM, NDIM big-endian
 * u32 dimensions, then the elements big-endian, row-major.
 * TYPE: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64.
 *
 * The reader accepts raw or gzip-compressed files (detected by the gzip
 * magic, not by the name), validates the header (magic, type, 1 <= NDIM <=
 * DL_IDX_MAX_DIMS, overflow-safe element count, a cap on total bytes) and
 * the exact length: a truncated file or trailing bytes are errors
 * (DL_EDATA naming the file).  Elements are converted to host byte order. */
#ifndef DL_IO_IDX_H
#define DL_IO_IDX_H

#include <stddef.h>
#include <stdint.h>
#include "core/error.h"

#define DL_IDX_MAX_DIMS 8

typedef enum {
	DL_IDX_U8 = 0x08, DL_IDX_I8 = 0x09, DL_IDX_I16 = 0x0B,
	DL_IDX_I32 = 0x0C, DL_IDX_F32 = 0x0D, DL_IDX_F64 = 0x0E
} dl_idx_type;

typedef struct dl_idx {
	dl_idx_type type;
	int ndim;
	uint32_t dims[DL_IDX_MAX_DIMS];
	size_t count;       /* product of dims */
	size_t elem_size;   /* 1, 2, 4 or 8 */
	void *data;         /* count * elem_size bytes, host order, owned */
} dl_idx;

/* Default cap on decoded bytes: 4 GiB. */
#define DL_IDX_MAX_BYTES ((size_t)4 << 30)

/* Default cap on decoded / compressed bytes of a gzip IDX file (MNIST's
 * are under 5; deflate's most is about 1032). */
#define DL_IDX_MAX_RATIO 100.0

/* max_ratio: most data bytes per compressed byte of a gzip file, checked
 * on the header's claim before any memory is taken (0: DL_IDX_MAX_RATIO).
 * Memory for the data grows as the stream really delivers it. */
int dl_idx_read(dl_idx *out, const char *path, size_t max_bytes, double max_ratio, dl_err *err);
/* Same on an in-memory (raw or gzip) buffer; `name` is used in messages. */
int dl_idx_parse(dl_idx *out, const void *buf, size_t size, const char *name,
		 size_t max_bytes, double max_ratio, dl_err *err);
void dl_idx_release(dl_idx *x);   /* safe on a zeroed dl_idx */

#endif
