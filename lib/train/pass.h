/* Internal to lib/train: the pieces the training loop and evaluation share
 * (batch assembly on the device, device scratch, metrics from loss stats). */
#ifndef DL_TRAIN_PASS_H
#define DL_TRAIN_PASS_H

#include "train/trainer.h"

typedef struct dl_scratch {
	uint32_t *idx;      /* device, one epoch's order */
	int32_t *labels;    /* device, batch */
	float *targets;     /* device, batch * ntargets */
	float *stats;       /* device, DL_LOSS_NSTATS */
} dl_scratch;

int dl_scratch_alloc(dl_scratch *s, dl_backend *be, long n, int batch, int ntargets, dl_err *err);
void dl_scratch_free(dl_scratch *s, dl_backend *be);

/* Gathers samples idx[0..n) (device) of dd into m->x and their labels or
 * targets into s; aug may be NULL. */
void dl_batch_load(dl_model *m, const dl_device_data *dd, const uint32_t *idx, int n,
		   const dl_norm *norm, const dl_aug *aug, dl_scratch *s);
/* Loss on the loaded batch; dout NULL for evaluation. */
void dl_batch_loss(dl_model *m, const dl_device_data *dd, int n, dl_scratch *s, float grad_scale,
		   float *dout);

/* Metrics from host stats over n samples with k outputs. */
void dl_metrics_from(const float *stats, long n, int k, int regression, dl_metrics *out);

/* Metrics of m on device data (evaluation mode, restored after). */
int dl_eval_device(dl_model *m, const dl_device_data *dd, const dl_norm *norm, int batch,
		   dl_metrics *out, float *logits, dl_err *err);

#endif
