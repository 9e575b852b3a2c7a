#include "train/checkpoint.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "io/safetensors.h"

void dl_norm_json(const dl_norm *norm, int h, int w, char *buf, size_t n)
{
	dl_buf b;
	dl_buf_init(&b);
	dl_buf_printf(&b, "{\"h\": %d, \"w\": %d, \"c\": %d, \"scale\": %.9g, \"mean\": [", h, w,
		      norm->c, (double)norm->scale);
	for (int i = 0; i < norm->c; i++)
		dl_buf_printf(&b, "%s%.9g", i ? ", " : "", (double)norm->mean[i]);
	dl_buf_puts(&b, "], \"std\": [");
	for (int i = 0; i < norm->c; i++)
		dl_buf_printf(&b, "%s%.9g", i ? ", " : "", (double)norm->std[i]);
	dl_buf_puts(&b, "], \"formula\": \"x = (u8 * scale - mean[c]) / std[c]\"}");
	snprintf(buf, n, "%s", b.oom ? "{}" : b.p);
	dl_buf_release(&b);
}

/* Appends tensor `name` (copied into names, which the writer borrows). */
static int add_tensor(dl_st_writer *w, char (*names)[48], int *ni, const char *fmt, int i,
		      const char *pname, const dl_param *p, const float *data, dl_err *err)
{
	snprintf(names[*ni], sizeof names[*ni], fmt, i, pname);
	return dl_st_add(w, names[(*ni)++], DL_F32, p->ndim, p->shape, data, err);
}

static void train_json(dl_buf *t, const dl_optim *o, const dl_train_state *st)
{
	dl_buf_printf(t, "{\"epoch\": %d, \"step\": %ld, \"batch\": %d, \"seed\": \"%" PRIu64 "\"",
		      st->epoch, st->step, st->batch, st->seed);
	if (o)
		dl_buf_printf(t, ", \"optimizer\": \"%s\", \"lr\": %.9g, \"momentum\": %.9g, "
			      "\"weight_decay\": %.9g, \"beta1\": %.9g, \"beta2\": %.9g, \"eps\": %.9g, "
			      "\"nesterov\": %d, \"clip_norm\": %.9g, \"optim_step\": %ld",
			      dl_optim_name(o->kind), (double)o->lr, (double)o->momentum,
			      (double)o->weight_decay, (double)o->beta1, (double)o->beta2,
			      (double)o->eps, o->nesterov, (double)o->clip_norm, o->step);
	dl_buf_puts(t, ", \"rng\": [");
	for (int i = 0; i < 4; i++)
		dl_buf_printf(t, "%s\"%016" PRIx64 "\"", i ? ", " : "", st->rng.s[i]);
	dl_buf_printf(t, "], \"pos\": %ld, \"seen\": %ld, \"stats\": [", st->pos, st->seen);
	for (int i = 0; i < DL_LOSS_NSTATS; i++)
		dl_buf_printf(t, "%s%.9g", i ? ", " : "", (double)st->stats[i]);
	/* %.17g keeps every bit of a double */
	dl_buf_printf(t, "], \"best\": %.17g, \"best_epoch\": %d, \"bad_epochs\": %d",
		      st->best_epoch ? st->best : 0.0, st->best_epoch, st->bad_epochs);
	dl_buf_printf(t, ", \"loss0\": %.17g}", st->loss0);
}

int dl_checkpoint_save(const char *path, const dl_model *m, const dl_optim *o,
		       const dl_train_state *st, const dl_norm *norm, const char *classes_json,
		       dl_err *err)
{
	dl_backend *be = m->be;
	size_t nstate = o ? (size_t)o->nstate * o->n : 0;
	int ntensors = 1;
	for (int i = 0; i < m->nlayers; i++)
		ntensors += m->layers[i].nparam + m->layers[i].nbuf;
	float *host = malloc((m->nparams + m->nbuffers + nstate + 1) * sizeof(float));
	char (*names)[48] = malloc((size_t)ntensors * sizeof *names);
	if (!host || !names) {
		free(host);
		free(names);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	float *hbuf = host + m->nparams, *hstate = hbuf + m->nbuffers;
	be->ops->to_host(be, host, m->params, m->nparams * sizeof(float));
	if (m->nbuffers)
		be->ops->to_host(be, hbuf, m->buffers, m->nbuffers * sizeof(float));
	if (nstate)
		be->ops->to_host(be, hstate, o->state, nstate * sizeof(float));
	int brc = be->ops->error(be, err);   /* never write numbers a device fault spoiled */
	if (brc) {
		free(host);
		free(names);
		return brc;
	}

	dl_st_writer w;
	dl_st_writer_init(&w);
	int rc = 0, ni = 0;
	for (int i = 0; i < m->nlayers && !rc; i++) {
		const dl_layer *l = &m->layers[i];
		for (int p = 0; p < l->nparam && !rc; p++)
			rc = add_tensor(&w, names, &ni, "%d.%s", i, l->param[p].name, &l->param[p],
					host + l->param[p].offset, err);
		for (int b = 0; b < l->nbuf && !rc; b++)
			rc = add_tensor(&w, names, &ni, "%d.%s", i, l->buf[b].name, &l->buf[b],
					hbuf + l->buf[b].offset, err);
	}
	if (!rc && nstate) {
		int64_t shape[2] = { o->nstate, (int64_t)o->n };
		rc = dl_st_add(&w, "optim.state", DL_F32, 2, shape, hstate, err);
	}
	char input[1024];
	dl_norm_json(norm, m->input.h, m->input.w, input, sizeof input);
	dl_buf t;
	dl_buf_init(&t);
	train_json(&t, o, st);
	if (t.oom && !rc)
		rc = dl_fail(err, DL_EFAIL, "out of memory");
	if (!rc) rc = dl_st_add_meta(&w, "dl.format", DL_CHECKPOINT_FORMAT, err);
	if (!rc) rc = dl_st_add_meta(&w, "dl.model", m->spec_text, err);
	if (!rc) rc = dl_st_add_meta(&w, "dl.model_name", m->name, err);
	if (!rc) rc = dl_st_add_meta(&w, "dl.input", input, err);
	if (!rc && classes_json) rc = dl_st_add_meta(&w, "dl.classes", classes_json, err);
	if (!rc) rc = dl_st_add_meta(&w, "dl.train", t.p, err);
	if (!rc && st->run) rc = dl_st_add_meta(&w, "dl.run", st->run, err);
	if (!rc)
		rc = dl_st_write(&w, path, err);
	dl_buf_release(&t);
	dl_st_writer_release(&w);
	free(names);
	free(host);
	return rc;
}

static int read_floats(const dl_json *arr, float *out, int n)
{
	if (!arr || arr->type != DL_JSON_ARRAY || (int)arr->len != n)
		return -1;
	for (int i = 0; i < n; i++) {
		if (arr->items[i].type != DL_JSON_NUMBER)
			return -1;
		out[i] = (float)arr->items[i].number;
	}
	return 0;
}

static int parse_input(const char *path, const char *s, const dl_model *m, dl_norm *norm,
		       dl_err *err)
{
	dl_json *j;
	int rc = dl_json_parse(s, strlen(s), path, &j, err);
	if (rc)
		return rc;
	long long h, w, c;
	const dl_json *sc = dl_json_get(j, "scale");
	if (dl_json_int(dl_json_get(j, "h"), 1, 1 << 14, &h) ||
	    dl_json_int(dl_json_get(j, "w"), 1, 1 << 14, &w) ||
	    dl_json_int(dl_json_get(j, "c"), 1, DL_NORM_MAX_C, &c) || !sc ||
	    sc->type != DL_JSON_NUMBER || h != m->input.h || w != m->input.w || c != m->input.c) {
		dl_json_free(j);
		return dl_fail(err, DL_EDATA, "%s: metadata dl.input is malformed or does not match the model", path);
	}
	norm->c = (int)c;
	norm->scale = (float)sc->number;
	if (read_floats(dl_json_get(j, "mean"), norm->mean, norm->c) ||
	    read_floats(dl_json_get(j, "std"), norm->std, norm->c))
		rc = dl_fail(err, DL_EDATA, "%s: metadata dl.input has bad mean/std", path);
	for (int i = 0; !rc && i < norm->c; i++)
		if (!(norm->std[i] > 0.0f))
			rc = dl_fail(err, DL_EDATA, "%s: metadata dl.input has std <= 0", path);
	dl_json_free(j);
	return rc;
}

/* Position within the epoch and early-stopping state; absent in
 * checkpoints written before they existed (then all zero). */
static int parse_position(const dl_json *j, dl_train_state *st)
{
	long long pos = 0, seen = 0, be = 0, bad = 0;
	const dl_json *p = dl_json_get(j, "pos");
	if (!p)
		return 0;
	const dl_json *stats = dl_json_get(j, "stats"), *best = dl_json_get(j, "best");
	if (dl_json_int(p, 0, (long long)1 << 40, &pos) ||
	    dl_json_int(dl_json_get(j, "seen"), 0, (long long)1 << 60, &seen) ||
	    dl_json_int(dl_json_get(j, "best_epoch"), 0, 1 << 30, &be) ||
	    dl_json_int(dl_json_get(j, "bad_epochs"), 0, 1 << 30, &bad) || !best ||
	    best->type != DL_JSON_NUMBER || read_floats(stats, st->stats, DL_LOSS_NSTATS))
		return -1;
	st->pos = (long)pos;
	st->seen = (long)seen;
	st->best_epoch = (int)be;
	st->bad_epochs = (int)bad;
	st->best = best->number;
	/* optional (newer checkpoints): the divergence rule's reference */
	const dl_json *l0 = dl_json_get(j, "loss0");
	if (l0 && (l0->type != DL_JSON_NUMBER || !(l0->number >= 0) || isinf(l0->number)))
		return -1;
	st->loss0 = l0 ? l0->number : 0;
	return 0;
}

static int parse_train(const char *path, const char *s, dl_checkpoint *ck, dl_optim *o,
		       dl_err *err)
{
	dl_json *j;
	int rc = dl_json_parse(s, strlen(s), path, &j, err);
	if (rc)
		return rc;
	long long epoch, step, batch;
	const dl_json *rng = dl_json_get(j, "rng"), *seed = dl_json_get(j, "seed");
	if (dl_json_int(dl_json_get(j, "epoch"), 0, 1 << 30, &epoch) ||
	    dl_json_int(dl_json_get(j, "step"), 0, (long long)1 << 60, &step) ||
	    dl_json_int(dl_json_get(j, "batch"), 0, 1 << 24, &batch) || !rng ||
	    rng->type != DL_JSON_ARRAY || rng->len != 4 || !seed || seed->type != DL_JSON_STRING) {
		dl_json_free(j);
		return dl_fail(err, DL_EDATA, "%s: metadata dl.train is malformed", path);
	}
	ck->train.epoch = (int)epoch;
	ck->train.step = (long)step;
	ck->train.batch = (int)batch;
	ck->train.seed = strtoull(seed->str, NULL, 10);
	for (int i = 0; i < 4; i++) {
		const dl_json *e = &rng->items[i];
		char *end = NULL;
		if (e->type == DL_JSON_STRING)
			ck->train.rng.s[i] = strtoull(e->str, &end, 16);
		if (e->type != DL_JSON_STRING || e->len != 16 || *end) {
			dl_json_free(j);
			return dl_fail(err, DL_EDATA, "%s: metadata dl.train has a bad rng state", path);
		}
	}
	if (parse_position(j, &ck->train)) {
		dl_json_free(j);
		return dl_fail(err, DL_EDATA, "%s: metadata dl.train has a bad position", path);
	}
	const dl_json *on = dl_json_get(j, "optimizer");
	if (o && on && on->type == DL_JSON_STRING) {
		int k;
		long long ostep;
		if (dl_opt_choice_value(dl_optim_choices, on->str, &k) ||
		    dl_json_int(dl_json_get(j, "optim_step"), 0, (long long)1 << 60, &ostep)) {
			dl_json_free(j);
			return dl_fail(err, DL_EDATA, "%s: metadata dl.train has a bad optimizer", path);
		}
		const char *keys[] = { "lr", "momentum", "weight_decay", "beta1", "beta2", "eps" };
		float *dst[] = { &o->lr, &o->momentum, &o->weight_decay, &o->beta1, &o->beta2, &o->eps };
		o->kind = (dl_optim_kind)k;
		o->step = (long)ostep;
		const dl_json *nv = dl_json_get(j, "nesterov"), *cn = dl_json_get(j, "clip_norm");
		o->nesterov = nv && nv->type == DL_JSON_NUMBER && nv->number != 0;
		o->clip_norm = cn && cn->type == DL_JSON_NUMBER ? (float)cn->number : 0.0f;
		for (int i = 0; i < 6; i++) {
			const dl_json *v = dl_json_get(j, keys[i]);
			if (!v || v->type != DL_JSON_NUMBER) {
				dl_json_free(j);
				return dl_fail(err, DL_EDATA, "%s: metadata dl.train lacks %s", path, keys[i]);
			}
			*dst[i] = (float)v->number;
		}
		ck->has_optim = 1;
	}
	dl_json_free(j);
	return 0;
}

/* dl.classes, when present, is a JSON list of strings: every reader
 * (dl-eval, predict, the exports) may rely on it. */
static int check_classes(const char *path, const char *classes, dl_err *err)
{
	if (!classes)
		return 0;
	dl_json *j;
	dl_err jerr;
	if (dl_json_parse(classes, strlen(classes), "dl.classes", &j, &jerr))
		return dl_fail(err, DL_EDATA, "%s: metadata dl.classes is not valid JSON: %s", path, jerr.msg);
	int ok = j->type == DL_JSON_ARRAY;
	for (size_t i = 0; ok && i < j->len; i++)
		ok = j->items[i].type == DL_JSON_STRING;
	dl_json_free(j);
	return ok ? 0 : dl_fail(err, DL_EDATA, "%s: metadata dl.classes is not a list of names", path);
}

int dl_checkpoint_load(const char *path, dl_model *m, dl_backend *be, dl_optim *o,
		       dl_checkpoint *ck, dl_err *err)
{
	memset(ck, 0, sizeof *ck);
	memset(m, 0, sizeof *m);
	if (o)
		memset(o, 0, sizeof *o);
	dl_st_file f;
	int rc = dl_st_open(&f, path, err);
	if (rc)
		return rc;
	const char *fmt = dl_st_meta_get(&f, "dl.format");
	const char *spec = dl_st_meta_get(&f, "dl.model");
	const char *name = dl_st_meta_get(&f, "dl.model_name");
	const char *input = dl_st_meta_get(&f, "dl.input");
	const char *train = dl_st_meta_get(&f, "dl.train");
	const char *classes = dl_st_meta_get(&f, "dl.classes");
	if (!fmt || strcmp(fmt, DL_CHECKPOINT_FORMAT) || !spec || !input || !train) {
		rc = dl_fail(err, DL_EDATA, "%s: not a dl-tools checkpoint (%s)", path,
			     !fmt ? "no dl.format metadata" : strcmp(fmt, DL_CHECKPOINT_FORMAT)
			     ? "unknown dl.format" : "metadata incomplete");
		goto out;
	}
	/* dl.model_name comes from the file and is quoted in messages, here and
	 * as every later "model NAME": a control byte must not break their line */
	char *label = strdup(name ? name : "model"), src[512];
	if (!label) {
		rc = dl_fail(err, DL_EFAIL, "%s: out of memory", path);
		goto out;
	}
	snprintf(src, sizeof src, "%s (model %s)", path, name ? dl_err_oneline(label) : "spec");
	if ((rc = dl_model_build(m, spec, src, err))) {
		free(label);
		goto out;
	}
	free(m->name);
	m->name = label;
	if ((rc = parse_input(path, input, m, &ck->norm, err)))
		goto out;
	/* the spec's claim against the real file before allocating for it:
	 * every parameter and buffer is a float stored in this file */
	if (m->nparams + m->nbuffers > f.size / sizeof(float)) {
		rc = dl_fail(err, DL_EDATA, "%s: the model needs %zu parameters but the file holds %zu bytes",
			     path, m->nparams + m->nbuffers, f.size);
		goto out;
	}
	if ((rc = dl_model_alloc(m, be, err)))
		goto out;
	int expected = 0;
	for (int i = 0; i < m->nlayers && !rc; i++) {
		const dl_layer *l = &m->layers[i];
		for (int p = 0; p < l->nparam && !rc; p++) {
			char tn[48];
			const dl_st_tensor *t;
			snprintf(tn, sizeof tn, "%d.%s", i, l->param[p].name);
			expected++;
			if ((rc = dl_st_get(&f, tn, DL_F32, l->param[p].ndim, &t, err)))
				break;
			for (int d = 0; d < t->ndim; d++)
				if (t->shape[d] != l->param[p].shape[d])
					rc = dl_fail(err, DL_EDATA, "%s: tensor '%s' dimension %d is %lld, the model needs %lld",
						     path, tn, d, (long long)t->shape[d],
						     (long long)l->param[p].shape[d]);
			if (!rc)
				be->ops->to_device(be, l->p[p], t->data, t->nbytes);
		}
		for (int b = 0; b < l->nbuf && !rc; b++) {
			char tn[48];
			const dl_st_tensor *t;
			snprintf(tn, sizeof tn, "%d.%s", i, l->buf[b].name);
			expected++;
			if ((rc = dl_st_get(&f, tn, DL_F32, l->buf[b].ndim, &t, err)))
				break;
			if (t->count != l->buf[b].count)
				rc = dl_fail(err, DL_EDATA, "%s: tensor '%s' has %zu values, the model needs %zu",
					     path, tn, t->count, l->buf[b].count);
			else
				be->ops->to_device(be, l->b[b], t->data, t->nbytes);
		}
	}
	if (rc)
		goto out;
	if ((rc = parse_train(path, train, ck, o, err)))
		goto out;
	if (o && ck->has_optim) {
		o->n = m->nparams;
		o->be = be;
		if ((rc = dl_optim_ready(o, err)))
			goto out;
		const dl_st_tensor *t = dl_st_find(&f, "optim.state");
		if (o->nstate) {
			if (!t || t->dtype != DL_F32 || t->ndim != 2 || t->shape[0] != o->nstate ||
			    t->shape[1] != (int64_t)o->n) {
				rc = dl_fail(err, DL_EDATA, "%s: optimizer state missing or of the wrong shape", path);
				goto out;
			}
			be->ops->to_device(be, o->state, t->data, t->nbytes);
			expected++;
		}
	}
	if (f.ntensors > expected + (!o && dl_st_find(&f, "optim.state") ? 1 : 0)) {
		rc = dl_fail(err, DL_EDATA, "%s: holds %d tensors, model %s has %d", path, f.ntensors,
			     m->name, expected);
		goto out;
	}
	const char *run = dl_st_meta_get(&f, "dl.run");
	if ((rc = check_classes(path, classes, err)))
		goto out;
	if ((classes && !(ck->classes_json = strdup(classes))) ||
	    (run && !(ck->run_json = strdup(run))))
		rc = dl_fail(err, DL_EFAIL, "out of memory");
out:
	dl_st_close(&f);
	if (rc) {
		if (o)
			dl_optim_release(o);
		dl_model_release(m);
		dl_checkpoint_release(ck);
	}
	return rc;
}

void dl_checkpoint_release(dl_checkpoint *ck)
{
	free(ck->classes_json);
	free(ck->run_json);
	ck->classes_json = NULL;
	ck->run_json = NULL;
}
