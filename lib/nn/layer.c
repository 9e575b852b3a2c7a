#include "nn/layer.h"

#include <math.h>
#include <string.h>

extern const dl_layer_kind dl_layer_dense, dl_layer_conv2d, dl_layer_maxpool,
	dl_layer_relu, dl_layer_flatten;
/* pooling and activations (layers/pool.c, gap.c, act.c) */
extern const dl_layer_kind dl_layer_avgpool, dl_layer_gap, dl_layer_leaky_relu,
	dl_layer_tanh, dl_layer_sigmoid, dl_layer_gelu;
/* graph layers (layers/batchnorm.c, dropout.c, add.c, concat.c) */
extern const dl_layer_kind dl_layer_batchnorm, dl_layer_dropout, dl_layer_add,
	dl_layer_concat;

/* dl_layer_kind_names lists them in this order */
static const dl_layer_kind *const kinds[] = {
	&dl_layer_conv2d, &dl_layer_dense, &dl_layer_flatten, &dl_layer_maxpool,
	&dl_layer_relu,
	/* pooling and activations */
	&dl_layer_avgpool, &dl_layer_gap, &dl_layer_leaky_relu, &dl_layer_tanh,
	&dl_layer_sigmoid, &dl_layer_gelu,
	/* graph layers */
	&dl_layer_add, &dl_layer_batchnorm, &dl_layer_concat, &dl_layer_dropout,
	NULL,
};

const dl_layer_kind *dl_layer_kind_find(const char *name)
{
	for (int i = 0; kinds[i]; i++)
		if (!strcmp(kinds[i]->name, name))
			return kinds[i];
	return NULL;
}

const char *dl_layer_kind_names(void)
{
	return "conv2d, dense, flatten, maxpool, relu"
	       ", avgpool, gap, leaky_relu, tanh, sigmoid, gelu"
	       ", add, batchnorm, concat, dropout";
}

int dl_layer_add_param(dl_layer *l, const char *name, int ndim, const int64_t *shape)
{
	int i = l->nparam++;
	dl_param *p = &l->param[i];
	p->name = name;
	p->ndim = ndim;
	p->count = 1;
	for (int d = 0; d < ndim; d++) {
		p->shape[d] = shape[d];
		p->count *= (size_t)shape[d];
	}
	return i;
}

int dl_layer_add_buf(dl_layer *l, const char *name, int ndim, const int64_t *shape)
{
	int i = l->nbuf++;
	dl_param *b = &l->buf[i];
	b->name = name;
	b->ndim = ndim;
	b->count = 1;
	for (int d = 0; d < ndim; d++) {
		b->shape[d] = shape[d];
		b->count *= (size_t)shape[d];
	}
	return i;
}

void dl_init_uniform_fan_in(float *p, size_t count, int fan_in, dl_rng *rng)
{
	float bound = 1.0f / sqrtf((float)fan_in);
	for (size_t i = 0; i < count; i++)
		p[i] = (2.0f * dl_rng_uniform(rng) - 1.0f) * bound;
}
