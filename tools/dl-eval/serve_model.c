/* Model instances and the inference thread of `dl-eval serve` (serve.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/digest.h"
#include "eval/infer.h"
#include "serve.h"

int srv_model_load(srv *s, srv_model **out, dl_err *err)
{
	double t0 = srv_now();
	srv_model *sm = calloc(1, sizeof *sm);
	int rc;
	*out = NULL;
	if (!sm)
		return dl_fail(err, DL_EFAIL, "out of memory");
	/* the digest first: a file replaced between the two reads is caught by
	 * the next poll (its identity changed again) and loaded once more */
	if ((rc = dl_digest_file(DL_SHA256, s->path, sm->sha256, err)) ||
	    (rc = dl_checkpoint_load(s->path, &sm->m, s->be, NULL, &sm->ck, err)) ||
	    (rc = dl_model_plan(&sm->m, s->max_batch, err)))
		goto fail;
	if (sm->ck.classes_json &&
	    (rc = dl_json_parse(sm->ck.classes_json, strlen(sm->ck.classes_json), "dl.classes",
				&sm->classes, err)))
		goto fail;
	sm->k = dl_model_output_shape(&sm->m).c;
	sm->reg = dl_loss_is_regression(&sm->m.loss);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(sm->loaded_at, sizeof sm->loaded_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
	sm->load_seconds = srv_now() - t0;
	*out = sm;
	return 0;
fail:
	srv_model_free(sm);
	return rc;
}

void srv_model_free(srv_model *sm)
{
	if (!sm)
		return;
	dl_json_free(sm->classes);
	dl_checkpoint_release(&sm->ck);
	dl_model_release(&sm->m);
	free(sm);
}

srv_model *srv_acquire(srv *s)
{
	pthread_mutex_lock(&s->mu);
	srv_model *sm = s->cur;
	sm->refs++;
	pthread_mutex_unlock(&s->mu);
	return sm;
}

void srv_release(srv *s, srv_model *sm)
{
	pthread_mutex_lock(&s->mu);
	if (--sm->refs == 0 && sm != s->cur)
		pthread_cond_signal(&s->cv_work);   /* the inference thread frees it */
	pthread_mutex_unlock(&s->mu);
}

void srv_request_reload(srv *s)
{
	pthread_mutex_lock(&s->mu);
	s->reload = 1;
	pthread_cond_signal(&s->cv_work);
	pthread_mutex_unlock(&s->mu);
}

int srv_run(srv *s, srv_model *sm, uint8_t *px, int n, float *out)
{
	srv_job job = { .model = sm, .n = n, .px = px, .out = out, .t_queued = srv_now() };
	pthread_cond_init(&job.cv, NULL);
	pthread_mutex_lock(&s->mu);
	if (s->tail)
		s->tail->next = &job;
	else
		s->head = &job;
	s->tail = &job;
	s->queued += n;
	pthread_cond_signal(&s->cv_work);
	while (!job.done)
		pthread_cond_wait(&job.cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	pthread_cond_destroy(&job.cv);
	return job.rc;
}

/* Loads the checkpoint again (called without srv.mu); swaps it in on
 * success, keeps the old one and says why otherwise. */
static void reload(srv *s)
{
	srv_model *sm;
	dl_err err = { 0 };
	if (srv_model_load(s, &sm, &err)) {
		srv_metrics_reload(&s->met, 0);
		srv_log(s, "dl-eval serve: reload failed, keeping the model loaded before: %s", err.msg);
		return;
	}
	pthread_mutex_lock(&s->mu);
	srv_model *old = s->cur;
	sm->gen = ++s->gen;
	s->cur = sm;
	old->next = s->retired;
	s->retired = old;
	pthread_mutex_unlock(&s->mu);
	srv_metrics_reload(&s->met, 1);
	srv_log(s, "dl-eval serve: reloaded %s (model %s, sha256 %s, generation %ld, %.3f s)",
		s->path, sm->m.name, sm->sha256, sm->gen, sm->load_seconds);
}

/* Frees retired instances nobody holds (srv.mu held; the backend is ours). */
static void sweep(srv *s)
{
	for (srv_model **pp = &s->retired; *pp;) {
		srv_model *sm = *pp;
		if (sm->refs == 0) {
			*pp = sm->next;
			srv_model_free(sm);
		} else {
			pp = &sm->next;
		}
	}
}

/* Takes jobs of the head's model from the queue, up to max_batch images
 * (at least the head job); srv.mu held.  Returns the list. */
static srv_job *take(srv *s, int *nimg)
{
	srv_model *sm = s->head->model;
	srv_job *list = NULL, **lt = &list, *keep = NULL, **kt = &keep;
	int n = 0;
	for (srv_job *j = s->head, *next; j; j = next) {
		next = j->next;
		j->next = NULL;
		if (j->model == sm && (n == 0 || n + j->n <= s->max_batch)) {
			*lt = j;
			lt = &j->next;
			n += j->n;
		} else {
			*kt = j;
			kt = &j->next;
		}
	}
	s->head = keep;
	s->tail = NULL;
	for (srv_job *j = keep; j; j = j->next)
		s->tail = j;
	s->queued -= n;
	*nimg = n;
	return list;
}

/* One forward pass over the jobs (without srv.mu). */
static int forward(srv *s, srv_job *list, int n, uint8_t **px, size_t *pxcap, float **out,
		   size_t *outcap)
{
	srv_model *sm = list->model;
	size_t sample = dl_shape_size(sm->m.input), k = (size_t)sm->k;
	dl_err err = { 0 };
	if (*pxcap < sample * (size_t)n) {
		free(*px);
		*pxcap = sample * (size_t)n;
		if (!(*px = malloc(*pxcap))) {
			*pxcap = 0;
			return DL_EFAIL;
		}
	}
	if (*outcap < k * (size_t)n) {
		free(*out);
		*outcap = k * (size_t)n;
		if (!(*out = malloc(*outcap * sizeof(float)))) {
			*outcap = 0;
			return DL_EFAIL;
		}
	}
	size_t at = 0;
	for (srv_job *j = list; j; j = j->next) {
		memcpy(*px + at * sample, j->px, sample * (size_t)j->n);
		at += (size_t)j->n;
	}
	int rc = dl_infer(&sm->m, *px, n, &sm->ck.norm, s->max_batch, *out, &err);
	if (rc) {
		srv_log(s, "dl-eval serve: inference failed: %s", err.msg);
		return rc;
	}
	at = 0;
	for (srv_job *j = list; j; j = j->next) {
		memcpy(j->out, *out + at * k, sizeof(float) * k * (size_t)j->n);
		at += (size_t)j->n;
	}
	return 0;
}

static void *infer_main(void *arg)
{
	srv *s = arg;
	uint8_t *px = NULL;
	float *out = NULL;
	size_t pxcap = 0, outcap = 0;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		sweep(s);
		if (s->reload) {
			s->reload = 0;
			pthread_mutex_unlock(&s->mu);
			reload(s);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		if (!s->head) {
			if (s->stop)
				break;
			pthread_cond_wait(&s->cv_work, &s->mu);
			continue;
		}
		/* gather: wait for a full batch or the head's deadline */
		double deadline = s->head->t_queued + s->max_delay_s;
		while (s->queued < s->max_batch && !s->stop && !s->reload) {
			double now = srv_now();
			if (now >= deadline)
				break;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			double wake = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + (deadline - now);
			ts.tv_sec = (time_t)wake;
			ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
			pthread_cond_timedwait(&s->cv_work, &s->mu, &ts);
		}
		int n;
		srv_job *list = take(s, &n);
		pthread_mutex_unlock(&s->mu);
		int rc = forward(s, list, n, &px, &pxcap, &out, &outcap);
		srv_metrics_batch(&s->met, n);
		pthread_mutex_lock(&s->mu);
		for (srv_job *j = list, *next; j; j = next) {
			next = j->next;
			j->rc = rc;
			j->done = 1;
			pthread_cond_signal(&j->cv);
		}
	}
	pthread_mutex_unlock(&s->mu);
	free(px);
	free(out);
	return NULL;
}

int srv_infer_start(srv *s, dl_err *err)
{
	int e = pthread_create(&s->infer, NULL, infer_main, s);
	if (e)
		return dl_fail(err, DL_EFAIL, "cannot start the inference thread: %s", strerror(e));
	return 0;
}

void srv_infer_stop(srv *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cv_work);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->infer, NULL);
	sweep(s);
}
