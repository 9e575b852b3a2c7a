#include "train/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void dl_norm_default(dl_norm *norm, int c)
{
	memset(norm, 0, sizeof *norm);
	norm->c = c;
	norm->scale = 1.0f / 255.0f;
	for (int i = 0; i < c; i++)
		norm->std[i] = 1.0f;
}

int dl_device_data_upload(dl_device_data *dd, dl_backend *be, const dl_dataset *d, dl_err *err)
{
	memset(dd, 0, sizeof *dd);
	dd->be = be;
	dd->n = d->n;
	dd->sample = (size_t)d->h * (size_t)d->w * (size_t)d->c;
	size_t ib = dd->sample * (size_t)d->n, lb = (size_t)d->n * sizeof(int32_t);
	dd->images = be->ops->alloc(be, ib ? ib : 1);
	dd->labels = be->ops->alloc(be, lb ? lb : 1);
	if (!dd->images || !dd->labels) {
		dl_device_data_release(dd);
		return dl_fail(err, DL_EFAIL, "out of device memory for the dataset (%zu bytes)", ib);
	}
	be->ops->to_device(be, dd->images, d->images, ib);
	be->ops->to_device(be, dd->labels, d->labels, lb);
	return 0;
}

void dl_device_data_release(dl_device_data *dd)
{
	if (dd->be) {
		dd->be->ops->free(dd->be, dd->images);
		dd->be->ops->free(dd->be, dd->labels);
	}
	memset(dd, 0, sizeof *dd);
}

int dl_check_fit(const dl_model *m, const dl_dataset *d, const char *path, dl_err *err)
{
	if (d->h != m->input.h || d->w != m->input.w || d->c != m->input.c)
		return dl_fail(err, DL_EDATA, "%s: images are %dx%dx%d but model %s expects %dx%dx%d",
			       path, d->h, d->w, d->c, m->name, m->input.h, m->input.w, m->input.c);
	int k = dl_model_output_shape(m).c;
	if (d->classes > k)
		return dl_fail(err, DL_EDATA, "%s: %d classes but model %s has %d outputs", path,
			       d->classes, m->name, k);
	return 0;
}

/* One pass over `order[0..count)` of dd: forward (and, when training,
 * backward + update).  stats (device float[2]) accumulates loss sum and
 * correct count. */
typedef struct pass {
	dl_model *m;
	dl_optim *o;            /* NULL: evaluation */
	const dl_device_data *dd;
	const dl_norm *norm;
	uint32_t *idx;          /* device, count entries */
	int32_t *labels;        /* device, batch entries */
	float *stats;           /* device, 2 floats */
	float *logits;          /* host or NULL */
} pass;

static void run_pass(pass *p, long count, int batch)
{
	dl_model *m = p->m;
	dl_backend *be = m->be;
	int k = dl_model_output_shape(m).c;
	for (long s = 0; s < count; s += batch) {
		int n = (int)(count - s < batch ? count - s : batch);
		be->ops->gather_u8(be, p->dd->images, p->idx + s, n, m->input.h, m->input.w,
				   m->input.c, p->norm, NULL, m->x);
		be->ops->gather_i32(be, p->dd->labels, p->idx + s, n, p->labels);
		dl_model_forward(m, n);
		if (p->o) {
			be->ops->zero(be, m->grads, m->nparams * sizeof(float));
			be->ops->softmax_xent(be, n, k, dl_model_output(m), p->labels, 0.0f, 1.0f / (float)n,
					      dl_model_doutput(m), p->stats);
			dl_model_backward(m, n);
			dl_optim_step(p->o, m->params, m->grads);
		} else {
			be->ops->softmax_xent(be, n, k, dl_model_output(m), p->labels, 0.0f, 0.0f, NULL,
					      p->stats);
			if (p->logits)
				be->ops->to_host(be, p->logits + (size_t)s * (size_t)k, dl_model_output(m),
						 (size_t)n * (size_t)k * sizeof(float));
		}
	}
}

static int read_stats(dl_backend *be, float *stats, long n, dl_metrics *out)
{
	float h[2];
	be->ops->to_host(be, h, stats, sizeof h);
	out->n = n;
	out->loss = n ? (double)h[0] / (double)n : 0.0;
	out->accuracy = n ? (double)h[1] / (double)n : 0.0;
	return isfinite(out->loss) ? 0 : -1;
}

typedef struct scratch {
	uint32_t *idx;
	int32_t *labels;
	float *stats;
} scratch;

static int scratch_alloc(scratch *s, dl_backend *be, long n, int batch, dl_err *err)
{
	s->idx = be->ops->alloc(be, (size_t)(n ? n : 1) * sizeof(uint32_t));
	s->labels = be->ops->alloc(be, (size_t)batch * sizeof(int32_t));
	s->stats = be->ops->alloc(be, 2 * sizeof(float));
	if (!s->idx || !s->labels || !s->stats)
		return dl_fail(err, DL_EFAIL, "out of memory");
	return 0;
}

static void scratch_free(scratch *s, dl_backend *be)
{
	be->ops->free(be, s->idx);
	be->ops->free(be, s->labels);
	be->ops->free(be, s->stats);
}

static int eval_on(dl_model *m, const dl_device_data *dd, const dl_norm *norm, int batch,
		   dl_metrics *out, float *logits, dl_err *err)
{
	dl_backend *be = m->be;
	scratch s = { 0 };
	int rc = scratch_alloc(&s, be, dd->n, batch, err);
	uint32_t *order = rc ? NULL : malloc((size_t)(dd->n ? dd->n : 1) * sizeof *order);
	if (!rc && !order)
		rc = dl_fail(err, DL_EFAIL, "out of memory");
	if (!rc) {
		for (int i = 0; i < dd->n; i++)
			order[i] = (uint32_t)i;
		be->ops->to_device(be, s.idx, order, (size_t)dd->n * sizeof *order);
		pass p = { m, NULL, dd, norm, s.idx, s.labels, s.stats, logits };
		run_pass(&p, dd->n, batch);
		read_stats(be, s.stats, dd->n, out);
	}
	free(order);
	scratch_free(&s, be);
	return rc;
}

int dl_evaluate(dl_model *m, const dl_dataset *d, const dl_norm *norm, int batch,
		dl_metrics *out, float *logits, dl_err *err)
{
	dl_device_data dd;
	int rc = dl_device_data_upload(&dd, m->be, d, err);
	if (rc)
		return rc;
	if (m->batch < batch && (rc = dl_model_plan(m, batch, err)))
		goto out;
	rc = eval_on(m, &dd, norm, m->batch, out, logits, err);
out:
	dl_device_data_release(&dd);
	return rc;
}

static void log_epoch(const dl_train_opts *opts, const dl_train_state *st, int epochs,
		      const dl_metrics *tr, const dl_metrics *va, double secs, double ips)
{
	if (opts->progress) {
		fprintf(opts->progress, "epoch %d/%d - %.1fs - %.0f img/s - loss %.4f - accuracy %.4f",
			st->epoch, epochs, secs, ips, tr->loss, tr->accuracy);
		if (va)
			fprintf(opts->progress, " - val_loss %.4f - val_accuracy %.4f", va->loss,
				va->accuracy);
		fputc('\n', opts->progress);
		fflush(opts->progress);
	}
	if (opts->log) {
		fprintf(opts->log, "{\"event\": \"epoch\", \"epoch\": %d, \"step\": %ld, \"loss\": %.6f, "
			"\"accuracy\": %.6f", st->epoch, st->step, tr->loss, tr->accuracy);
		if (va)
			fprintf(opts->log, ", \"val_loss\": %.6f, \"val_accuracy\": %.6f", va->loss,
				va->accuracy);
		fprintf(opts->log, ", \"seconds\": %.3f, \"images_per_s\": %.1f}\n", secs, ips);
		fflush(opts->log);
	}
}

int dl_train(dl_model *m, dl_optim *o, dl_train_state *st, const dl_dataset *train,
	     const dl_dataset *val, const dl_norm *norm, const char *classes_json,
	     const dl_train_opts *opts, dl_err *err)
{
	dl_backend *be = m->be;
	dl_device_data tdd = { 0 }, vdd = { 0 };
	scratch s = { 0 };
	uint32_t *order = NULL;
	int rc;
	if ((rc = dl_model_plan(m, opts->batch, err)) ||
	    (rc = dl_device_data_upload(&tdd, be, train, err)) ||
	    (val && (rc = dl_device_data_upload(&vdd, be, val, err))) ||
	    (rc = scratch_alloc(&s, be, train->n, opts->batch, err)))
		goto out;
	order = malloc((size_t)(train->n ? train->n : 1) * sizeof *order);
	if (!order) {
		rc = dl_fail(err, DL_EFAIL, "out of memory");
		goto out;
	}
	st->batch = opts->batch;
	int last = st->epoch + opts->epochs;
	double t_start = now();
	long images = 0;
	while (st->epoch < last) {
		double t0 = now();
		for (int i = 0; i < train->n; i++)
			order[i] = (uint32_t)i;
		dl_rng_shuffle_u32(&st->rng, order, (uint32_t)train->n);
		be->ops->to_device(be, s.idx, order, (size_t)train->n * sizeof *order);
		be->ops->zero(be, s.stats, 2 * sizeof(float));
		pass p = { m, o, &tdd, norm, s.idx, s.labels, s.stats, NULL };
		run_pass(&p, train->n, opts->batch);
		dl_metrics tr, va;
		int finite = read_stats(be, s.stats, train->n, &tr) == 0;
		double secs = now() - t0;
		st->epoch++;
		st->step += (train->n + opts->batch - 1) / opts->batch;
		images += train->n;
		if (!finite) {
			rc = dl_fail(err, DL_EDIVERGED, "training diverged in epoch %d (loss is %g); "
				     "last good checkpoint kept", st->epoch, tr.loss);
			goto out;
		}
		if (val && (rc = eval_on(m, &vdd, norm, opts->batch, &va, NULL, err)))
			goto out;
		log_epoch(opts, st, last, &tr, val ? &va : NULL, secs, secs > 0 ? train->n / secs : 0);
		if (opts->checkpoint &&
		    (rc = dl_checkpoint_save(opts->checkpoint, m, o, st, norm, classes_json, err)))
			goto out;
	}
	double total = now() - t_start;
	if (opts->progress)
		fprintf(opts->progress, "done: %d epochs, %ld steps, device %s (%d threads), %.1fs, %.0f img/s\n",
			opts->epochs, st->step, opts->device_name ? opts->device_name : be->ops->name,
			opts->threads, total, total > 0 ? images / total : 0);
	if (opts->log)
		fprintf(opts->log, "{\"event\": \"done\", \"epochs\": %d, \"step\": %ld, \"device\": \"%s\", "
			"\"threads\": %d, \"seconds\": %.3f, \"images_per_s\": %.1f}\n", st->epoch, st->step,
			be->ops->name, opts->threads, total, total > 0 ? images / total : 0);
out:
	free(order);
	scratch_free(&s, be);
	dl_device_data_release(&tdd);
	dl_device_data_release(&vdd);
	return rc;
}
