#include "train/init.h"

#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "train/checkpoint.h"

static const dl_st_tensor *find(const dl_st_file *f, const char *name)
{
	const dl_st_tensor *t = dl_st_find(f, name);
	if (!t) {
		char alt[160];
		snprintf(alt, sizeof alt, "module.%s", name);
		t = dl_st_find(f, alt);
	}
	return t;
}

/* Tensor j of layer i (its parameters, then its buffers) in *p, named
 * "<i>.<name>" in name, and the file's tensor of that name or NULL. */
static const dl_st_tensor *layer_tensor(const dl_st_file *f, const dl_layer *l, int i, int j,
					const dl_param **p, char *name, size_t n)
{
	*p = j >= l->nparam ? &l->buf[j - l->nparam] : &l->param[j];
	snprintf(name, n, "%d.%s", i, (*p)->name);
	return find(f, name);
}

/* The shape FILE should hold for parameter i of l (torch: as exported). */
static void want_shape(const dl_layer *l, const dl_param *p, int i, int torch, const float *host,
		       float *scratch, int64_t *shape, int *ndim)
{
	if (torch && l->kind->to_torch && p == &l->param[i]) {
		l->kind->to_torch(l, i, host + p->offset, scratch, shape, ndim);
		return;
	}
	*ndim = p->ndim;
	memcpy(shape, p->shape, sizeof p->shape);
}

static int same_shape(const dl_st_tensor *t, const int64_t *shape, int ndim)
{
	if (t->ndim != ndim)
		return 0;
	for (int d = 0; d < ndim; d++)
		if (t->shape[d] != shape[d])
			return 0;
	return 1;
}

static void shape_text(dl_buf *b, const int64_t *shape, int ndim)
{
	dl_buf_puts(b, "[");
	for (int d = 0; d < ndim; d++)
		dl_buf_printf(b, "%s%lld", d ? "," : "", (long long)shape[d]);
	dl_buf_puts(b, "]");
}

int dl_init_from(dl_model *m, const char *path, dl_init_report *rep, dl_err *err)
{
	dl_backend *be = m->be;
	dl_st_file f = { 0 };
	memset(rep, 0, sizeof *rep);
	dl_buf_init(&rep->text);
	dl_buf_init(&rep->json);
	int rc = dl_st_open(&f, path, err);
	if (rc)
		return rc;
	const char *fmt = dl_st_meta_get(&f, "dl.format");
	int torch = !(fmt && !strcmp(fmt, DL_CHECKPOINT_FORMAT));
	size_t np = m->nparams ? m->nparams : 1, nb = m->nbuffers ? m->nbuffers : 1;
	float *host = malloc(sizeof(float) * np), *bufs = malloc(sizeof(float) * nb);
	float *scratch = malloc(sizeof(float) * (np > nb ? np : nb));
	dl_buf lo, sk, fr;
	dl_buf_init(&lo);
	dl_buf_init(&sk);
	dl_buf_init(&fr);
	if (!host || !bufs || !scratch) {
		rc = dl_fail(err, DL_EFAIL, "out of memory");
		goto out;
	}
	be->ops->to_host(be, host, m->params, sizeof(float) * m->nparams);
	if (m->nbuffers)
		be->ops->to_host(be, bufs, m->buffers, sizeof(float) * m->nbuffers);
	for (int i = 0; i < m->nlayers; i++) {
		dl_layer *l = &m->layers[i];
		if (!l->nparam && !l->nbuf)
			continue;
		int present = 0, ok = 1;
		char why[256] = "";
		for (int j = 0; j < l->nparam + l->nbuf; j++) {
			int isbuf = j >= l->nparam;
			const dl_param *p;
			char name[128];
			const dl_st_tensor *t = layer_tensor(&f, l, i, j, &p, name, sizeof name);
			int64_t shape[4];
			int ndim;
			want_shape(l, p, j, torch && !isbuf, host, scratch, shape, &ndim);
			if (!t) {
				ok = 0;
				continue;
			}
			present = 1;
			if (t->dtype != DL_F32 || !same_shape(t, shape, ndim)) {
				dl_buf b;
				dl_buf_init(&b);
				dl_buf_printf(&b, "%s is %s ", name, dl_dtype_name(t->dtype));
				shape_text(&b, t->shape, t->ndim);
				dl_buf_puts(&b, " in the file, F32 ");
				shape_text(&b, shape, ndim);
				dl_buf_puts(&b, " here");
				if (!why[0] && !b.oom)
					snprintf(why, sizeof why, "%s", b.p);
				dl_buf_release(&b);
				ok = 0;
			}
		}
		dl_buf *list = ok ? &lo : present ? &sk : &fr;
		dl_buf_printf(list, "%s%d", list->len ? ", " : "", i);
		if (!ok) {
			if (present) {
				rep->skipped++;
				dl_buf_printf(&rep->text, "layer %d (%s): skipped: %s\n", i, l->kind->name, why);
			} else {
				rep->fresh++;
			}
			continue;
		}
		rep->loaded++;
		for (int j = 0; j < l->nparam + l->nbuf; j++) {
			int isbuf = j >= l->nparam;
			const dl_param *p;
			char name[128];
			const dl_st_tensor *t = layer_tensor(&f, l, i, j, &p, name, sizeof name);
			float *dst = (isbuf ? bufs : host) + p->offset;
			memcpy(scratch, t->data, t->nbytes);   /* unaligned in foreign files */
			if (torch && !isbuf && l->kind->from_torch)
				l->kind->from_torch(l, j, scratch, dst);
			else
				memcpy(dst, scratch, t->nbytes);
		}
	}
	if (!rep->loaded) {
		rc = dl_fail(err, DL_EDATA, "%s: no layer of %s matches it by name and shape (%s)", path,
			     m->name, rep->skipped ? "all differ in shape" : "no '<layer>.weight' names");
		goto out;
	}
	be->ops->to_device(be, m->params, host, sizeof(float) * m->nparams);
	if (m->nbuffers)
		be->ops->to_device(be, m->buffers, bufs, sizeof(float) * m->nbuffers);
	dl_buf_printf(&rep->json, "{\"file\": ");
	dl_buf_json_string(&rep->json, path);
	dl_buf_printf(&rep->json, ", \"layout\": \"%s\", \"loaded\": [%s], \"skipped\": [%s], \"fresh\": [%s]}",
		      torch ? "pytorch" : "dl-tools", lo.len ? lo.p : "", sk.len ? sk.p : "",
		      fr.len ? fr.p : "");
	if (rep->json.oom || rep->text.oom)
		rc = dl_fail(err, DL_EFAIL, "out of memory");
out:
	dl_buf_release(&lo);
	dl_buf_release(&sk);
	dl_buf_release(&fr);
	free(host);
	free(bufs);
	free(scratch);
	dl_st_close(&f);
	return rc;
}

void dl_init_report_release(dl_init_report *rep)
{
	dl_buf_release(&rep->text);
	dl_buf_release(&rep->json);
}

int dl_parse_layers(const dl_model *m, const char *spec, unsigned char *frozen, dl_err *err)
{
	const char *p = spec;
	memset(frozen, 0, (size_t)m->nlayers);
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (end == p)
			goto bad;
		if (*end == '-') {
			const char *q = end + 1;
			b = strtol(q, &end, 10);
			if (end == q)
				goto bad;
		}
		if (a < 0 || b < a || b >= m->nlayers)
			return dl_fail(err, DL_EUSAGE, "--freeze '%s': layers of %s are 0..%d", spec, m->name,
				       m->nlayers - 1);
		for (long i = a; i <= b; i++) {
			if (!m->layers[i].nparam && a == b)
				return dl_fail(err, DL_EUSAGE, "--freeze '%s': layer %ld (%s) has no parameters",
					       spec, i, m->layers[i].kind->name);
			frozen[i] = 1;
		}
		if (*end == ',' && end[1])
			end++;
		else if (*end)
			goto bad;
		p = end;
	}
	return 0;
bad:
	return dl_fail(err, DL_EUSAGE, "--freeze '%s': expected layer indices and ranges, e.g. 0,3,5-7",
		       spec);
}
