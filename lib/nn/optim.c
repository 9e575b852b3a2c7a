#include "nn/optim.h"

#include <math.h>
#include <stdlib.h>
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
	free(o->frozen);
	memset(o, 0, sizeof *o);
}

int dl_optim_freeze(dl_optim *o, size_t off, size_t n, dl_err *err)
{
	if (!n)
		return 0;
	if (off > o->n || n > o->n - off)
		return dl_fail(err, DL_EFAIL, "optimizer: frozen span outside the parameter block");
	struct dl_span *f = realloc(o->frozen, sizeof *f * (size_t)(o->nfrozen + 1));
	if (!f)
		return dl_fail(err, DL_EFAIL, "out of memory");
	o->frozen = f;
	int i = o->nfrozen;
	while (i > 0 && f[i - 1].off > off) {
		f[i] = f[i - 1];
		i--;
	}
	f[i] = (struct dl_span){ off, n };
	o->nfrozen++;
	/* merge overlapping and touching spans */
	int w = 0;
	for (int r = 1; r < o->nfrozen; r++) {
		if (f[r].off <= f[w].off + f[w].n) {
			size_t end = f[r].off + f[r].n;
			if (end > f[w].off + f[w].n)
				f[w].n = end - f[w].off;
		} else {
			f[++w] = f[r];
		}
	}
	o->nfrozen = w + 1;
	return 0;
}

/* The update over params [off, off + n). */
static void update(dl_optim *o, size_t off, size_t n, float *params, float *grads, float lr,
		   float bc1, float bc2)
{
	dl_backend *be = o->be;
	if (!n)
		return;
	if (o->kind == DL_OPTIM_SGD)
		be->ops->sgd_update(be, n, params + off, grads + off, o->state ? o->state + off : NULL,
				    lr, o->momentum, o->weight_decay, o->nesterov);
	else
		be->ops->adam_update(be, n, params + off, grads + off, o->state + off,
				     o->state + o->n + off, lr, o->beta1, o->beta2, o->eps,
				     o->weight_decay, o->kind == DL_OPTIM_ADAMW, bc1, bc2);
}

void dl_optim_step(dl_optim *o, float *params, float *grads, float lr)
{
	dl_backend *be = o->be;
	o->step++;
	for (int i = 0; i < o->nfrozen; i++)
		be->ops->zero(be, grads + o->frozen[i].off, sizeof(float) * o->frozen[i].n);
	if (o->clip_norm > 0) {
		be->ops->sumsq(be, o->n, grads, o->scratch);
		be->ops->clip_scale(be, o->n, grads, o->scratch, o->clip_norm);
	}
	float bc1 = 1, bc2 = 1;
	if (o->kind != DL_OPTIM_SGD) {
		bc1 = 1.0f - (float)pow(o->beta1, (double)o->step);
		bc2 = 1.0f - (float)pow(o->beta2, (double)o->step);
	}
	size_t at = 0;
	for (int i = 0; i < o->nfrozen; i++) {
		update(o, at, o->frozen[i].off - at, params, grads, lr, bc1, bc2);
		at = o->frozen[i].off + o->frozen[i].n;
	}
	update(o, at, o->n - at, params, grads, lr, bc1, bc2);
}
