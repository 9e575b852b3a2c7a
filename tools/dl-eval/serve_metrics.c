/* Metrics of `dl-eval serve` in the Prometheus text format (version 0.0.4):
 * requests by status code, errors (status >= 400), request latency and
 * forward-pass batch sizes as histograms, images, reloads, the model
 * generation and the requests in flight. */
#include <string.h>

#include "serve.h"

static const int codes[SRV_NCODES] = { 200, 400, 404, 405, 408, 413, 415, 500, 503, 0 };
static const double lat_le[SRV_NLAT] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					  0.25, 0.5, 1, 2.5, 5, 10, 30 };
static const int batch_le[SRV_NBATCH] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 1024 };

void srv_metrics_init(srv_metrics *m)
{
	memset(m, 0, sizeof *m);
	pthread_mutex_init(&m->mu, NULL);
}

void srv_metrics_release(srv_metrics *m)
{
	pthread_mutex_destroy(&m->mu);
}

void srv_metrics_request(srv_metrics *m, int code, double seconds)
{
	int c = SRV_NCODES - 1, l = SRV_NLAT;
	for (int i = 0; i < SRV_NCODES - 1; i++)
		if (codes[i] == code)
			c = i;
	for (int i = SRV_NLAT - 1; i >= 0; i--)
		if (seconds <= lat_le[i])
			l = i;
	pthread_mutex_lock(&m->mu);
	m->requests[c]++;
	m->lat[l]++;
	m->lat_sum += seconds;
	pthread_mutex_unlock(&m->mu);
}

void srv_metrics_batch(srv_metrics *m, int n)
{
	int b = SRV_NBATCH;
	for (int i = SRV_NBATCH - 1; i >= 0; i--)
		if (n <= batch_le[i])
			b = i;
	pthread_mutex_lock(&m->mu);
	m->batches[b]++;
	m->batch_sum += n;
	m->nbatches++;
	m->images += n;
	pthread_mutex_unlock(&m->mu);
}

void srv_metrics_reload(srv_metrics *m, int ok)
{
	pthread_mutex_lock(&m->mu);
	if (ok)
		m->reloads++;
	else
		m->reload_failures++;
	pthread_mutex_unlock(&m->mu);
}

void srv_metrics_render(srv *s, dl_buf *b)
{
	srv_metrics c;
	pthread_mutex_lock(&s->met.mu);
	c = s->met;
	pthread_mutex_unlock(&s->met.mu);
	pthread_mutex_lock(&s->mu);
	long gen = s->gen, inflight = s->inflight, queued = s->queued;
	pthread_mutex_unlock(&s->mu);

	long errors = 0;
	dl_buf_puts(b, "# HELP dl_serve_requests_total HTTP requests answered, by status code.\n"
		       "# TYPE dl_serve_requests_total counter\n");
	for (int i = 0; i < SRV_NCODES; i++) {
		if (codes[i])
			dl_buf_printf(b, "dl_serve_requests_total{code=\"%d\"} %ld\n", codes[i], c.requests[i]);
		else
			dl_buf_printf(b, "dl_serve_requests_total{code=\"other\"} %ld\n", c.requests[i]);
		if (codes[i] != 200)
			errors += c.requests[i];
	}
	dl_buf_printf(b, "# HELP dl_serve_request_errors_total HTTP requests answered with a status >= 400.\n"
		      "# TYPE dl_serve_request_errors_total counter\n"
		      "dl_serve_request_errors_total %ld\n", errors);
	dl_buf_puts(b, "# HELP dl_serve_request_duration_seconds Time from the request's headers to its answer.\n"
		       "# TYPE dl_serve_request_duration_seconds histogram\n");
	long cum = 0;
	for (int i = 0; i < SRV_NLAT; i++) {
		cum += c.lat[i];
		dl_buf_printf(b, "dl_serve_request_duration_seconds_bucket{le=\"%g\"} %ld\n", lat_le[i], cum);
	}
	cum += c.lat[SRV_NLAT];
	dl_buf_printf(b, "dl_serve_request_duration_seconds_bucket{le=\"+Inf\"} %ld\n"
		      "dl_serve_request_duration_seconds_sum %.6f\n"
		      "dl_serve_request_duration_seconds_count %ld\n", cum, c.lat_sum, cum);
	dl_buf_puts(b, "# HELP dl_serve_batch_size Images per forward pass.\n"
		       "# TYPE dl_serve_batch_size histogram\n");
	cum = 0;
	for (int i = 0; i < SRV_NBATCH; i++) {
		cum += c.batches[i];
		dl_buf_printf(b, "dl_serve_batch_size_bucket{le=\"%d\"} %ld\n", batch_le[i], cum);
	}
	cum += c.batches[SRV_NBATCH];
	dl_buf_printf(b, "dl_serve_batch_size_bucket{le=\"+Inf\"} %ld\n"
		      "dl_serve_batch_size_sum %.0f\ndl_serve_batch_size_count %ld\n",
		      cum, c.batch_sum, c.nbatches);
	dl_buf_printf(b, "# HELP dl_serve_images_total Images classified.\n"
		      "# TYPE dl_serve_images_total counter\ndl_serve_images_total %ld\n"
		      "# HELP dl_serve_reloads_total Checkpoint reloads that succeeded.\n"
		      "# TYPE dl_serve_reloads_total counter\ndl_serve_reloads_total %ld\n"
		      "# HELP dl_serve_reload_failures_total Checkpoint reloads that failed (old model kept).\n"
		      "# TYPE dl_serve_reload_failures_total counter\ndl_serve_reload_failures_total %ld\n"
		      "# HELP dl_serve_model_generation Successful loads so far (1 = the first).\n"
		      "# TYPE dl_serve_model_generation gauge\ndl_serve_model_generation %ld\n"
		      "# HELP dl_serve_requests_in_flight Requests begun and not yet answered.\n"
		      "# TYPE dl_serve_requests_in_flight gauge\ndl_serve_requests_in_flight %ld\n"
		      "# HELP dl_serve_queued_images Images waiting for a forward pass.\n"
		      "# TYPE dl_serve_queued_images gauge\ndl_serve_queued_images %ld\n"
		      "# HELP dl_serve_uptime_seconds Seconds since the server started.\n"
		      "# TYPE dl_serve_uptime_seconds gauge\ndl_serve_uptime_seconds %.3f\n",
		      c.images, c.reloads, c.reload_failures, gen, inflight, queued,
		      srv_now() - s->t_start);
}
