/* A model's parameters and buffers on a backend: allocation, seeded
 * initialisation, release.  Building from a spec is lib/nn/graph.c, the
 * activation and gradient plan and the forward/backward walks plan.c. */
#include "nn/model.h"

#include <stdlib.h>
#include <string.h>

void dl_model_release(dl_model *m)
{
	dl_model_unplan(m);
	if (m->be) {
		m->be->ops->free(m->be, m->params);
		m->be->ops->free(m->be, m->grads);
		m->be->ops->free(m->be, m->buffers);
	}
	free(m->name);
	free(m->spec_text);
	free(m->layers);
	memset(m, 0, sizeof *m);
}

/* Buffers to their initial values (running_mean 0, running_var 1). */
static int reset_buffers(dl_model *m, dl_err *err)
{
	if (!m->nbuffers)
		return 0;
	float *host = calloc(m->nbuffers, sizeof(float));
	if (!host)
		return dl_fail(err, DL_EFAIL, "out of memory");
	for (int i = 0; i < m->nlayers; i++) {
		dl_layer *l = &m->layers[i];
		if (l->nbuf && l->kind->init_buffers)
			l->kind->init_buffers(l, host + l->buf[0].offset);
	}
	m->be->ops->to_device(m->be, m->buffers, host, m->nbuffers * sizeof(float));
	free(host);
	return 0;
}

int dl_model_alloc(dl_model *m, dl_backend *be, dl_err *err)
{
	m->be = be;
	size_t bytes = (m->nparams ? m->nparams : 1) * sizeof(float);
	m->params = be->ops->alloc(be, bytes);
	m->grads = be->ops->alloc(be, bytes);
	if (m->nbuffers)
		m->buffers = be->ops->alloc(be, m->nbuffers * sizeof(float));
	if (!m->params || !m->grads || (m->nbuffers && !m->buffers))
		return dl_fail(err, DL_EFAIL, "out of memory for %zu parameters", m->nparams);
	for (int i = 0; i < m->nlayers; i++) {
		dl_layer *l = &m->layers[i];
		for (int p = 0; p < l->nparam; p++) {
			l->p[p] = m->params + l->param[p].offset;
			l->g[p] = m->grads + l->param[p].offset;
		}
		for (int b = 0; b < l->nbuf; b++)
			l->b[b] = m->buffers + l->buf[b].offset;
	}
	return reset_buffers(m, err);
}

int dl_model_init(dl_model *m, uint64_t seed, dl_err *err)
{
	float *host = malloc((m->nparams ? m->nparams : 1) * sizeof(float));
	if (!host)
		return dl_fail(err, DL_EFAIL, "out of memory");
	dl_rng rng;
	dl_rng_seed(&rng, seed);
	for (int i = 0; i < m->nlayers; i++) {
		dl_layer *l = &m->layers[i];
		if (l->nparam && l->kind->init)
			l->kind->init(l, host + l->param[0].offset, &rng);
	}
	m->be->ops->to_device(m->be, m->params, host, m->nparams * sizeof(float));
	free(host);
	return reset_buffers(m, err);
}

void dl_model_set_training(dl_model *m, int training)
{
	m->run.training = training;
}
