/* A dataset file (safetensors): `images` U8 [N, H, W, C] and either
 * `labels` I32 [N] in [0, classes) (classification) or `targets` F32 [N, K]
 * (regression, e.g. steering angle: K = 1; finite values); a file may hold
 * both.  Metadata "dl.format", "dl.source", "dl.classes" (JSON array of
 * names, classification), "dl.targets" (JSON array of target column names,
 * regression), "dl.mean"/"dl.std" (JSON arrays, per channel, of pixel/255).
 * Opened read-only (mmap), validated once. */
#ifndef DL_TRAIN_DATASET_H
#define DL_TRAIN_DATASET_H

#include <stdint.h>
#include "backend/backend.h"
#include "io/safetensors.h"

#define DL_DATASET_FORMAT "dl-tools dataset 1"

typedef struct dl_dataset {
	dl_st_file file;
	const uint8_t *images;   /* [n, h, w, c] */
	const int32_t *labels;   /* [n], or NULL when the file has only targets */
	const float *targets;    /* [n, ntargets], or NULL */
	int ntargets;
	int n, h, w, c;
	int classes;             /* from dl.classes, else max label + 1 (0 without labels) */
	const char *classes_json;   /* metadata string or NULL */
	int has_stats;           /* dl.mean and dl.std present and valid (c values, std > 0) */
	float mean[DL_NORM_MAX_C], std[DL_NORM_MAX_C];   /* of pixel / 255 */
} dl_dataset;

/* Opens and validates; DL_EIO / DL_EDATA with the path in the message. */
int dl_dataset_open(dl_dataset *d, const char *path, dl_err *err);
void dl_dataset_close(dl_dataset *d);

/* Rows of a dataset: all of d (rows NULL, n = d->n) or the listed ones. */
typedef struct dl_data {
	const dl_dataset *d;
	const uint32_t *rows;
	int n;
} dl_data;

/* A seeded hold-out split of n rows: round(n * fraction) rows go to val,
 * the rest to train, each list in increasing order (malloc'd, the caller
 * frees).  The choice depends only on (n, fraction, seed).  DL_EUSAGE when
 * either side would be empty. */
int dl_dataset_split(int n, double fraction, uint64_t seed, uint32_t **train, int *ntrain,
		     uint32_t **val, int *nval, dl_err *err);

#endif
