/* Internal to lib/train: what the training loop reports, in three forms —
 * Keras-like epoch lines (and a progress bar on a terminal) for people,
 * JSON lines and CSV rows for programs. */
#ifndef DL_TRAIN_TRAINLOG_H
#define DL_TRAIN_TRAINLOG_H

#include "train/trainer.h"

typedef struct dl_epoch_report {
	int epoch;            /* 1-based, the epoch just finished (or stopped in) */
	long epochs;          /* planned epochs, 0 when the run is counted in steps */
	long step;
	double lr;            /* learning rate of the last step */
	const dl_metrics *train, *val;   /* val may be NULL */
	double seconds, images_per_s;
	int partial;          /* the run stopped inside the epoch */
} dl_epoch_report;

/* Returns 0, or DL_EIO when a write to the log or the CSV failed. */
int dl_log_epoch(const dl_train_opts *o, const dl_epoch_report *r, dl_err *err);
/* "\r  37/469 [=====>        ] - 3s - loss 0.4321" (loss < 0: not shown) */
void dl_log_bar(FILE *f, long pos, long per_epoch, double secs, double loss);
void dl_log_bar_clear(FILE *f);

#endif
