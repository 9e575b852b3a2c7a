#include "nn/model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nn/builtin.h"

static int parse_input(dl_model *m, dl_spec_line *l, dl_err *err)
{
	int rc = dl_spec_int(l, "h", 0, 1, 1 << 14, &m->input.h, err);
	if (!rc)
		rc = dl_spec_int(l, "w", 0, 1, 1 << 14, &m->input.w, err);
	if (!rc)
		rc = dl_spec_int(l, "c", 0, 1, 1 << 12, &m->input.c, err);
	if (!rc)
		rc = dl_spec_check_used(l, err);
	return rc;
}

/* A name given with name=ID on a layer line. */
typedef struct spec_name {
	const char *id;   /* borrowed from the spec line */
	int layer;        /* layer index */
	int lineno;
} spec_name;

/* Collects name=ID of every layer line (loss and input excluded). */
static int collect_names(dl_spec *s, spec_name *names, int *nnames, dl_err *err)
{
	int layer = 0;
	*nnames = 0;
	for (int i = 1; i < s->nlines; i++) {
		dl_spec_line *sl = &s->lines[i];
		if (!strcmp(sl->kind, "loss"))
			continue;
		const char *id;
		int rc = dl_spec_str(sl, "name", "", &id, err);
		if (rc)
			return rc;
		if (*id) {
			if (!strcmp(id, "input") || strchr(id, ','))
				return dl_fail(err, DL_EDATA, "%s:%d: name=%s: 'input' and commas are reserved",
					       sl->src, sl->lineno, id);
			for (int j = 0; j < *nnames; j++)
				if (!strcmp(names[j].id, id))
					return dl_fail(err, DL_EDATA, "%s:%d: name=%s is already used on line %d",
						       sl->src, sl->lineno, id, names[j].lineno);
			names[(*nnames)++] = (spec_name){ id, layer, sl->lineno };
		}
		layer++;
	}
	return 0;
}

/* The shape PyTorch would flatten for the output of layer i (-1: input). */
static dl_shape unflat_of(const dl_model *m, int i)
{
	if (i < 0)
		return m->input;
	const dl_layer *l = &m->layers[i];
	return l->kind->alias ? l->unflat : l->out;
}

/* Reads from=ID[,ID...] into l->in_from (default: the previous layer). */
static int wire_inputs(dl_model *m, dl_layer *l, dl_spec_line *sl, const spec_name *names,
		       int nnames, dl_err *err)
{
	const char *from;
	int rc = dl_spec_str(sl, "from", "", &from, err);
	if (rc)
		return rc;
	l->nin = 0;
	if (!*from) {
		l->nin = 1;
		l->in_from[0] = l->index - 1;
	}
	for (const char *p = from; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == 0)
			return dl_fail(err, DL_EDATA, "%s:%d: from=%s: empty name in the list", sl->src,
				       sl->lineno, from);
		if (l->nin == DL_LAYER_MAX_IN)
			return dl_fail(err, DL_EDATA, "%s:%d: from=%s: at most %d inputs", sl->src,
				       sl->lineno, from, DL_LAYER_MAX_IN);
		int src = -2;
		if (len == 5 && !memcmp(p, "input", 5))
			src = -1;
		for (int j = 0; src == -2 && j < nnames; j++)
			if (strlen(names[j].id) == len && !memcmp(names[j].id, p, len)) {
				if (names[j].layer >= l->index)
					return dl_fail(err, DL_EDATA, "%s:%d: from=%.*s: '%.*s' is on line %d; a layer can only take earlier lines' outputs",
						       sl->src, sl->lineno, (int)len, p, (int)len, p,
						       names[j].lineno);
				src = names[j].layer;
			}
		if (src == -2)
			return dl_fail(err, DL_EDATA, "%s:%d: from=%.*s: no layer is named '%.*s' (name one with name=%.*s)",
				       sl->src, sl->lineno, (int)len, p, (int)len, p, (int)len, p);
		l->in_from[l->nin++] = src;
		p += len;
		if (*p == ',')
			p++;
		if (comma && !*p)
			return dl_fail(err, DL_EDATA, "%s:%d: from=%s: empty name in the list", sl->src,
				       sl->lineno, from);
	}
	if (l->nin > 1 && !l->kind->multi_input)
		return dl_fail(err, DL_EDATA, "%s:%d: %s takes one input (from=%s names %d)", sl->src,
			       sl->lineno, l->kind->name, from, l->nin);
	if (l->kind->multi_input && l->nin < 2)
		return dl_fail(err, DL_EDATA, "%s:%d: %s needs two or more inputs: from=A,B", sl->src,
			       sl->lineno, l->kind->name);
	for (int j = 0; j < l->nin; j++)
		l->ins[j] = l->in_from[j] < 0 ? m->input : m->layers[l->in_from[j]].out;
	l->in = l->ins[0];
	l->unflat = unflat_of(m, l->in_from[0]);
	return 0;
}

static int build_layer(dl_model *m, dl_spec_line *sl, const spec_name *names, int nnames,
		       dl_err *err)
{
	const dl_layer_kind *k = dl_layer_kind_find(sl->kind);
	if (!k)
		return dl_fail(err, DL_EDATA, "%s:%d: unknown layer '%s' (known: input, %s)", sl->src,
			       sl->lineno, sl->kind, dl_layer_kind_names());
	dl_layer *l = &m->layers[m->nlayers];
	l->kind = k;
	l->index = m->nlayers;
	l->lineno = sl->lineno;
	l->run = &m->run;
	int rc = wire_inputs(m, l, sl, names, nnames, err);
	if (rc || (rc = k->configure(l, sl, err)) || (rc = dl_spec_check_used(sl, err)))
		return rc;
	if (dl_shape_size(l->out) > (1u << 30))
		return dl_fail(err, DL_EDATA, "%s:%d: %s output too large", sl->src, sl->lineno,
			       k->name);
	for (int p = 0; p < l->nparam; p++) {
		l->param[p].offset = m->nparams;
		m->nparams += l->param[p].count;
	}
	for (int b = 0; b < l->nbuf; b++) {
		l->buf[b].offset = m->nbuffers;
		m->nbuffers += l->buf[b].count;
	}
	m->nlayers++;
	return 0;
}

/* Every output but the last layer's must feed some layer. */
static int check_all_used(const dl_model *m, const char *src, dl_err *err)
{
	for (int i = 0; i + 1 < m->nlayers; i++) {
		int used = 0;
		for (int j = i + 1; j < m->nlayers && !used; j++)
			for (int e = 0; e < m->layers[j].nin; e++)
				used |= m->layers[j].in_from[e] == i;
		if (!used)
			return dl_fail(err, DL_EDATA, "%s:%d: the output of this %s is never used (only the last layer's output leaves the model)",
				       src, m->layers[i].lineno, m->layers[i].kind->name);
	}
	return 0;
}

int dl_model_build(dl_model *m, const char *spec_text, const char *src, dl_err *err)
{
	memset(m, 0, sizeof *m);
	dl_spec s;
	int rc = dl_spec_parse(&s, spec_text, src, err);
	if (rc)
		return rc;
	int nnames = 0;
	spec_name *names = calloc((size_t)s.nlines, sizeof *names);
	m->name = strdup(src);
	m->spec_text = strdup(spec_text);
	m->layers = calloc((size_t)s.nlines, sizeof *m->layers);
	if (!m->name || !m->spec_text || !m->layers || !names) {
		rc = dl_fail(err, DL_EFAIL, "out of memory");
		goto out;
	}
	if (strcmp(s.lines[0].kind, "input")) {
		rc = dl_fail(err, DL_EDATA, "%s:%d: the first line must be 'input h=H w=W c=C'",
			     src, s.lines[0].lineno);
		goto out;
	}
	if ((rc = parse_input(m, &s.lines[0], err)) ||
	    (rc = collect_names(&s, names, &nnames, err)))
		goto out;
	for (int i = 1; i < s.nlines; i++) {
		dl_spec_line *sl = &s.lines[i];
		if (!strcmp(sl->kind, "loss")) {
			if (i != s.nlines - 1) {
				rc = dl_fail(err, DL_EDATA, "%s:%d: 'loss' must be the last line", src,
					     sl->lineno);
				goto out;
			}
			if ((rc = dl_loss_parse(&m->loss, sl, err)))
				goto out;
			continue;
		}
		if ((rc = build_layer(m, sl, names, nnames, err)))
			goto out;
	}
	if (m->nlayers == 0) {
		rc = dl_fail(err, DL_EDATA, "%s: the model has no layers", src);
		goto out;
	}
	dl_shape last = m->layers[m->nlayers - 1].out;
	if (last.h != 1 || last.w != 1)
		rc = dl_fail(err, DL_EDATA, "%s: the last layer must give a flat output (got %dx%dx%d)",
			     src, last.h, last.w, last.c);
	else
		rc = check_all_used(m, src, err);
out:
	free(names);
	dl_spec_release(&s);
	if (rc)
		dl_model_release(m);
	return rc;
}

int dl_model_load(dl_model *m, const char *name_or_path, dl_err *err)
{
	const char *spec = dl_builtin_spec(name_or_path);
	if (spec)
		return dl_model_build(m, spec, name_or_path, err);
	if (!strchr(name_or_path, '/') && !strstr(name_or_path, ".spec")) {
		memset(m, 0, sizeof *m);
		dl_err_clear(err);
		char names[256] = "";
		for (const dl_builtin_model *b = dl_builtin_models; b->name; b++) {
			strncat(names, b->name, sizeof names - strlen(names) - 3);
			if (b[1].name)
				strcat(names, ", ");
		}
		return dl_fail(err, DL_EUSAGE, "unknown model '%s' (built-in: %s; or a path to a .spec file)",
			       name_or_path, names);
	}
	FILE *f = fopen(name_or_path, "rb");
	if (!f)
		return dl_fail_errno(err, DL_EIO, "%s: cannot open", name_or_path);
	char *text = malloc(1 << 20);
	size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
	int bad = ferror(f), big = !feof(f);
	fclose(f);
	if (!text)
		return dl_fail(err, DL_EFAIL, "out of memory");
	if (bad || big || memchr(text, 0, n)) {
		free(text);
		return dl_fail(err, DL_EDATA, "%s: %s", name_or_path,
			       bad ? "read error" : big ? "spec larger than 1 MiB" : "not a text file");
	}
	text[n] = '\0';
	int rc = dl_model_build(m, text, name_or_path, err);
	free(text);
	return rc;
}

static void free_acts(dl_model *m)
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

void dl_model_release(dl_model *m)
{
	free_acts(m);
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

/* The layer that computes layer i's output (through flatten aliases), or
 * -1 for the model input. */
static int source_of(const dl_model *m, int i)
{
	while (i >= 0 && m->layers[i].kind->alias)
		i = m->layers[i].in_from[0];
	return i;
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
			if (l->kind->alias)
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

int dl_model_plan(dl_model *m, int batch, dl_err *err)
{
	free_acts(m);
	int L = m->nlayers;
	size_t B = (size_t)batch;
	m->y = calloc((size_t)L, sizeof *m->y);
	m->dy = calloc((size_t)L, sizeof *m->dy);
	m->need_dx = calloc((size_t)L, sizeof *m->need_dx);
	m->acc = calloc((size_t)L * DL_LAYER_MAX_IN, sizeof *m->acc);
	size_t *off = calloc((size_t)L * DL_LAYER_MAX_IN, sizeof *off);
	int *up = calloc((size_t)L, sizeof *up);
	if (!m->y || !m->dy || !m->need_dx || !m->acc || !off || !up) {
		free(off);
		free(up);
		free_acts(m);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	/* one block for the input and every non-alias output; one for every
	 * layer's output gradient; one for the workspaces */
	size_t total = dl_shape_size(m->input), gtotal = 0, wtotal = 0;
	for (int i = 0; i < L; i++) {
		if (!m->layers[i].kind->alias)
			total += dl_shape_size(m->layers[i].out);
		gtotal += dl_shape_size(m->layers[i].out);
		wtotal += m->layers[i].nws;
	}
	m->act = m->be->ops->alloc(m->be, total * B * sizeof(float));
	m->dact = m->be->ops->alloc(m->be, (gtotal ? gtotal : 1) * B * sizeof(float));
	if (wtotal)
		m->ws = m->be->ops->alloc(m->be, wtotal * sizeof(float));
	int rc = 0;
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
		if (l->kind->alias) {
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
		w += l->nws;
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
	free_acts(m);
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
		if (!l->kind->alias)
			l->kind->forward(l, m->be, n, l->xs[0], m->y[i]);
	}
}

void dl_model_backward(dl_model *m, int n)
{
	for (int i = m->nlayers - 1; i >= 0; i--) {
		dl_layer *l = &m->layers[i];
		/* nothing at or above this layer needs a gradient: skip it */
		if (l->kind->alias || (!l->nparam && !m->need_dx[i]))
			continue;
		l->kind->backward(l, m->be, n, l->xs[0], m->y[i], m->dy[i], l->dxs[0]);
		for (int j = 0; j < l->nin; j++) {
			float *acc = m->acc[i * DL_LAYER_MAX_IN + j];
			if (acc)
				m->be->ops->axpby(m->be, (size_t)n * dl_shape_size(l->ins[j]), 1.0f,
						  l->dxs[j], 1.0f, acc);
		}
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
