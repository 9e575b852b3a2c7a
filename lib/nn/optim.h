/* Optimizers over the model's single parameter block: one flat update.
 * State (SGD momentum, Adam moments) lives in one device allocation with
 * the parameter block's layout, so checkpoints save it as flat tensors.
 *
 * The formulas are PyTorch's (torch.optim.SGD with dampening 0, Adam,
 * AdamW): sgd = SGD (momentum, nesterov, L2 weight decay added to the
 * gradient); adam = Adam (weight decay is L2, added to the gradient);
 * adamw = AdamW (decoupled weight decay p -= lr * wd * p).  The learning
 * rate of each step comes from the schedule (train/schedule.h). */
#ifndef DL_NN_OPTIM_H
#define DL_NN_OPTIM_H

#include "backend/backend.h"
#include "core/opt.h"

typedef enum { DL_OPTIM_SGD, DL_OPTIM_ADAM, DL_OPTIM_ADAMW } dl_optim_kind;

typedef struct dl_optim {
	dl_optim_kind kind;
	float lr;                           /* base learning rate (the schedule scales it) */
	float momentum, weight_decay;       /* SGD; weight_decay: all kinds */
	int nesterov;                       /* SGD: Nesterov momentum (needs momentum > 0) */
	float beta1, beta2, eps;            /* Adam, AdamW */
	float clip_norm;                    /* > 0: clip the gradient's global L2 norm first */
	long step;                          /* updates done */
	size_t n;                           /* floats in the parameter block */
	int nstate;                         /* state vectors: 0, 1 (momentum) or 2 (m, v) */
	float *state;                       /* device, nstate * n floats */
	float *scratch;                     /* device, 1 float (gradient sum of squares) */
	dl_backend *be;
	int nfrozen;                        /* spans of the block kept fixed (dl_optim_freeze) */
	struct dl_span { size_t off, n; } *frozen;   /* sorted, disjoint; owned */
} dl_optim;

/* The names "sgd", "adam", "adamw" (an option's choices; dl_opt_choice_value). */
extern const dl_opt_choice dl_optim_choices[];
const char *dl_optim_name(dl_optim_kind k);

/* Sets defaults for kind (SGD momentum 0; Adam 0.9, 0.999, 1e-8; AdamW
 * also weight decay 0.01 as in PyTorch) then allocates state for n floats;
 * the caller may change lr etc. after and call dl_optim_ready. */
int dl_optim_init(dl_optim *o, dl_optim_kind kind, float lr, size_t n, dl_backend *be,
		  dl_err *err);
void dl_optim_release(dl_optim *o);
/* Allocates state after changing settings that need it (momentum). */
int dl_optim_ready(dl_optim *o, dl_err *err);
/* Keeps params [off, off + n) fixed: their gradients are zeroed before
 * clipping and no update (weight decay included) touches them.  Not saved
 * in checkpoints: dl-train applies --freeze again on resume. */
int dl_optim_freeze(dl_optim *o, size_t off, size_t n, dl_err *err);
/* One update with learning rate lr: clips grads in place when clip_norm > 0
 * (on the device, no host round trip), then updates params. */
void dl_optim_step(dl_optim *o, float *params, float *grads, float lr);

#endif
