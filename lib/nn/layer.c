#include "nn/layer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const dl_layer_kind *const kinds[] = {
#define DL_LAYER_KIND(name) &dl_layer_##name,
#include "nn/layers/kinds.h"
#undef DL_LAYER_KIND
	NULL,
};

const dl_layer_kind *dl_layer_kind_find(const char *name)
{
	for (int i = 0; kinds[i]; i++)
		if (!strcmp(kinds[i]->name, name))
			return kinds[i];
	return NULL;
}

const dl_layer_kind *dl_layer_kind_at(int i)
{
	int n = (int)(sizeof kinds / sizeof kinds[0]) - 1;
	return i >= 0 && i < n ? kinds[i] : NULL;
}

const char *dl_layer_kind_names(char *buf, size_t n)
{
	size_t o = 0;
	if (n)
		buf[0] = '\0';
	for (int i = 0; kinds[i] && o + 1 < n; i++) {
		int w = snprintf(buf + o, n - o, "%s%s", i ? ", " : "", kinds[i]->name);
		if (w < 0)
			break;
		o += (size_t)w;
	}
	return buf;
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
