/* Graph wiring: spec text -> the model's layers.  Parses the input line,
 * collects name=ID, wires each layer's inputs (from=), lets its kind
 * configure it (options, output shape, parameters) and lays out the
 * parameter and buffer blocks; dl_model_load reads a built-in or a spec
 * file.  No device memory here (lib/nn/model.c allocates, plan.c plans). */
#include "nn/model.h"

#include <stdlib.h>
#include <string.h>

#include "core/readall.h"
#include "nn/builtin.h"

/* A spec file is small text; anything bigger is a mistake. */
#define SPEC_MAX ((size_t)1 << 20)

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
	char known[512];
	if (!k)
		return dl_fail(err, DL_EDATA, "%s:%d: unknown layer '%s' (known: input, %s)", sl->src,
			       sl->lineno, sl->kind, dl_layer_kind_names(known, sizeof known));
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
	if (s.nlines > DL_MODEL_MAX_LAYERS + 2) {   /* + input and loss lines */
		rc = dl_fail(err, DL_EDATA, "%s:%d: more than %d layers (the limit of a model spec)",
			     src, s.lines[DL_MODEL_MAX_LAYERS + 2].lineno, DL_MODEL_MAX_LAYERS);
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
	memset(m, 0, sizeof *m);
	unsigned char *text = NULL;
	size_t n = 0;
	int rc = dl_read_file(name_or_path, SPEC_MAX - 1, &text, &n, err);
	if (rc)
		return rc;
	if (memchr(text, 0, n))
		rc = dl_fail(err, DL_EDATA, "%s: not a text file", name_or_path);
	else
		rc = dl_model_build(m, (const char *)text, name_or_path, err);
	free(text);
	return rc;
}
