/* The loss a model trains with, named by the optional last spec line:
 *
 *   loss kind=xent [smoothing=S]   softmax cross-entropy on integer labels (default)
 *   loss kind=mse                  mean squared error on float targets
 *   loss kind=huber [delta=D]      Huber loss on float targets (PyTorch HuberLoss)
 *
 * dl_loss_apply computes the batch loss on the device: stats (device,
 * DL_LOSS_NSTATS floats) accumulate [0] loss sum over samples, [1] correct
 * count (xent) or sum |error| (regression), [2] sum error^2 (regression).
 * The gradient written to dout is that of the batch mean (PyTorch's
 * reduction='mean': over n for xent, over n*k for mse/huber), times
 * grad_scale (1 for plain training). */
#ifndef DL_NN_LOSS_H
#define DL_NN_LOSS_H

#include <stdint.h>
#include "backend/backend.h"
#include "nn/spec.h"

#define DL_LOSS_NSTATS 3

typedef enum { DL_LOSS_XENT = 0, DL_LOSS_MSE, DL_LOSS_HUBER } dl_loss_kind;

typedef struct dl_loss {
	dl_loss_kind kind;
	float smoothing;    /* xent label smoothing in [0, 1) */
	float delta;        /* huber threshold > 0 */
} dl_loss;

/* Parses a `loss` spec line. */
int dl_loss_parse(dl_loss *loss, dl_spec_line *sl, dl_err *err);
/* 1 for mse/huber (float targets), 0 for xent (integer labels). */
int dl_loss_is_regression(const dl_loss *loss);
const char *dl_loss_name(const dl_loss *loss);

/* out, dout [n, k]; labels [n] (xent) or targets [n, k] (regression), on the
 * device.  dout may be NULL (evaluation). */
void dl_loss_apply(const dl_loss *loss, dl_backend *be, int n, int k, const float *out,
		   const int32_t *labels, const float *targets, float grad_scale, float *dout,
		   float *stats);

#endif
