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

int dl_model_build(dl_model *m, const char *spec_text, const char *src, dl_err *err)
{
	memset(m, 0, sizeof *m);
	dl_spec s;
	int rc = dl_spec_parse(&s, spec_text, src, err);
	if (rc)
		return rc;
	m->name = strdup(src);
	m->spec_text = strdup(spec_text);
	m->layers = calloc((size_t)s.nlines, sizeof *m->layers);
	if (!m->name || !m->spec_text || !m->layers) {
		rc = dl_fail(err, DL_EFAIL, "out of memory");
		goto out;
	}
	if (strcmp(s.lines[0].kind, "input")) {
		rc = dl_fail(err, DL_EDATA, "%s:%d: the first line must be 'input h=H w=W c=C'",
			     src, s.lines[0].lineno);
		goto out;
	}
	if ((rc = parse_input(m, &s.lines[0], err)))
		goto out;
	dl_shape cur = m->input, unflat = m->input;
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
		const dl_layer_kind *k = dl_layer_kind_find(sl->kind);
		if (!k) {
			rc = dl_fail(err, DL_EDATA, "%s:%d: unknown layer '%s' (known: input, %s)", src,
				     sl->lineno, sl->kind, dl_layer_kind_names());
			goto out;
		}
		dl_layer *l = &m->layers[m->nlayers];
		l->kind = k;
		l->index = m->nlayers;
		l->lineno = sl->lineno;
		l->in = cur;
		l->unflat = unflat;
		l->nin = 1;
		l->in_from[0] = m->nlayers - 1;
		l->ins[0] = cur;
		l->run = &m->run;
		if ((rc = k->configure(l, sl, err)) || (rc = dl_spec_check_used(sl, err)))
			goto out;
		if (dl_shape_size(l->out) > (1u << 30)) {
			rc = dl_fail(err, DL_EDATA, "%s:%d: %s output too large", src, sl->lineno, k->name);
			goto out;
		}
		for (int p = 0; p < l->nparam; p++) {
			l->param[p].offset = m->nparams;
			m->nparams += l->param[p].count;
		}
		for (int b = 0; b < l->nbuf; b++) {
			l->buf[b].offset = m->nbuffers;
			m->nbuffers += l->buf[b].count;
		}
		if (!k->alias)
			unflat = l->out;
		cur = l->out;
		m->nlayers++;
	}
	if (m->nlayers == 0)
		rc = dl_fail(err, DL_EDATA, "%s: the model has no layers", src);
	else if (cur.h != 1 || cur.w != 1)
		rc = dl_fail(err, DL_EDATA, "%s: the last layer must give a flat output (got %dx%dx%d)",
			     src, cur.h, cur.w, cur.c);
out:
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
	}
	m->act = m->dact = NULL;
	free(m->y);
	free(m->dy);
	free(m->need_dx);
	m->y = m->dy = NULL;
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
	return 0;
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
	return 0;
}

void dl_model_set_training(dl_model *m, int training)
{
	m->run.training = training;
}

int dl_model_plan(dl_model *m, int batch, dl_err *err)
{
	free_acts(m);
	int L = m->nlayers;
	m->y = calloc((size_t)L, sizeof *m->y);
	m->dy = calloc((size_t)L, sizeof *m->dy);
	m->need_dx = calloc((size_t)L, sizeof *m->need_dx);
	if (!m->y || !m->dy || !m->need_dx)
		return dl_fail(err, DL_EFAIL, "out of memory");
	/* one block for the input and every non-alias output; same for grads */
	size_t total = dl_shape_size(m->input), gtotal = 0;
	for (int i = 0; i < L; i++) {
		if (!m->layers[i].kind->alias)
			total += dl_shape_size(m->layers[i].out);
		gtotal += dl_shape_size(m->layers[i].out);
	}
	m->act = m->be->ops->alloc(m->be, total * (size_t)batch * sizeof(float));
	m->dact = m->be->ops->alloc(m->be, (gtotal ? gtotal : 1) * (size_t)batch * sizeof(float));
	if (!m->act || !m->dact) {
		free_acts(m);
		return dl_fail(err, DL_EFAIL, "out of memory for activations (batch %d)", batch);
	}
	m->x = m->act;
	float *a = m->act + dl_shape_size(m->input) * (size_t)batch, *d = m->dact;
	int any_params = 0;
	for (int i = 0; i < L; i++) {
		dl_layer *l = &m->layers[i];
		m->need_dx[i] = any_params;
		if (l->nparam)
			any_params = 1;
		if (l->kind->alias) {
			m->y[i] = i ? m->y[i - 1] : m->x;
		} else {
			m->y[i] = a;
			a += dl_shape_size(l->out) * (size_t)batch;
		}
		m->dy[i] = d;
		d += dl_shape_size(l->out) * (size_t)batch;
	}
	/* an alias layer's output gradient is its input's gradient (the
	 * buffer the layer below would have had goes unused) */
	for (int i = L - 1; i > 0; i--)
		if (m->layers[i].kind->alias)
			m->dy[i - 1] = m->dy[i];
	m->batch = batch;
	return 0;
}

void dl_model_forward(dl_model *m, int n)
{
	for (int i = 0; i < m->nlayers; i++) {
		dl_layer *l = &m->layers[i];
		if (l->kind->alias)
			continue;
		const float *x = i ? m->y[i - 1] : m->x;
		l->kind->forward(l, m->be, n, x, m->y[i]);
	}
}

void dl_model_backward(dl_model *m, int n)
{
	for (int i = m->nlayers - 1; i >= 0; i--) {
		dl_layer *l = &m->layers[i];
		if (l->kind->alias)
			continue;
		const float *x = i ? m->y[i - 1] : m->x;
		float *dx = (i && m->need_dx[i]) ? m->dy[i - 1] : NULL;
		l->kind->backward(l, m->be, n, x, m->y[i], m->dy[i], dx);
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

static void commas(char *buf, size_t n, size_t v)
{
	char tmp[32];
	int len = snprintf(tmp, sizeof tmp, "%zu", v), o = 0;
	for (int i = 0; i < len && (size_t)o + 2 < n; i++) {
		if (i && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
}

void dl_model_summary(const dl_model *m, FILE *out)
{
	char line[] = "-----------------------------------------------------------------------";
	fprintf(out, "model: %s\n%s\n", m->name, line);
	fprintf(out, "%-4s %-10s %-18s %-18s %14s\n", "#", "layer", "options", "output shape", "params");
	fprintf(out, "%s\n", line);
	fprintf(out, "%-4s %-10s %-18s (%d, %d, %d)%*s %14s\n", "", "input", "", m->input.h,
		m->input.w, m->input.c, 0, "", "0");
	for (int i = 0; i < m->nlayers; i++) {
		const dl_layer *l = &m->layers[i];
		char opts[64] = "", shape[48], num[32];
		if (l->kind->describe)
			l->kind->describe(l, opts, sizeof opts);
		if (l->out.h == 1 && l->out.w == 1)
			snprintf(shape, sizeof shape, "(%d)", l->out.c);
		else
			snprintf(shape, sizeof shape, "(%d, %d, %d)", l->out.h, l->out.w, l->out.c);
		size_t np = 0;
		for (int p = 0; p < l->nparam; p++)
			np += l->param[p].count;
		commas(num, sizeof num, np);
		fprintf(out, "%-4d %-10s %-18s %-18s %14s\n", i, l->kind->name, opts, shape, num);
	}
	char total[32];
	commas(total, sizeof total, m->nparams);
	fprintf(out, "%s\ntotal params: %s\ntrainable params: %s\n", line, total, total);
}
