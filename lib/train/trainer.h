/* The training loop and evaluation, on any backend.
 *
 * The dataset is uploaded to the device once (u8 images, i32 labels); each
 * step gathers a batch by index on the device, normalises it, runs forward,
 * softmax cross-entropy, backward and one optimizer update.  Loss and
 * accuracy accumulate on the device and are read once per epoch. */
#ifndef DL_TRAIN_TRAINER_H
#define DL_TRAIN_TRAINER_H

#include <stdio.h>
#include "nn/model.h"
#include "nn/optim.h"
#include "train/checkpoint.h"
#include "train/dataset.h"

typedef struct dl_train_opts {
	int epochs;
	int batch;
	uint64_t seed;
	const char *checkpoint;   /* written after every epoch (atomically) */
	FILE *log;                /* JSON lines, may be NULL */
	FILE *progress;           /* human epoch lines (stderr), may be NULL */
	const char *device_name;
	int threads;
} dl_train_opts;

typedef struct dl_metrics {
	double loss, accuracy;
	long n;
} dl_metrics;

/* A dataset resident on a device. */
typedef struct dl_device_data {
	dl_backend *be;
	uint8_t *images;
	int32_t *labels;
	int n;
	size_t sample;            /* h * w * c */
} dl_device_data;

int dl_device_data_upload(dl_device_data *dd, dl_backend *be, const dl_dataset *d, dl_err *err);
void dl_device_data_release(dl_device_data *dd);

/* Checks that a dataset fits a model (input shape, label range). */
int dl_check_fit(const dl_model *m, const dl_dataset *d, const char *path, dl_err *err);

/* Trains m (allocated and initialised) with o on train, validating on val
 * (may be NULL) after each epoch; st carries epoch/step/rng across calls. */
int dl_train(dl_model *m, dl_optim *o, dl_train_state *st, const dl_dataset *train,
	     const dl_dataset *val, const dl_norm *norm, const char *classes_json,
	     const dl_train_opts *opts, dl_err *err);

/* Loss and accuracy of m on d.  If logits is not NULL it receives
 * [d->n, classes] floats (host). */
int dl_evaluate(dl_model *m, const dl_dataset *d, const dl_norm *norm, int batch,
		dl_metrics *out, float *logits, dl_err *err);

/* The default input normalisation: u8 / 255, mean 0, std 1. */
void dl_norm_default(dl_norm *norm, int c);

#endif
