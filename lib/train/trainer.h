/* The training loop and evaluation, on any backend.
 *
 * The dataset is uploaded to the device once (u8 images, i32 labels or f32
 * targets); each step gathers a batch by index on the device (normalising
 * and augmenting it), runs forward, the model's loss (dl_loss_apply),
 * backward and one optimizer update at the schedule's learning rate.  Loss
 * statistics accumulate on the device and are read once per epoch (and at
 * checkpoints).
 *
 * Exactness: everything a step depends on is a function of the training
 * state (dl_train_state): the epoch's order comes from the rng state at
 * the start of the epoch, each batch's augmentation seed from a key drawn
 * right after the shuffle and the batch's position, dropout from (seed,
 * step), the learning rate from the step.  So a run resumed from any
 * checkpoint ends with the same weights as one that never stopped (CPU,
 * same thread count). */
#ifndef DL_TRAIN_TRAINER_H
#define DL_TRAIN_TRAINER_H

#include <signal.h>
#include <stdio.h>
#include "nn/model.h"
#include "nn/optim.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/schedule.h"

struct dl_dist;

/* What early stopping and best.safetensors watch. */
typedef enum { DL_MON_VAL_LOSS = 0, DL_MON_VAL_ACCURACY, DL_MON_VAL_MAE } dl_monitor;
extern const dl_opt_choice dl_monitor_choices[];   /* "val_loss", ... */
const char *dl_monitor_name(dl_monitor m);

/* Why dl_train returned 0. */
typedef enum {
	DL_STOP_DONE = 0,      /* all epochs / steps done */
	DL_STOP_EARLY,         /* early stopping: no improvement for `patience` epochs */
	DL_STOP_TIME,          /* --time-limit reached (resumable) */
	DL_STOP_COST,          /* --max-cost reached (resumable) */
} dl_stop_reason;

typedef struct dl_train_result {
	dl_stop_reason why;
	long images;              /* samples trained on by this call */
	double seconds;           /* wall time of this call's loop */
} dl_train_result;

typedef struct dl_train_opts {
	long epochs;              /* run length in epochs ... */
	long steps;               /* ... or in steps (> 0 wins) */
	int batch;
	dl_schedule sched;        /* the caller sets total and per_epoch to match the run */
	dl_aug aug;               /* pad, flip; the seed is set per batch */
	long checkpoint_every;    /* also checkpoint every N steps (0: at epoch ends only) */
	const char *checkpoint;   /* written at epoch ends and stops (atomically) */
	const char *best;         /* written when the monitored metric improves (needs val) */
	int patience;             /* early stopping after this many epochs without improvement (0: off) */
	dl_monitor monitor;
	double time_limit;        /* seconds of this invocation, 0: none */
	double max_cost;          /* dollars of this invocation at price_per_hour, 0: none */
	double price_per_hour;
	/* Set (to nonzero) by a signal handler: finish the step, checkpoint,
	 * return DL_EINTR.  May be NULL. */
	const volatile sig_atomic_t *stop;
	FILE *log;                /* JSON lines, may be NULL */
	FILE *csv;                /* CSV, one row per epoch, may be NULL */
	FILE *progress;           /* human epoch lines (stderr), may be NULL */
	int bar;                  /* draw a progress bar on `progress` (a terminal) */
	/* Divergence: stop with DL_EDIVERGED when the epoch's mean training
	 * loss exceeds diverge_factor * max(loss of step 1, 1) (0: only the
	 * non-finite check). */
	double diverge_factor;
	/* Names of log and csv for messages (a failed write: DL_EIO). */
	const char *log_name, *csv_name;
	/* Data-parallel training (lib/dist/dist.h), NULL: one process.  Each
	 * rank takes samples [n*r/N, n*(r+1)/N) of every global batch of n;
	 * gradients are summed in buckets of bucket_floats during backward;
	 * the loss statistics are summed; the per-step stop flags (signals,
	 * budgets) are agreed on so every rank stops at the same step; rank 0
	 * alone writes checkpoints (the caller gives logs to rank 0 only), and
	 * at each checkpoint every rank takes rank 0's weights, buffers and
	 * optimizer state, so every rank resumes from what was saved. */
	struct dl_dist *dist;
	size_t bucket_floats;
} dl_train_opts;

typedef struct dl_metrics {
	double loss, accuracy;    /* accuracy: classification only */
	double mae, rmse;         /* regression only */
	long n;
	int regression;
} dl_metrics;

/* A dataset (or some of its rows) resident on a device. */
typedef struct dl_device_data {
	dl_backend *be;
	uint8_t *images;
	int32_t *labels;          /* NULL for regression */
	float *targets;           /* NULL for classification */
	int ntargets;
	int n;
	size_t sample;            /* h * w * c */
} dl_device_data;

int dl_device_data_upload(dl_device_data *dd, dl_backend *be, const dl_data *data, int regression,
			  dl_err *err);
void dl_device_data_release(dl_device_data *dd);

/* Checks that a dataset fits a model (input shape, label range, or target
 * count for a regression loss). */
int dl_check_fit(const dl_model *m, const dl_dataset *d, const char *path, dl_err *err);

/* Trains m (allocated and initialised) with o on train, validating on val
 * (may be NULL) after each epoch; st carries the position across calls and
 * checkpoints.  Returns 0 when it stopped normally (res->why says why),
 * DL_EINTR after a signal (checkpoint written), DL_EDIVERGED on a
 * non-finite loss or weights (the last checkpoint is left as it was). */
int dl_train(dl_model *m, dl_optim *o, dl_train_state *st, const dl_data *train,
	     const dl_data *val, const dl_norm *norm, const char *classes_json,
	     const dl_train_opts *opts, dl_train_result *res, dl_err *err);

/* Metrics of m on d (evaluation mode).  If logits is not NULL it receives
 * [d->n, outputs] floats (host). */
int dl_evaluate(dl_model *m, const dl_dataset *d, const dl_norm *norm, int batch,
		dl_metrics *out, float *logits, dl_err *err);

/* The CSV log's header line (--csv-log; rows come from dl_train). */
void dl_log_csv_header(FILE *f, int regression);

/* The default input normalisation: u8 / 255, mean 0, std 1. */
void dl_norm_default(dl_norm *norm, int c);

#endif
