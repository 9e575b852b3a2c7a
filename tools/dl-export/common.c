/* What dl-export's writers share: parameter lookup and PyTorch layouts,
 * conv/pool geometry checks, the input metadata, and the safetensors
 * writer (PyTorch names and layouts). */
#include "export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "nn/layers/conv2d.h"
#include "nn/layers/pool.h"

int ex_conv_geom(const dl_layer *l, ex_conv *g, dl_err *err)
{
	const dl_param *w = l->nparam > 0 ? &l->param[0] : NULL;
	const dl_conv2d_opts *o = dl_conv2d_opts_of(l);
	if (!o || !w || strcmp(w->name, "weight") || w->ndim != 4)
		return dl_fail(err, DL_EDATA, "layer %d (conv2d): no 4-d weight", l->index);
	*g = (ex_conv){ .k = (int)w->shape[0], .kh = (int)w->shape[1], .kw = (int)w->shape[2],
			.cg = (int)w->shape[3], .stride = o->stride, .pad = o->pad,
			.dil = o->dilation, .bias = l->nparam > 1 };
	g->groups = g->cg > 0 && l->in.c % g->cg == 0 ? l->in.c / g->cg : 0;
	/* Anything this exporter does not know would change the output size in
	 * all but corner cases: refuse rather than guess. */
	int sh = g->dil * (g->kh - 1) + 1, sw = g->dil * (g->kw - 1) + 1;
	if (g->groups < 1 || g->groups != o->groups || g->stride < 1 || g->dil < 1 ||
	    g->k != l->out.c || g->k % g->groups ||
	    dl_conv_out(l->in.h, g->pad, g->pad, sh, g->stride) != l->out.h ||
	    dl_conv_out(l->in.w, g->pad, g->pad, sw, g->stride) != l->out.w)
		return dl_fail(err, DL_EDATA, "layer %d (conv2d): geometry this exporter does not "
			       "reproduce; refusing to write a wrong model", l->index);
	return 0;
}

int ex_pool_geom(const dl_layer *l, ex_pool *g, dl_err *err)
{
	const dl_pool_opts *o = dl_pool_opts_of(l);
	if (o)
		*g = (ex_pool){ .size = o->size, .stride = o->stride, .pad = o->pad };
	if (!o || g->size < 1 || g->stride < 1 || g->pad < 0 || 2 * g->pad > g->size ||
	    l->out.c != l->in.c ||
	    dl_conv_out(l->in.h, g->pad, g->pad, g->size, g->stride) != l->out.h ||
	    dl_conv_out(l->in.w, g->pad, g->pad, g->size, g->stride) != l->out.w)
		return dl_fail(err, DL_EDATA, "layer %d (%s): geometry this exporter does not "
			       "reproduce; refusing to write a wrong model", l->index, l->kind->name);
	return 0;
}

const float *ex_param(const ex_src *s, const dl_layer *l, const char *name, const dl_param **p)
{
	for (int i = 0; i < l->nparam; i++)
		if (!strcmp(l->param[i].name, name)) {
			if (p)
				*p = &l->param[i];
			return s->params + l->param[i].offset;
		}
	return NULL;
}

void ex_torch_param(const ex_src *s, const dl_layer *l, int i, float *dst, int64_t *shape,
		    int *ndim)
{
	const dl_param *pp = &l->param[i];
	if (l->kind->to_torch) {
		l->kind->to_torch(l, i, s->params + pp->offset, dst, shape, ndim);
	} else {
		memcpy(dst, s->params + pp->offset, pp->count * sizeof(float));
		memcpy(shape, pp->shape, sizeof pp->shape);
		*ndim = pp->ndim;
	}
}

void ex_input_json(const ex_src *s, const char *layout, dl_buf *b)
{
	char input[1024];
	dl_norm_json(&s->ck->norm, s->m->input.h, s->m->input.w, input, sizeof input);
	dl_buf_printf(b, "%.*s, \"layout\": \"%s\", \"output\": \"%s\"}", (int)strlen(input) - 1,
		      input, layout,
		      dl_loss_is_regression(&s->m->loss) ? "regression outputs"
							  : "logits (apply softmax for probabilities)");
}

int ex_is_chain(const dl_model *m)
{
	for (int i = 0; i < m->nlayers; i++)
		if (m->layers[i].nin != 1 || m->layers[i].in_from[0] != i - 1)
			return 0;
	return 1;
}

/* One module as data: {"module": NAME, "args": [...], "kwargs": {...}}. */
int ex_torch_text(const dl_model *m, dl_buf *b, dl_err *err)
{
	if (!ex_is_chain(m))
		return dl_fail(err, DL_EDATA, "%s: not a plain chain of layers: no torch.nn.Sequential "
			       "description (tensor names are still '<layer>.<param>')", m->name);
	dl_buf_puts(b, "[");
	int flat = 0;   /* the input to layer i is [N, C] (after flatten, dense, gap) */
	for (int i = 0; i < m->nlayers; i++) {
		const dl_layer *l = &m->layers[i];
		char mod[256];
		if (l->kind->torch_module)
			l->kind->torch_module(l, flat, mod, sizeof mod);
		else
			snprintf(mod, sizeof mod, "{\"module\": \"%s\", \"args\": [], \"kwargs\": {}}",
				 l->kind->torch);
		dl_buf_printf(b, "%s%s", i ? ", " : "", mod);
		if (l->kind->torch_flat)
			flat = 1;
	}
	dl_buf_puts(b, "]");
	return 0;
}

/* Tensor names: "<i>.<param>" (layer i of the spec, = the torch.nn.Sequential
 * index for chains) and "<i>.<buffer>" for running statistics, with the
 * "<i>.num_batches_tracked" PyTorch's BatchNorm2d also expects. */
int ex_write_safetensors(const ex_src *s, const char *out, dl_err *err)
{
	const dl_model *m = s->m;
	size_t nt = 0;
	for (int i = 0; i < m->nlayers; i++)
		nt += (size_t)m->layers[i].nparam + (size_t)m->layers[i].nbuf + 1;
	float *conv = malloc(sizeof(float) * (m->nparams ? m->nparams : 1));
	char(*names)[48] = calloc(nt ? nt : 1, sizeof *names);
	int64_t(*shapes)[4] = calloc(nt ? nt : 1, sizeof *shapes);
	static const int64_t zero64 = 0;
	int rc = 0;
	size_t ni = 0;
	dl_st_writer w;
	dl_st_writer_init(&w);
	if (!conv || !names || !shapes)
		rc = dl_fail(err, DL_EFAIL, "out of memory");
	for (int i = 0; i < m->nlayers && !rc; i++) {
		const dl_layer *l = &m->layers[i];
		for (int p = 0; p < l->nparam && !rc; p++, ni++) {
			int ndim;
			float *dst = conv + l->param[p].offset;
			ex_torch_param(s, l, p, dst, shapes[ni], &ndim);
			snprintf(names[ni], sizeof names[ni], "%d.%s", i, l->param[p].name);
			rc = dl_st_add(&w, names[ni], DL_F32, ndim, shapes[ni], dst, err);
		}
		for (int p = 0; p < l->nbuf && !rc; p++, ni++) {
			snprintf(names[ni], sizeof names[ni], "%d.%s", i, l->buf[p].name);
			rc = dl_st_add(&w, names[ni], DL_F32, l->buf[p].ndim, l->buf[p].shape,
				       s->bufs + l->buf[p].offset, err);
		}
		if (!rc && l->nbuf && !strcmp(l->buf[0].name, "running_mean")) {
			snprintf(names[ni], sizeof names[ni], "%d.num_batches_tracked", i);
			rc = dl_st_add(&w, names[ni++], DL_I64, 0, shapes[0], &zero64, err);
		}
	}
	dl_buf in, tt;
	dl_buf_init(&in);
	dl_buf_init(&tt);
	ex_input_json(s, "NCHW float32", &in);
	int chain = ex_is_chain(m);
	if (chain && !rc)
		rc = ex_torch_text(m, &tt, err);
	if (in.oom || tt.oom)
		rc = rc ? rc : dl_fail(err, DL_EFAIL, "out of memory");
	if (!rc) rc = dl_st_add_meta(&w, "dl.format", "dl-tools export safetensors-torch 1", err);
	if (!rc) rc = dl_st_add_meta(&w, "dl.input", in.p, err);
	if (!rc && chain) rc = dl_st_add_meta(&w, "dl.torch_layers", tt.p, err);
	if (!rc) rc = dl_st_add_meta(&w, "dl.model_name", m->name, err);
	if (!rc) rc = dl_st_add_meta(&w, "dl.model", m->spec_text, err);
	if (!rc && s->ck->classes_json) rc = dl_st_add_meta(&w, "dl.classes", s->ck->classes_json, err);
	if (!rc)
		rc = dl_st_write(&w, out, err);
	dl_buf_release(&in);
	dl_buf_release(&tt);
	dl_st_writer_release(&w);
	free(conv);
	free(names);
	free(shapes);
	return rc;
}
