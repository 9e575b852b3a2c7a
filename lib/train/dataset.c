#include "train/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/rng.h"

/* dl.classes: a non-empty list; returns its length, 0 if absent. */
static int read_classes(dl_dataset *d, const char *path, int *declared, dl_err *err)
{
	*declared = 0;
	d->classes_json = dl_st_meta_get(&d->file, "dl.classes");
	if (!d->classes_json)
		return 0;
	dl_json *j;
	int rc = dl_json_parse(d->classes_json, strlen(d->classes_json), path, &j, err);
	if (rc)
		return rc;
	if (j->type != DL_JSON_ARRAY || j->len < 1 || j->len > 1000000)
		rc = dl_fail(err, DL_EDATA, "%s: metadata dl.classes is not a list of names", path);
	else
		*declared = (int)j->len;
	dl_json_free(j);
	return rc;
}

static int check_labels(dl_dataset *d, const char *path, int declared, dl_err *err)
{
	int32_t maxl = -1;
	for (int i = 0; i < d->n; i++) {
		int32_t l;
		memcpy(&l, d->labels + i, sizeof l);
		if (l < 0 || (declared && l >= declared))
			return dl_fail(err, DL_EDATA, "%s: label %d of sample %d is outside [0, %d)", path,
				       (int)l, i, declared ? declared : INT32_MAX);
		if (l > maxl)
			maxl = l;
	}
	d->classes = declared ? declared : maxl + 1;
	if (d->classes < 1)
		return dl_fail(err, DL_EDATA, "%s: no samples and no class list", path);
	return 0;
}

static int read_targets(dl_dataset *d, const char *path, const dl_st_tensor *t, dl_err *err)
{
	if (t->dtype != DL_F32 || t->ndim != 2 || t->shape[0] != d->n || t->shape[1] < 1 ||
	    t->shape[1] > 65536)
		return dl_fail(err, DL_EDATA, "%s: tensor 'targets' must be F32 [%d, K] with 1 <= K <= 65536",
			       path, d->n);
	d->targets = t->data;
	d->ntargets = (int)t->shape[1];
	for (size_t i = 0; i < t->count; i++) {
		float v;
		memcpy(&v, d->targets + i, sizeof v);
		if (!isfinite(v))
			return dl_fail(err, DL_EDATA, "%s: target %zu of sample %zu is not finite", path,
				       i % (size_t)d->ntargets, i / (size_t)d->ntargets);
	}
	return 0;
}

/* dl.mean / dl.std: used only when both are lists of c positive numbers. */
static void read_stats(dl_dataset *d)
{
	const char *ms = dl_st_meta_get(&d->file, "dl.mean");
	const char *ss = dl_st_meta_get(&d->file, "dl.std");
	dl_json *mj = NULL, *sj = NULL;
	dl_err ignore;
	if (!ms || !ss || d->c > DL_NORM_MAX_C ||
	    dl_json_parse(ms, strlen(ms), "dl.mean", &mj, &ignore) ||
	    dl_json_parse(ss, strlen(ss), "dl.std", &sj, &ignore))
		goto out;
	if (mj->type != DL_JSON_ARRAY || sj->type != DL_JSON_ARRAY || (int)mj->len != d->c ||
	    (int)sj->len != d->c)
		goto out;
	for (int i = 0; i < d->c; i++) {
		const dl_json *a = &mj->items[i], *b = &sj->items[i];
		if (a->type != DL_JSON_NUMBER || b->type != DL_JSON_NUMBER || !isfinite(a->number) ||
		    !(b->number > 0) || !isfinite(b->number))
			goto out;
		d->mean[i] = (float)a->number;
		d->std[i] = (float)b->number;
	}
	d->has_stats = 1;
out:
	dl_json_free(mj);
	dl_json_free(sj);
}

int dl_dataset_open(dl_dataset *d, const char *path, dl_err *err)
{
	memset(d, 0, sizeof *d);
	int rc = dl_st_open(&d->file, path, err);
	if (rc)
		return rc;
	const dl_st_tensor *im, *lb = dl_st_find(&d->file, "labels"), *tg = dl_st_find(&d->file, "targets");
	if ((rc = dl_st_get(&d->file, "images", DL_U8, 4, &im, err)))
		goto fail;
	if (!lb && !tg) {
		rc = dl_fail(err, DL_EDATA, "%s: no tensor 'labels' (or 'targets')", path);
		goto fail;
	}
	if (lb && (rc = dl_st_get(&d->file, "labels", DL_I32, 1, &lb, err)))
		goto fail;
	if (lb && im->shape[0] != lb->shape[0]) {
		rc = dl_fail(err, DL_EDATA, "%s: %lld images but %lld labels", path,
			     (long long)im->shape[0], (long long)lb->shape[0]);
		goto fail;
	}
	if (im->shape[0] > INT32_MAX || im->shape[1] < 1 || im->shape[2] < 1 || im->shape[3] < 1 ||
	    im->shape[1] > 16384 || im->shape[2] > 16384 || im->shape[3] > 4) {
		rc = dl_fail(err, DL_EDATA, "%s: images have an unsupported shape [%lld, %lld, %lld, %lld]",
			     path, (long long)im->shape[0], (long long)im->shape[1],
			     (long long)im->shape[2], (long long)im->shape[3]);
		goto fail;
	}
	d->images = im->data;
	d->labels = lb ? lb->data : NULL;
	d->n = (int)im->shape[0];
	d->h = (int)im->shape[1];
	d->w = (int)im->shape[2];
	d->c = (int)im->shape[3];
	int declared;
	if ((rc = read_classes(d, path, &declared, err)) ||
	    (lb && (rc = check_labels(d, path, declared, err))) ||
	    (tg && (rc = read_targets(d, path, tg, err))))
		goto fail;
	if (!lb && !d->n) {
		rc = dl_fail(err, DL_EDATA, "%s: no samples", path);
		goto fail;
	}
	read_stats(d);
	return 0;
fail:
	dl_dataset_close(d);
	return rc;
}

void dl_dataset_close(dl_dataset *d)
{
	dl_st_close(&d->file);
	memset(d, 0, sizeof *d);
}

int dl_dataset_split(int n, double fraction, uint64_t seed, uint32_t **train, int *ntrain,
		     uint32_t **val, int *nval, dl_err *err)
{
	*train = *val = NULL;
	*ntrain = *nval = 0;
	long nv = lround((double)n * fraction);
	if (!(fraction > 0 && fraction < 1) || nv < 1 || nv >= n)
		return dl_fail(err, DL_EUSAGE, "--val-fraction %g of %d samples leaves an empty side",
			       fraction, n);
	uint32_t *perm = malloc((size_t)n * sizeof *perm);
	uint8_t *isval = calloc((size_t)n, 1);
	*val = malloc((size_t)nv * sizeof **val);
	*train = malloc((size_t)(n - nv) * sizeof **train);
	if (!perm || !isval || !*val || !*train) {
		free(perm);
		free(isval);
		free(*val);
		free(*train);
		*train = *val = NULL;
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	dl_rng r;
	dl_rng_seed(&r, seed ^ 0x7a11da7a5e1ec7edULL);
	for (int i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	dl_rng_shuffle_u32(&r, perm, (uint32_t)n);
	for (long i = 0; i < nv; i++)
		isval[perm[i]] = 1;
	for (int i = 0; i < n; i++) {
		if (isval[i])
			(*val)[(*nval)++] = (uint32_t)i;
		else
			(*train)[(*ntrain)++] = (uint32_t)i;
	}
	free(perm);
	free(isval);
	return 0;
}
