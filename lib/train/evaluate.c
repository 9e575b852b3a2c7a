/* Device-resident datasets, batch assembly and evaluation. */
#include "train/pass.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void dl_norm_default(dl_norm *norm, int c)
{
	memset(norm, 0, sizeof *norm);
	norm->c = c;
	norm->scale = 1.0f / 255.0f;
	for (int i = 0; i < c; i++)
		norm->std[i] = 1.0f;
}

int dl_device_data_upload(dl_device_data *dd, dl_backend *be, const dl_data *data, int regression,
			  dl_err *err)
{
	const dl_dataset *d = data->d;
	memset(dd, 0, sizeof *dd);
	dd->be = be;
	dd->n = data->n;
	dd->sample = (size_t)d->h * (size_t)d->w * (size_t)d->c;
	dd->ntargets = regression ? d->ntargets : 0;
	size_t n = (size_t)data->n, ib = dd->sample * n;
	size_t lb = regression ? n * (size_t)dd->ntargets * sizeof(float) : n * sizeof(int32_t);
	dd->images = be->ops->alloc(be, ib ? ib : 1);
	if (regression)
		dd->targets = be->ops->alloc(be, lb ? lb : 1);
	else
		dd->labels = be->ops->alloc(be, lb ? lb : 1);
	if (!dd->images || (!dd->labels && !dd->targets)) {
		dl_device_data_release(dd);
		return dl_fail(err, DL_EFAIL, "out of device memory for the dataset (%zu bytes)", ib);
	}
	if (!data->rows) {
		be->ops->to_device(be, dd->images, d->images, ib);
		if (regression)
			be->ops->to_device(be, dd->targets, d->targets, lb);
		else
			be->ops->to_device(be, dd->labels, d->labels, lb);
		return 0;
	}
	size_t row = regression ? (size_t)dd->ntargets * sizeof(float) : sizeof(int32_t);
	const uint8_t *lsrc = regression ? (const uint8_t *)d->targets : (const uint8_t *)d->labels;
	uint8_t *dst = regression ? (uint8_t *)dd->targets : (uint8_t *)dd->labels;
	for (size_t i = 0; i < n; i++) {
		size_t r = data->rows[i];
		be->ops->to_device(be, dd->images + i * dd->sample, d->images + r * dd->sample,
				   dd->sample);
		be->ops->to_device(be, dst + i * row, lsrc + r * row, row);
	}
	return 0;
}

void dl_device_data_release(dl_device_data *dd)
{
	if (dd->be) {
		dd->be->ops->free(dd->be, dd->images);
		dd->be->ops->free(dd->be, dd->labels);
		dd->be->ops->free(dd->be, dd->targets);
	}
	memset(dd, 0, sizeof *dd);
}

int dl_check_fit(const dl_model *m, const dl_dataset *d, const char *path, dl_err *err)
{
	if (d->h != m->input.h || d->w != m->input.w || d->c != m->input.c)
		return dl_fail(err, DL_EDATA, "%s: images are %dx%dx%d but model %s expects %dx%dx%d",
			       path, d->h, d->w, d->c, m->name, m->input.h, m->input.w, m->input.c);
	int k = dl_model_output_shape(m).c;
	if (dl_loss_is_regression(&m->loss)) {
		if (!d->targets)
			return dl_fail(err, DL_EDATA, "%s: no 'targets' tensor, but model %s trains with %s loss",
				       path, m->name, dl_loss_name(&m->loss));
		if (d->ntargets != k)
			return dl_fail(err, DL_EDATA, "%s: %d targets per sample but model %s has %d outputs",
				       path, d->ntargets, m->name, k);
		return 0;
	}
	if (!d->labels)
		return dl_fail(err, DL_EDATA, "%s: no 'labels' tensor, but model %s is a classifier",
			       path, m->name);
	if (d->classes > k)
		return dl_fail(err, DL_EDATA, "%s: %d classes but model %s has %d outputs", path,
			       d->classes, m->name, k);
	return 0;
}

int dl_scratch_alloc(dl_scratch *s, dl_backend *be, long n, int batch, int ntargets, dl_err *err)
{
	memset(s, 0, sizeof *s);
	s->idx = be->ops->alloc(be, (size_t)(n ? n : 1) * sizeof(uint32_t));
	s->labels = be->ops->alloc(be, (size_t)batch * sizeof(int32_t));
	s->targets = be->ops->alloc(be, (size_t)batch * (size_t)(ntargets ? ntargets : 1) * sizeof(float));
	s->stats = be->ops->alloc(be, DL_LOSS_NSTATS * sizeof(float));
	if (!s->idx || !s->labels || !s->targets || !s->stats) {
		dl_scratch_free(s, be);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	return 0;
}

void dl_scratch_free(dl_scratch *s, dl_backend *be)
{
	be->ops->free(be, s->idx);
	be->ops->free(be, s->labels);
	be->ops->free(be, s->targets);
	be->ops->free(be, s->stats);
	memset(s, 0, sizeof *s);
}

void dl_batch_load(dl_model *m, const dl_device_data *dd, const uint32_t *idx, int n,
		   const dl_norm *norm, const dl_aug *aug, dl_scratch *s)
{
	dl_backend *be = m->be;
	be->ops->gather_u8(be, dd->images, idx, n, m->input.h, m->input.w, m->input.c, norm, aug,
			   m->x);
	if (dd->targets)
		be->ops->gather_f32(be, dd->targets, idx, n, dd->ntargets, s->targets);
	else
		be->ops->gather_i32(be, dd->labels, idx, n, s->labels);
}

void dl_batch_loss(dl_model *m, const dl_device_data *dd, int n, dl_scratch *s, float grad_scale,
		   float *dout)
{
	int k = dl_model_output_shape(m).c;
	dl_loss_apply(&m->loss, m->be, n, k, dl_model_output(m), dd->targets ? NULL : s->labels,
		      dd->targets ? s->targets : NULL, grad_scale, dout, s->stats);
}

void dl_metrics_from(const float *stats, long n, int k, int regression, dl_metrics *out)
{
	memset(out, 0, sizeof *out);
	out->n = n;
	out->regression = regression;
	if (!n)
		return;
	if (!regression) {
		out->loss = (double)stats[0] / (double)n;
		out->accuracy = (double)stats[1] / (double)n;
		return;
	}
	/* per element, as PyTorch's reduction='mean' over [n, k] */
	double ne = (double)n * (double)k;
	out->loss = (double)stats[0] / ne;
	out->mae = (double)stats[1] / ne;
	out->rmse = sqrt((double)stats[2] / ne);
}

int dl_eval_device(dl_model *m, const dl_device_data *dd, const dl_norm *norm, int batch,
		   dl_metrics *out, float *logits, dl_err *err)
{
	dl_backend *be = m->be;
	dl_scratch s;
	int rc = dl_scratch_alloc(&s, be, dd->n, batch, dd->ntargets, err);
	if (rc)
		return rc;
	uint32_t *order = malloc((size_t)(dd->n ? dd->n : 1) * sizeof *order);
	if (!order) {
		dl_scratch_free(&s, be);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	for (int i = 0; i < dd->n; i++)
		order[i] = (uint32_t)i;
	be->ops->to_device(be, s.idx, order, (size_t)dd->n * sizeof *order);
	int was = m->run.training, k = dl_model_output_shape(m).c;
	dl_model_set_training(m, 0);
	for (long i = 0; i < dd->n; i += batch) {
		int n = (int)(dd->n - i < batch ? dd->n - i : batch);
		dl_batch_load(m, dd, s.idx + i, n, norm, NULL, &s);
		dl_model_forward(m, n);
		dl_batch_loss(m, dd, n, &s, 0.0f, NULL);
		if (logits)
			be->ops->to_host(be, logits + (size_t)i * (size_t)k, dl_model_output(m),
					 (size_t)n * (size_t)k * sizeof(float));
	}
	dl_model_set_training(m, was);
	float h[DL_LOSS_NSTATS];
	be->ops->to_host(be, h, s.stats, sizeof h);
	dl_metrics_from(h, dd->n, k, dd->targets != NULL, out);
	free(order);
	dl_scratch_free(&s, be);
	return be->ops->error(be, err);
}

int dl_evaluate(dl_model *m, const dl_dataset *d, const dl_norm *norm, int batch,
		dl_metrics *out, float *logits, dl_err *err)
{
	dl_device_data dd;
	dl_data all = { d, NULL, d->n };
	int rc = dl_device_data_upload(&dd, m->be, &all, dl_loss_is_regression(&m->loss), err);
	if (rc)
		return rc;
	if (batch > d->n)
		batch = d->n > 0 ? (int)d->n : 1;   /* never plan for more samples than exist */
	if (m->batch < batch && (rc = dl_model_plan(m, batch, err)))
		goto out;
	rc = dl_eval_device(m, &dd, norm, m->batch, out, logits, err);
out:
	dl_device_data_release(&dd);
	return rc;
}
