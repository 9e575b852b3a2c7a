#include "train/dataset.h"

#include <string.h>

#include "core/json.h"

int dl_dataset_open(dl_dataset *d, const char *path, dl_err *err)
{
	memset(d, 0, sizeof *d);
	int rc = dl_st_open(&d->file, path, err);
	if (rc)
		return rc;
	const dl_st_tensor *im, *lb;
	if ((rc = dl_st_get(&d->file, "images", DL_U8, 4, &im, err)) ||
	    (rc = dl_st_get(&d->file, "labels", DL_I32, 1, &lb, err)))
		goto fail;
	if (im->shape[0] != lb->shape[0]) {
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
	d->labels = lb->data;
	d->n = (int)im->shape[0];
	d->h = (int)im->shape[1];
	d->w = (int)im->shape[2];
	d->c = (int)im->shape[3];
	d->classes_json = dl_st_meta_get(&d->file, "dl.classes");
	int declared = 0;
	if (d->classes_json) {
		dl_json *j;
		if ((rc = dl_json_parse(d->classes_json, strlen(d->classes_json), path, &j, err)))
			goto fail;
		if (j->type != DL_JSON_ARRAY || j->len < 1 || j->len > 1000000) {
			dl_json_free(j);
			rc = dl_fail(err, DL_EDATA, "%s: metadata dl.classes is not a list of names", path);
			goto fail;
		}
		declared = (int)j->len;
		dl_json_free(j);
	}
	int32_t maxl = -1;
	for (int i = 0; i < d->n; i++) {
		int32_t l = d->labels[i];
		if (l < 0 || (declared && l >= declared)) {
			rc = dl_fail(err, DL_EDATA, "%s: label %d of sample %d is outside [0, %d)", path,
				     (int)l, i, declared ? declared : INT32_MAX);
			goto fail;
		}
		if (l > maxl)
			maxl = l;
	}
	d->classes = declared ? declared : maxl + 1;
	if (d->classes < 1) {
		rc = dl_fail(err, DL_EDATA, "%s: no samples and no class list", path);
		goto fail;
	}
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
