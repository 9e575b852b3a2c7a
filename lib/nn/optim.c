#include "nn/optim.h"

#include <math.h>
#include <string.h>

int dl_optim_parse(const char *name, dl_optim_kind *out)
{
	if (!strcmp(name, "sgd"))
		*out = DL_OPTIM_SGD;
	else if (!strcmp(name, "adam"))
		*out = DL_OPTIM_ADAM;
	else
		return -1;
	return 0;
}

const char *dl_optim_name(dl_optim_kind k)
{
	return k == DL_OPTIM_SGD ? "sgd" : "adam";
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
	o->n = n;
	o->be = be;
	(void)err;
	return 0;
}

int dl_optim_ready(dl_optim *o, dl_err *err)
{
	int want = o->kind == DL_OPTIM_ADAM ? 2 : (o->momentum != 0.0f ? 1 : 0);
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
	if (o->be)
		o->be->ops->free(o->be, o->state);
	memset(o, 0, sizeof *o);
}

void dl_optim_step(dl_optim *o, float *params, const float *grads)
{
	o->step++;
	if (o->kind == DL_OPTIM_SGD) {
		o->be->ops->sgd_update(o->be, o->n, params, grads, o->state, o->lr, o->momentum,
				       o->weight_decay, 0);
		return;
	}
	float bc1 = 1.0f - (float)pow(o->beta1, (double)o->step);
	float bc2 = 1.0f - (float)pow(o->beta2, (double)o->step);
	o->be->ops->adam_update(o->be, o->n, params, grads, o->state, o->state + o->n, o->lr,
				o->beta1, o->beta2, o->eps, o->weight_decay, 1, bc1, bc2);
}
