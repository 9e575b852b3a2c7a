/* safetensors files: the format of every dataset, checkpoint and export.
 *
 * Layout: u64 little-endian N, then N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
 *  "__metadata__": {"k": "v", ...}}, then the data buffer.  Offsets are
 * relative to the data buffer.
 *
 * The reader trusts nothing: N <= 100 MB and N + 8 <= file size; strict
 * JSON; every entry an object with exactly known dtype, shape (ints >= 0),
 * data_offsets; shape product * dtype size computed without overflow and
 * equal to e - b; tensors, sorted by offset, tile the data buffer exactly
 * (no gaps, no overlap) and end at the end of the file (no trailing bytes);
 * metadata values are strings.  Names are unique (JSON duplicate keys are
 * rejected).  Tensors with rank > DL_ST_MAX_DIMS are refused.
 * Files are mmapped read-only; "-" reads stdin into memory.
 *
 * The writer pads the header with spaces to a multiple of 8 bytes so every
 * tensor starts 8-byte aligned, writes tensors in the order added, and
 * writes atomically (temp file, fsync, rename).
 */
#ifndef DL_IO_SAFETENSORS_H
#define DL_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "core/error.h"

typedef enum {
	DL_BOOL, DL_U8, DL_I8, DL_I16, DL_U16, DL_F16, DL_BF16,
	DL_I32, DL_U32, DL_F32, DL_I64, DL_U64, DL_F64, DL_DTYPE_COUNT
} dl_dtype;

size_t dl_dtype_size(dl_dtype t);
const char *dl_dtype_name(dl_dtype t);   /* "F32" ... as in safetensors */
/* Parses a safetensors dtype name; returns 0 or -1. */
int dl_dtype_parse(const char *s, dl_dtype *out);

#define DL_ST_MAX_DIMS 8
#define DL_ST_MAX_HEADER (100u * 1000u * 1000u)

typedef struct dl_st_tensor {
	char *name;
	dl_dtype dtype;
	int ndim;
	int64_t shape[DL_ST_MAX_DIMS];
	size_t count;        /* product of shape */
	size_t nbytes;
	const void *data;    /* into the mapping; 8-byte aligned if the writer was ours */
} dl_st_tensor;

typedef struct dl_st_meta {
	char *key, *value;
} dl_st_meta;

typedef struct dl_st_file {
	char *path;
	const unsigned char *base;   /* whole file */
	size_t size;
	int mapped;                  /* 1: munmap base; 0: free base (stdin); -1: borrowed (dl_st_parse) */
	int ntensors;
	dl_st_tensor *tensors;       /* in file order of data offsets */
	int nmeta;
	dl_st_meta *meta;
} dl_st_file;

/* Opens and validates; errors are DL_EIO (cannot open/read) or DL_EDATA
 * ("<path>: not a safetensors file: <why>"). */
int dl_st_open(dl_st_file *f, const char *path, dl_err *err);
/* Validates a file already in memory (tests, fuzzing).  buf is borrowed
 * and must outlive f; `name` is used in messages. */
int dl_st_parse(dl_st_file *f, const void *buf, size_t size, const char *name, dl_err *err);
void dl_st_close(dl_st_file *f);   /* safe on a zeroed dl_st_file */

const dl_st_tensor *dl_st_find(const dl_st_file *f, const char *name);
const char *dl_st_meta_get(const dl_st_file *f, const char *key);
/* Finds `name` and checks its dtype and rank (ndim < 0: any rank).
 * DL_EDATA "<path>: no tensor 'x'" / "<path>: tensor 'x' is U8, expected F32"
 * / "... has 3 dimensions, expected 4". */
int dl_st_get(const dl_st_file *f, const char *name, dl_dtype dtype, int ndim,
	      const dl_st_tensor **out, dl_err *err);

typedef struct dl_st_writer {
	int n, cap;
	struct dl_st_wtensor {
		char *name;
		dl_dtype dtype;
		int ndim;
		int64_t shape[DL_ST_MAX_DIMS];
		const void *data;    /* borrowed until dl_st_write returns */
		size_t nbytes;
	} *t;
	int nmeta, metacap;
	dl_st_meta *meta;
	int oom;
} dl_st_writer;

void dl_st_writer_init(dl_st_writer *w);
/* Adds a tensor (data borrowed) / a metadata pair (copied).  Duplicate
 * names, bad ranks or OOM are reported here or at write time. */
int dl_st_add(dl_st_writer *w, const char *name, dl_dtype dtype, int ndim,
	      const int64_t *shape, const void *data, dl_err *err);
int dl_st_add_meta(dl_st_writer *w, const char *key, const char *value, dl_err *err);
/* Writes atomically to path ("-" = stdout). */
int dl_st_write(dl_st_writer *w, const char *path, dl_err *err);
/* Opens *a on path and writes the file into it without committing: the
 * caller commits (dl_afile_commit, or _commit_pair for two files that must
 * appear together).  On failure *a is aborted. */
struct dl_afile;
int dl_st_write_open(dl_st_writer *w, const char *path, struct dl_afile *a, dl_err *err);
void dl_st_writer_release(dl_st_writer *w);

#endif
