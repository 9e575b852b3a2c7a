/* Optimizers over the model's single parameter block: one flat update.
 * State (SGD momentum, Adam moments) lives in one device allocation with
 * the parameter block's layout, so checkpoints save it as flat tensors. */
#ifndef DL_NN_OPTIM_H
#define DL_NN_OPTIM_H

#include "backend/backend.h"

typedef enum { DL_OPTIM_SGD, DL_OPTIM_ADAM } dl_optim_kind;

typedef struct dl_optim {
	dl_optim_kind kind;
	float lr, momentum, weight_decay;   /* SGD (weight_decay: also AdamW) */
	float beta1, beta2, eps;            /* Adam */
	long step;                          /* updates done */
	size_t n;                           /* floats in the parameter block */
	int nstate;                         /* state vectors: 0, 1 (momentum) or 2 (m, v) */
	float *state;                       /* device, nstate * n floats */
	dl_backend *be;
} dl_optim;

/* Parses "sgd" / "adam"; returns 0 or -1. */
int dl_optim_parse(const char *name, dl_optim_kind *out);
const char *dl_optim_name(dl_optim_kind k);

/* Sets defaults for kind (SGD momentum 0; Adam 0.9, 0.999, 1e-8) then
 * allocates state for n floats; the caller may change lr etc. after. */
int dl_optim_init(dl_optim *o, dl_optim_kind kind, float lr, size_t n, dl_backend *be,
		  dl_err *err);
void dl_optim_release(dl_optim *o);
/* Allocates state after changing settings that need it (momentum). */
int dl_optim_ready(dl_optim *o, dl_err *err);
void dl_optim_step(dl_optim *o, float *params, const float *grads);

#endif
