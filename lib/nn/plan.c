/* The memory and gradient plan for a batch size: one block for the input
 * and every layer output, one for the output gradients, one for the layers'
 * workspaces, and where each input gradient goes (a consumer's dxs[j] is
 * its producer's dy, or gsum scratch added to it when several layers read
 * one output); and each layer's backend workspace (conv scratch), reserved
 * here so that no op allocates.  Forward and backward walk the layers over
 * that plan. */
#include "nn/model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void dl_model_unplan(dl_model *m)
{
	if (m->be) {
		m->be->ops->free(m->be, m->act);
		m->be->ops->free(m->be, m->dact);
		m->be->ops->free(m->be, m->gsum);
		m->be->ops->free(m->be, m->ws);
	}
	m->act = m->dact = m->gsum = m->ws = NULL;
	free(m->y);
	free(m->dy);
	free(m->need_dx);
	free(m->acc);
	m->y = m->dy = m->acc = NULL;
	m->need_dx = NULL;
	m->batch = 0;
}

/* The layer that computes layer i's output (through flatten aliases and
 * fused layers), or -1 for the model input. */
static int source_of(const dl_model *m, int i)
{
	while (i >= 0 && dl_layer_alias(&m->layers[i]))
		i = m->layers[i].in_from[0];
	return i;
}

/* The bf16 link (layer.h link): the layer that is the only reader of
 * layer s's output, through at most one fused relu, when s and it are a
 * conv and a batch norm either way round, each with one input; else -1.
 * readers[i]: how many inputs read layer i's output. */
static int link_reader(const dl_model *m, const int *readers, int s)
{
	const dl_layer *p = &m->layers[s];
	int conv = p->kind == &dl_layer_conv2d, bn = p->kind == &dl_layer_batchnorm;
	if ((!conv && !bn) || readers[s] != 1)
		return -1;
	for (int r = s + 1; r < m->nlayers; r++) {
		const dl_layer *l = &m->layers[r];
		if (l->in_from[0] != s)
			continue;
		if (bn && l->fused && readers[r] == 1) {   /* the relu fused into the batch norm */
			s = r;
			continue;
		}
		if (l->nin != 1 || l->fused)
			return -1;
		return (conv ? l->kind == &dl_layer_batchnorm : l->kind == &dl_layer_conv2d) ? r : -1;
	}
	return -1;
}

static int *count_readers(const dl_model *m)
{
	int *readers = calloc((size_t)m->nlayers, sizeof *readers);
	for (int i = 0; readers && i < m->nlayers; i++)
		for (int j = 0; j < m->layers[i].nin; j++)
			if (m->layers[i].in_from[j] >= 0)
				readers[m->layers[i].in_from[j]]++;
	return readers;
}

/* Every layer of a candidate pair gets link = -1 (a mark the conv's
 * reserve clears where the backend does not run the link); the rest 0. */
static int plan_link_candidates(dl_model *m)
{
	int *readers = count_readers(m);
	if (!readers)
		return -1;
	for (int i = 0; i < m->nlayers; i++)
		m->layers[i].link = m->layers[i].link_now = 0;
	for (int s = 0; s < m->nlayers; s++) {
		int r = link_reader(m, readers, s);
		if (r >= 0)
			m->layers[s].link = m->layers[r].link = -1;
	}
	free(readers);
	return 0;
}

/* After the reserves: a pair whose conv kept its mark links; each
 * layer's link becomes its flags (DL_LINK_X, DL_LINK_Y), and a conv whose
 * input is linked plans no training-pair memory (it reads x as it is). */
static int plan_links(dl_model *m)
{
	int L = m->nlayers;
	int *readers = count_readers(m), *flags = calloc((size_t)L, sizeof *flags);
	if (!readers || !flags) {
		free(readers);
		free(flags);
		return -1;
	}
	for (int s = 0; s < L; s++) {
		int r = link_reader(m, readers, s);
		if (r >= 0 && m->layers[s].link && m->layers[r].link) {
			flags[s] |= DL_LINK_Y;
			flags[r] |= DL_LINK_X;
		}
	}
	for (int i = 0; i < L; i++) {
		m->layers[i].link = flags[i];
		/* a conv reading bf16 x keeps no conversion of it */
		if ((flags[i] & DL_LINK_X) && m->layers[i].kind == &dl_layer_conv2d)
			m->layers[i].nsaved = 0;
	}
	free(readers);
	free(flags);
	return 0;
}

/* Marks each relu whose only input is a batch norm's or an add's output,
 * read by no other layer, as done by that layer (layer.h post_relu): the
 * relu's own forward (read and write of the tensor) and backward (two
 * reads and a write) are gone, and the result has the same bits. */
static int plan_fusion(dl_model *m)
{
	int L = m->nlayers;
	int *readers = count_readers(m);
	if (!readers)
		return -1;
	for (int i = 0; i < L; i++)
		m->layers[i].post_relu = m->layers[i].fused = 0;
	for (int i = 0; i < L && !m->no_fuse; i++) {
		dl_layer *l = &m->layers[i];
		int s = l->in_from[0];
		if (l->kind != &dl_layer_relu || l->nin != 1 || s < 0 || readers[s] != 1 ||
		    (m->layers[s].kind != &dl_layer_batchnorm && m->layers[s].kind != &dl_layer_add))
			continue;
		m->layers[s].post_relu = 1;
		l->fused = 1;
	}
	free(readers);
	if (m->for_training && !m->no_link)
		return plan_link_candidates(m);
	for (int i = 0; i < L; i++)
		m->layers[i].link = m->layers[i].link_now = 0;
	return 0;
}

/* Where each input gradient goes: the last consumer of a source (in line
 * order; the loss first if the source is the model output) writes its dy,
 * earlier ones write gsum scratch (offsets in *off, floats per sample)
 * that backward adds to it.  up[i]: layer i or something it depends on
 * has parameters, so its output gradient is needed.  Returns the scratch
 * size per sample. */
static size_t route_grads(dl_model *m, const int *up, size_t *off)
{
	int L = m->nlayers;
	char *written = calloc((size_t)L, 1);
	size_t most = 0;
	if (!written)
		return SIZE_MAX;
	int out = source_of(m, L - 1);
	if (out >= 0)
		written[out] = 1;
	for (int i = L - 1; i >= 0; i--) {
		dl_layer *l = &m->layers[i];
		size_t used = 0;
		m->need_dx[i] = 0;
		for (int j = 0; j < l->nin; j++) {
			int s = source_of(m, l->in_from[j]);
			l->dxs[j] = NULL;
			m->acc[i * DL_LAYER_MAX_IN + j] = NULL;
			off[i * DL_LAYER_MAX_IN + j] = SIZE_MAX;
			if (s < 0 || !up[s])
				continue;
			m->need_dx[i] = 1;
			if (dl_layer_alias(l))
				continue;
			if (!written[s]) {
				written[s] = 1;
				l->dxs[j] = m->dy[s];
			} else {
				off[i * DL_LAYER_MAX_IN + j] = used;
				m->acc[i * DL_LAYER_MAX_IN + j] = m->dy[s];
				used += dl_shape_size(l->ins[j]);
			}
		}
		most = used > most ? used : most;
	}
	free(written);
	return most;
}

/* Refuses a plan larger than m->max_plan_bytes (default: physical
 * memory), counting the activation and gradient blocks. */
static int check_plan_size(const dl_model *m, int batch, size_t total, size_t gtotal,
			   size_t wtotal, dl_err *err)
{
	double bytes = ((double)total + (double)gtotal) * batch * sizeof(float) +
		       (double)wtotal * sizeof(float);
	double limit = (double)m->max_plan_bytes;
	const char *what = "--max-memory";
	if (!m->max_plan_bytes) {
		long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
		if (pages <= 0 || psize <= 0)
			return 0;
		limit = (double)pages * (double)psize;
		what = "physical memory";
	}
	if (bytes <= limit)
		return 0;
	return dl_fail(err, DL_EFAIL, "%s: batch %d needs %.1f MiB of activations, more than %.1f MiB (%s); lower --batch or raise --max-memory",
		       m->name, batch, bytes / (1 << 20), limit / (1 << 20), what);
}

int dl_model_plan(dl_model *m, int batch, dl_err *err)
{
	dl_model_unplan(m);
	/* DL_FUSE=0 runs every layer on its own (to measure what fusion
	 * gives); 1 or unset: fuse */
	const char *fuse = getenv("DL_FUSE");
	if (fuse && strcmp(fuse, "0") && strcmp(fuse, "1"))
		return dl_fail(err, DL_EUSAGE, "DL_FUSE must be 0 or 1, not '%s'", fuse);
	if (fuse && !strcmp(fuse, "0"))
		m->no_fuse = 1;
	/* DL_BF16_LINK=0 plans no bf16 links (to measure what they give) */
	const char *link = getenv("DL_BF16_LINK");
	if (link && strcmp(link, "0") && strcmp(link, "1"))
		return dl_fail(err, DL_EUSAGE, "DL_BF16_LINK must be 0 or 1, not '%s'", link);
	if (link && !strcmp(link, "0"))
		m->no_link = 1;
	int L = m->nlayers;
	size_t B = (size_t)batch;
	m->y = calloc((size_t)L, sizeof *m->y);
	m->dy = calloc((size_t)L, sizeof *m->dy);
	m->need_dx = calloc((size_t)L, sizeof *m->need_dx);
	m->acc = calloc((size_t)L * DL_LAYER_MAX_IN, sizeof *m->acc);
	size_t *off = calloc((size_t)L * DL_LAYER_MAX_IN, sizeof *off);
	int *up = calloc((size_t)L, sizeof *up);
	if (!m->y || !m->dy || !m->need_dx || !m->acc || !off || !up || plan_fusion(m)) {
		free(off);
		free(up);
		dl_model_unplan(m);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	int rc = 0;
	for (int i = 0; i < L; i++) {
		dl_layer *l = &m->layers[i];
		l->nsaved = 0;
		l->saved = NULL;
		l->saved_fresh = 0;
		if (l->kind->reserve && !dl_layer_alias(l) &&
		    (rc = l->kind->reserve(l, m->be, batch, m->for_training, err))) {
			free(off);
			free(up);
			dl_model_unplan(m);
			return rc;
		}
	}
	if (plan_links(m)) {
		free(off);
		free(up);
		dl_model_unplan(m);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	/* one block for the input and every non-alias output; one for every
	 * layer's output gradient; one for the workspaces (and what the
	 * training pair keeps) */
	size_t total = dl_shape_size(m->input), gtotal = 0, wtotal = 0;
	for (int i = 0; i < L; i++) {
		if (!dl_layer_alias(&m->layers[i]))
			total += dl_shape_size(m->layers[i].out);
		/* an alias shares its source's gradient (below) */
		if (!dl_layer_alias(&m->layers[i]) || source_of(m, i) < 0)
			gtotal += dl_shape_size(m->layers[i].out);
		wtotal += m->layers[i].nws + m->layers[i].nsaved;
	}
	int big = check_plan_size(m, batch, total, gtotal, wtotal, err);
	if (big) {
		free(off);
		free(up);
		dl_model_unplan(m);
		return big;
	}
	m->act = m->be->ops->alloc(m->be, total * B * sizeof(float));
	m->dact = m->be->ops->alloc(m->be, (gtotal ? gtotal : 1) * B * sizeof(float));
	if (wtotal)
		m->ws = m->be->ops->alloc(m->be, wtotal * sizeof(float));
	if (!m->act || !m->dact || (wtotal && !m->ws))
		goto oom;
	m->x = m->act;
	float *a = m->act + dl_shape_size(m->input) * B, *d = m->dact, *w = m->ws;
	for (int i = 0; i < L; i++) {
		dl_layer *l = &m->layers[i];
		up[i] = l->nparam > 0;
		for (int j = 0; j < l->nin; j++) {
			int s = l->in_from[j];
			l->xs[j] = s < 0 ? m->x : m->y[s];
			up[i] |= s >= 0 && up[s];
		}
		if (dl_layer_alias(l)) {
			m->y[i] = (float *)l->xs[0];
		} else {
			m->y[i] = a;
			a += dl_shape_size(l->out) * B;
		}
		/* an alias layer's output gradient is its source's */
		int s = source_of(m, i);
		if (s >= 0 && s != i) {
			m->dy[i] = m->dy[s];
		} else {
			m->dy[i] = d;
			d += dl_shape_size(l->out) * B;
		}
		l->ws = l->nws ? w : NULL;
		if (l->nws)   /* w is NULL when no layer has a workspace */
			w += l->nws;
		l->saved = l->nsaved ? w : NULL;
		if (l->nsaved)
			w += l->nsaved;
	}
	size_t gsum = route_grads(m, up, off);
	if (gsum == SIZE_MAX)
		goto oom;
	if (gsum) {
		m->gsum = m->be->ops->alloc(m->be, gsum * B * sizeof(float));
		if (!m->gsum)
			goto oom;
		for (size_t e = 0; e < (size_t)L * DL_LAYER_MAX_IN; e++)
			if (off[e] != SIZE_MAX)
				m->layers[e / DL_LAYER_MAX_IN].dxs[e % DL_LAYER_MAX_IN] =
					m->gsum + off[e] * B;
	}
	m->batch = batch;
	goto out;
oom:
	dl_model_unplan(m);
	rc = dl_fail(err, DL_EFAIL, "out of memory for activations (batch %d)", batch);
out:
	free(off);
	free(up);
	return rc;
}

void dl_model_forward(dl_model *m, int n)
{
	for (int i = 0; i < m->nlayers; i++) {
		dl_layer *l = &m->layers[i];
		if (!dl_layer_alias(l))
			l->kind->forward(l, m->be, n, l->xs[0], m->y[i]);
	}
}

void dl_model_backward(dl_model *m, int n)
{
	for (int i = m->nlayers - 1; i >= 0; i--) {
		dl_layer *l = &m->layers[i];
		/* nothing at or above this layer needs a gradient: skip it */
		if (dl_layer_alias(l) || (!l->nparam && !m->need_dx[i]))
			continue;
		l->kind->backward(l, m->be, n, l->xs[0], m->y[i], m->dy[i], l->dxs[0]);
		for (int j = 0; j < l->nin; j++) {
			float *acc = m->acc[i * DL_LAYER_MAX_IN + j];
			if (acc)
				m->be->ops->axpby(m->be, (size_t)n * dl_shape_size(l->ins[j]), 1.0f,
						  l->dxs[j], 1.0f, acc);
		}
		/* data-parallel training: this layer's gradients and every one
		 * after it are final (model.h grads_ready) */
		if (l->nparam && m->grads_ready)
			m->grads_ready(m->grads_ctx, l->param[0].offset);
	}
}

float *dl_model_output(const dl_model *m)
{
	return m->y[m->nlayers - 1];
}

float *dl_model_doutput(const dl_model *m)
{
	return m->dy[m->nlayers - 1];
}

dl_shape dl_model_output_shape(const dl_model *m)
{
	return m->layers[m->nlayers - 1].out;
}
