/* `dl-eval serve CHECKPOINT`: the model as an HTTP service (libmicrohttpd).
 *
 *   serve.c          options, start, the main thread: signals (sigtimedwait,
 *                    so no handler and no global state), checkpoint polling,
 *                    drain on SIGTERM/SIGINT
 *   serve_model.c    model instances (load, reference counts, retire) and
 *                    the one inference thread: the dynamic batcher
 *   serve_http.c     requests: routes, bodies (image, multipart,
 *                    safetensors), limits, JSON answers, access log
 *   serve_metrics.c  counters and histograms, Prometheus text
 *
 * Threads: libmicrohttpd runs one thread per connection; each decodes and
 * fits its images (lib/eval/predict.c, the code of `dl-eval predict`) for
 * the current model instance, queues a job and waits on the job's
 * condition.  The inference thread alone touches the backend: it gathers
 * queued jobs of one instance up to --max-batch images or --max-delay-ms
 * after the first one arrived, runs one forward pass, and wakes the
 * waiters; it also loads new instances (hot reload) and frees retired ones
 * once no request holds them, so requests in flight finish on the model
 * they were prepared for.  Everything shared is in one `srv`, guarded by
 * srv.mu (metrics by their own mutex). */
#ifndef DL_EVAL_SERVE_H
#define DL_EVAL_SERVE_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "backend/backend.h"
#include "core/buf.h"
#include "core/json.h"
#include "train/checkpoint.h"

typedef struct srv_model {
	dl_model m;
	dl_checkpoint ck;
	dl_json *classes;          /* dl.classes array or NULL */
	char sha256[65];
	char loaded_at[32];        /* UTC, ISO 8601 */
	double load_seconds;
	int k, reg;
	long gen;                  /* 1, 2, ... per successful load */
	int refs;                  /* holders besides srv.cur (srv.mu) */
	struct srv_model *next;    /* retired list */
} srv_model;

typedef struct srv_job {
	srv_model *model;
	int n;                     /* images */
	uint8_t *px;               /* [n, h, w, c] fitted u8 */
	float *out;                /* [n, k] */
	int done, rc;
	double t_queued;
	pthread_cond_t cv;
	struct srv_job *next;
} srv_job;

enum { SRV_NCODES = 10, SRV_NLAT = 14, SRV_NBATCH = 10 };

typedef struct srv_metrics {
	pthread_mutex_t mu;
	long requests[SRV_NCODES]; /* by status code, see serve_metrics.c */
	long lat[SRV_NLAT + 1];    /* request seconds histogram (+Inf last) */
	double lat_sum;
	long batches[SRV_NBATCH + 1];
	double batch_sum;
	long nbatches, images, reloads, reload_failures;
} srv_metrics;

typedef struct srv {
	/* settings (read-only once started) */
	const char *path;
	int max_batch, topk, crop, access_log, max_side;
	uint64_t max_pixels;
	double max_delay_s, timeout_s;
	size_t max_body;
	long max_images;           /* per request */
	dl_backend *be;
	double t_start;
	/* shared state, srv.mu */
	pthread_mutex_t mu;
	pthread_cond_t cv_work;
	srv_model *cur, *retired;
	srv_job *head, *tail;
	long queued;               /* images in the queue */
	int stop, reload;          /* the inference thread: finish / load again */
	int draining;              /* SIGTERM: answers close their connection */
	long gen, inflight;
	pthread_t infer;
	srv_metrics met;
	pthread_mutex_t log_mu;    /* one whole line at a time on stderr */
} srv;

double srv_now(void);
void srv_log(srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* serve_model.c */
int srv_model_load(srv *s, srv_model **out, dl_err *err);
void srv_model_free(srv_model *sm);
srv_model *srv_acquire(srv *s);        /* current instance, refs + 1 */
void srv_release(srv *s, srv_model *sm);
int srv_infer_start(srv *s, dl_err *err);
void srv_infer_stop(srv *s);           /* after the queue is empty */
/* Queues n images fitted for sm and waits for the outputs (out [n, k]). */
int srv_run(srv *s, srv_model *sm, uint8_t *px, int n, float *out);
void srv_request_reload(srv *s);

/* serve_http.c */
struct MHD_Daemon;
/* Serves on the listening socket fd (libmicrohttpd owns it afterwards). */
struct MHD_Daemon *srv_http_start(srv *s, int fd, int max_conns, dl_err *err);

/* serve_metrics.c */
void srv_metrics_init(srv_metrics *m);
void srv_metrics_release(srv_metrics *m);
void srv_metrics_request(srv_metrics *m, int code, double seconds);
void srv_metrics_batch(srv_metrics *m, int n);
void srv_metrics_reload(srv_metrics *m, int ok);
void srv_metrics_render(srv *s, dl_buf *b);

#endif
