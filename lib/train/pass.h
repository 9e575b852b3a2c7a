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

/* Data-parallel training (lib/train/parallel.c): ranks, this rank's slice
 * [lo, lo + count) of a batch of n, a check that every batch of an epoch
 * of n samples gives each rank at least one, the gradient buckets around
 * backward, the loss statistics summed over ranks (dev, zeroed after, is
 * added to host), rank 0's weights, buffers and optimizer state to all.
 * With one rank they do nothing (the slice is the whole batch). */
int dl_par_size(const dl_train_opts *o);
int dl_par_rank(const dl_train_opts *o);
void dl_par_slice(const dl_train_opts *o, int n, int *lo, int *count);
int dl_par_check(const dl_train_opts *o, long n, dl_err *err);
void dl_par_backward_begin(dl_model *m, const dl_train_opts *o);
int dl_par_backward_end(dl_model *m, const dl_train_opts *o, long step, dl_err *err);
int dl_par_stats(const dl_train_opts *o, dl_backend *be, float *dev, float *host, long step,
		 dl_err *err);
int dl_par_share_state(const dl_train_opts *o, dl_model *m, dl_optim *opt, long step,
		       dl_err *err);

#endif
