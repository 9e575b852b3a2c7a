#include "nn/optim.h"

#include <math.h>
#include <string.h>

const dl_opt_choice dl_optim_choices[] = {
	{ "sgd", DL_OPTIM_SGD }, { "adam", DL_OPTIM_ADAM }, { "adamw", DL_OPTIM_ADAMW }, { NULL, 0 },
};

const char *dl_optim_name(dl_optim_kind k)
{
	return dl_opt_choice_name(dl_optim_choices, (int)k);
}

int dl_optim_init(dl_optim *o, dl_optim_kind kind, float lr, size_t n, dl_backend *be,
		  dl_err *err)
{
	memset(o, 0, sizeof *o);
	o->kind = kind;
	o->lr = lr;
	o->beta1 = 0.9f;
	o->beta2 = 0.999f;
	o->eps = 1e-8f;
	o->weight_decay = kind == DL_OPTIM_ADAMW ? 0.01f : 0.0f;
	o->n = n;
	o->be = be;
	return dl_optim_ready(o, err);
}

int dl_optim_ready(dl_optim *o, dl_err *err)
{
	if (!o->scratch && !(o->scratch = o->be->ops->alloc(o->be, sizeof(float))))
		return dl_fail(err, DL_EFAIL, "out of memory for optimizer state");
	int want = o->kind != DL_OPTIM_SGD ? 2 : (o->momentum != 0.0f ? 1 : 0);
	if (want == o->nstate)
		return 0;
	o->be->ops->free(o->be, o->state);
	o->state = NULL;
	o->nstate = want;
	if (want) {
		o->state = o->be->ops->alloc(o->be, (size_t)want * o->n * sizeof(float));
		if (!o->state)
			return dl_fail(err, DL_EFAIL, "out of memory for optimizer state");
	}
	return 0;
}

void dl_optim_release(dl_optim *o)
{
	if (o->be) {
		o->be->ops->free(o->be, o->state);
		o->be->ops->free(o->be, o->scratch);
	}
	memset(o, 0, sizeof *o);
}

void dl_optim_step(dl_optim *o, float *params, float *grads, float lr)
{
	dl_backend *be = o->be;
	o->step++;
	if (o->clip_norm > 0) {
		be->ops->sumsq(be, o->n, grads, o->scratch);
		be->ops->clip_scale(be, o->n, grads, o->scratch, o->clip_norm);
	}
	if (o->kind == DL_OPTIM_SGD) {
		be->ops->sgd_update(be, o->n, params, grads, o->state, lr, o->momentum,
				    o->weight_decay, o->nesterov);
		return;
	}
	float bc1 = 1.0f - (float)pow(o->beta1, (double)o->step);
	float bc2 = 1.0f - (float)pow(o->beta2, (double)o->step);
	be->ops->adam_update(be, o->n, params, grads, o->state, o->state + o->n, lr, o->beta1,
			     o->beta2, o->eps, o->weight_decay, o->kind == DL_OPTIM_ADAMW, bc1, bc2);
}
