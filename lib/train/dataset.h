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
#include "io/safetensors.h"

#define DL_DATASET_FORMAT "dl-tools dataset 1"

typedef struct dl_dataset {
	dl_st_file file;
	const uint8_t *images;   /* [n, h, w, c] */
	const int32_t *labels;   /* [n], or NULL when the file has only targets */
	const float *targets;    /* [n, ntargets], or NULL */
	int ntargets;
	int n, h, w, c;
	int classes;             /* from dl.classes, else max label + 1 */
	const char *classes_json;   /* metadata string or NULL */
} dl_dataset;

/* Opens and validates; DL_EIO / DL_EDATA with the path in the message. */
int dl_dataset_open(dl_dataset *d, const char *path, dl_err *err);
void dl_dataset_close(dl_dataset *d);

#endif
