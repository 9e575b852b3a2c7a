/* The HTTP side of `dl-eval serve` (serve.h): libmicrohttpd parses HTTP,
 * one thread per connection; this file routes, reads bodies within
 * --max-body and --timeout, turns them into fitted images with the code of
 * `dl-eval predict` (lib/eval/predict.c), waits for the batcher and
 * answers JSON.  Every answer, error or not, is counted and logged. */
#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eval/predict.h"
#include "io/safetensors.h"
#include "serve.h"

enum { R_NONE, R_PREDICT, R_HEALTH, R_META, R_METRICS };

typedef struct part {
	char *name;
	dl_buf data;
} part;

typedef struct req {
	srv *s;
	double t0;
	int route, code, answered, multipart, st;
	char method[16], path[96];
	dl_buf body;
	size_t got;
	struct MHD_PostProcessor *pp;
	part *parts;
	int nparts, capparts, parts_over;
	int reject;                 /* status to answer once the body has ended */
	char reject_msg[256];
} req;

static void reject(req *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reject(req *r, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->reject_msg, sizeof r->reject_msg, fmt, ap);
	va_end(ap);
	r->reject = code;
	dl_buf_release(&r->body);   /* what came so far is of no use now */
	dl_buf_init(&r->body);
}

/* ---- answers ------------------------------------------------------------ */

static enum MHD_Result answer(struct MHD_Connection *c, req *r, int code, const char *type,
			      const dl_buf *b)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		b->len, b->len ? b->p : (void *)"", MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
					r->route == R_PREDICT ? "POST" : "GET, HEAD");
	pthread_mutex_lock(&r->s->mu);
	int draining = r->s->draining;
	pthread_mutex_unlock(&r->s->mu);
	if (draining || code >= 400)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ok = MHD_queue_response(c, (unsigned)code, resp);
	MHD_destroy_response(resp);
	r->code = code;
	r->answered = 1;
	return ok;
}

static enum MHD_Result fail(struct MHD_Connection *c, req *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static enum MHD_Result fail(struct MHD_Connection *c, req *r, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	dl_buf b;
	dl_buf_init(&b);
	dl_buf_puts(&b, "{\"error\": ");
	dl_buf_json_string(&b, msg);
	dl_buf_printf(&b, ", \"status\": %d}\n", code);
	enum MHD_Result ok = answer(c, r, code, "application/json", &b);
	dl_buf_release(&b);
	return ok;
}

static void model_json(dl_buf *b, const srv_model *sm)
{
	dl_buf_printf(b, "\"model\": ");
	dl_buf_json_string(b, sm->m.name);
	dl_buf_printf(b, ", \"generation\": %ld, \"sha256\": \"%s\"", sm->gen, sm->sha256);
}

static enum MHD_Result metadata(struct MHD_Connection *c, req *r)
{
	srv *s = r->s;
	srv_model *sm = srv_acquire(s);
	dl_shape in = sm->m.input;
	dl_buf b;
	dl_buf_init(&b);
	dl_buf_puts(&b, "{");
	model_json(&b, sm);
	dl_buf_puts(&b, ", \"checkpoint\": ");
	dl_buf_json_string(&b, s->path);
	dl_buf_printf(&b, ", \"task\": \"%s\", \"input\": {\"h\": %d, \"w\": %d, \"c\": %d}, "
		      "\"outputs\": %d, \"classes\": ", sm->reg ? "regression" : "classification",
		      in.h, in.w, in.c, sm->k);
	dl_buf_puts(&b, sm->ck.classes_json ? sm->ck.classes_json : "null");
	dl_buf_printf(&b, ", \"loaded_at\": \"%s\", \"load_seconds\": %.6f, \"max_batch\": %d, "
		      "\"max_delay_ms\": %.3f, \"max_body\": %zu, \"top_k\": %d, \"fit\": \"%s\"}\n",
		      sm->loaded_at, sm->load_seconds, s->max_batch, s->max_delay_s * 1e3,
		      s->max_body, s->topk, s->crop ? "crop" : "stretch");
	srv_release(s, sm);
	enum MHD_Result ok = answer(c, r, 200, "application/json", &b);
	dl_buf_release(&b);
	return ok;
}

/* ---- bodies ------------------------------------------------------------- */

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *filename, const char *content_type,
			       const char *transfer_encoding, const char *data, uint64_t off,
			       size_t size)
{
	req *r = cls;
	(void)kind, (void)content_type, (void)transfer_encoding;
	if (off == 0) {
		if (r->nparts >= r->s->max_images) {
			r->parts_over = 1;
			return MHD_NO;
		}
		if (r->nparts == r->capparts) {
			int cap = r->capparts ? r->capparts * 2 : 8;
			part *np = realloc(r->parts, sizeof *np * (size_t)cap);
			if (!np)
				return MHD_NO;
			r->parts = np;
			r->capparts = cap;
		}
		part *p = &r->parts[r->nparts++];
		p->name = strdup(filename ? filename : key ? key : "");
		dl_buf_init(&p->data);
	}
	part *p = &r->parts[r->nparts - 1];
	dl_buf_append(&p->data, data, size);
	return p->data.oom || !p->name ? MHD_NO : MHD_YES;
}

/* Fills px [n, sample] from the body; the image count in *n, names (or
 * NULL) borrowed into names.  An HTTP status other than 200 on failure. */
static int images(req *r, srv_model *sm, uint8_t **px, int *n, char *msg, size_t msglen)
{
	srv *s = r->s;
	dl_shape in = sm->m.input;
	size_t sample = dl_shape_size(in);
	dl_image_limits lim = { .max_pixels = s->max_pixels, .max_side = s->max_side };
	dl_err err = { 0 };
	dl_st_file f = { 0 };
	const dl_st_tensor *t = NULL;
	int rc = 0, count = 0, over = 0;
	if (r->multipart) {
		count = r->nparts;
	} else if (r->st) {
		if ((rc = dl_st_parse(&f, r->body.p ? r->body.p : "", r->body.len, "request body", &err)) ||
		    (rc = dl_st_get(&f, "images", DL_U8, 4, &t, &err)))
			goto out;
		if (t->shape[3] != 1 && t->shape[3] != 3) {
			rc = dl_fail(&err, DL_EDATA, "request body: images must have 1 or 3 channels, not %lld",
				     (long long)t->shape[3]);
			goto out;
		}
		if (t->shape[0] > s->max_images || t->shape[1] > s->max_side ||
		    t->shape[2] > s->max_side) {
			over = 1;
			rc = dl_fail(&err, DL_EDATA, "request body: images [%lld, %lld, %lld, %lld] exceed "
				     "the limits (%ld images, %d pixels a side)", (long long)t->shape[0],
				     (long long)t->shape[1], (long long)t->shape[2],
				     (long long)t->shape[3], s->max_images, s->max_side);
			goto out;
		}
		count = (int)t->shape[0];
	} else {
		count = 1;
	}
	if (count < 1 || count > s->max_images) {
		over = count > 0;
		rc = dl_fail(&err, DL_EDATA, "request body: %d images, expected 1 to %ld", count,
			     s->max_images);
		goto out;
	}
	if (!(*px = malloc(sample * (size_t)count))) {
		rc = dl_fail(&err, DL_EFAIL, "out of memory");
		goto out;
	}
	for (int i = 0; i < count && !rc; i++) {
		uint8_t *dst = *px + sample * (size_t)i;
		if (r->multipart) {
			char name[256];
			snprintf(name, sizeof name, "part %d (%s)", i + 1, r->parts[i].name);
			rc = dl_predict_decode(r->parts[i].data.p ? r->parts[i].data.p : "",
					       r->parts[i].data.len, name, &lim, in, s->crop, dst, &err);
		} else if (r->st) {
			dl_image im = { .h = (int)t->shape[1], .w = (int)t->shape[2],
					.c = (int)t->shape[3] }, conv = { 0 };
			size_t one = (size_t)im.h * (size_t)im.w * (size_t)im.c;
			im.px = (uint8_t *)t->data + one * (size_t)i;
			if (im.c != in.c && !(rc = dl_image_convert(&im, in.c, &conv, &err)))
				rc = dl_predict_fit(&conv, in, s->crop, dst, &err);
			else if (!rc)
				rc = dl_predict_fit(&im, in, s->crop, dst, &err);
			dl_image_free(&conv);
		} else {
			rc = dl_predict_decode(r->body.p ? r->body.p : "", r->body.len, "request body",
					       &lim, in, s->crop, dst, &err);
		}
	}
out:
	dl_st_close(&f);
	*n = count;
	if (!rc)
		return 200;
	snprintf(msg, msglen, "%s", err.msg);
	return over ? 413 : rc == DL_EFAIL ? 500 : 400;
}

static enum MHD_Result predict(struct MHD_Connection *c, req *r)
{
	srv *s = r->s;
	if (r->pp && MHD_destroy_post_processor(r->pp) == MHD_NO && !r->parts_over) {
		r->pp = NULL;
		return fail(c, r, 400, "request body: malformed multipart/form-data");
	}
	r->pp = NULL;
	if (r->parts_over)
		return fail(c, r, 413, "request body: more than %ld images", s->max_images);
	const char *kq = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "k");
	long topk = s->topk;
	if (kq) {
		char *end;
		topk = strtol(kq, &end, 10);
		if (*end || end == kq || topk < 1 || topk > 100000)
			return fail(c, r, 400, "query: k must be a whole number >= 1, not '%s'", kq);
	}
	srv_model *sm = srv_acquire(s);
	uint8_t *px = NULL;
	float *out = NULL;
	int n = 0, code;
	char msg[1024];
	enum MHD_Result ok;
	dl_buf b;
	dl_buf_init(&b);
	if ((code = images(r, sm, &px, &n, msg, sizeof msg)) != 200) {
		ok = fail(c, r, code, "%s", msg);
		goto out;
	}
	if (!(out = malloc(sizeof(float) * (size_t)sm->k * (size_t)n))) {
		ok = fail(c, r, 500, "out of memory");
		goto out;
	}
	if (srv_run(s, sm, px, n, out)) {
		ok = fail(c, r, 500, "inference failed (see the server's log)");
		goto out;
	}
	for (size_t i = 0; i < (size_t)n * (size_t)sm->k; i++)
		if (!isfinite(out[i])) {
			ok = fail(c, r, 500, "the model's output is not finite (NaN or Inf)");
			goto out;
		}
	int batch = r->multipart || r->st;
	dl_buf_puts(&b, "{");
	model_json(&b, sm);
	dl_buf_puts(&b, batch ? ", \"predictions\": [" : ", ");
	for (int i = 0; i < n; i++) {
		if (batch) {
			dl_buf_puts(&b, i ? ", {" : "{");
			if (r->multipart) {
				dl_buf_puts(&b, "\"name\": ");
				dl_buf_json_string(&b, r->parts[i].name);
			} else {
				dl_buf_printf(&b, "\"index\": %d", i);
			}
			dl_buf_puts(&b, ", ");
		}
		dl_predict_answer(&b, out + (size_t)i * (size_t)sm->k, sm->k, (int)topk, sm->reg,
				  sm->classes, 1);
		dl_buf_puts(&b, batch ? "}" : "");
	}
	dl_buf_puts(&b, batch ? "]}\n" : "}\n");
	ok = b.oom ? fail(c, r, 500, "out of memory") : answer(c, r, 200, "application/json", &b);
out:
	srv_release(s, sm);
	free(px);
	free(out);
	dl_buf_release(&b);
	return ok;
}

/* ---- the access handler ------------------------------------------------- */

static enum MHD_Result begin(srv *s, struct MHD_Connection *c, const char *url,
			     const char *method, req *r)
{
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	if (!strcmp(url, "/predict"))
		r->route = R_PREDICT;
	else if (!strcmp(url, "/healthz"))
		r->route = R_HEALTH;
	else if (!strcmp(url, "/metadata"))
		r->route = R_META;
	else if (!strcmp(url, "/metrics"))
		r->route = R_METRICS;
	if (r->route == R_NONE)
		return fail(c, r, 404, "no such path: %.80s (try /predict, /healthz, /metadata, /metrics)",
			    url);
	if (r->route == R_PREDICT ? strcmp(method, "POST") != 0 : !get)
		return fail(c, r, 405, "%.15s is not allowed on %s", method, url);
	if (r->route != R_PREDICT)
		return MHD_YES;
	const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (len && strtoull(len, NULL, 10) > s->max_body)
		return fail(c, r, 413, "request body of %.20s bytes is larger than --max-body %zu", len,
			    s->max_body);
	const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (type && !strncasecmp(type, "multipart/form-data", 19)) {
		r->multipart = 1;
		if (!(r->pp = MHD_create_post_processor(c, 65536, on_part, r)))
			return fail(c, r, 400, "request body: multipart/form-data without a boundary");
	} else if (type && !strncasecmp(type, "application/x-safetensors", 25)) {
		r->st = 1;
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	srv *s = cls;
	req *r = *con_cls;
	(void)version;
	if (!r) {
		if (!(r = calloc(1, sizeof *r)))
			return MHD_NO;
		r->s = s;
		r->t0 = srv_now();
		snprintf(r->method, sizeof r->method, "%s", method);
		snprintf(r->path, sizeof r->path, "%s", url);
		dl_buf_init(&r->body);
		*con_cls = r;
		pthread_mutex_lock(&s->mu);
		s->inflight++;
		pthread_mutex_unlock(&s->mu);
		return begin(s, c, url, method, r);
	}
	if (r->answered) {          /* answered early: the rest of the body is dropped */
		*upload_size = 0;
		return MHD_YES;
	}
	/* libmicrohttpd sends an answer only before the body or after all of
	 * it: a body over a limit is read and dropped to its end (the client
	 * then gets the 408/413), or cut at twice --timeout if it never ends */
	if (*upload_size) {
		size_t n = *upload_size;
		double dt = srv_now() - r->t0;
		*upload_size = 0;
		r->got += n;
		if (r->reject)
			return dt > 2 * s->timeout_s ? MHD_NO : MHD_YES;
		if (dt > s->timeout_s) {
			reject(r, 408, "request body not complete after %.1f s (--timeout)", s->timeout_s);
			return MHD_YES;
		}
		if (r->got > s->max_body) {
			reject(r, 413, "request body is larger than --max-body %zu", s->max_body);
			return MHD_YES;
		}
		if (r->route != R_PREDICT)
			return MHD_YES;      /* a body on GET: ignored */
		if (r->pp) {
			if (MHD_post_process(r->pp, upload, n) == MHD_NO) {
				if (r->parts_over)
					reject(r, 413, "request body: more than %ld images", s->max_images);
				else
					reject(r, 400, "request body: malformed multipart/form-data");
			}
			return MHD_YES;
		}
		dl_buf_append(&r->body, upload, n);
		if (r->body.oom)
			reject(r, 500, "out of memory");
		return MHD_YES;
	}
	if (r->reject)
		return fail(c, r, r->reject, "%s", r->reject_msg);
	switch (r->route) {
	case R_HEALTH: {
		dl_buf b;
		dl_buf_init(&b);
		pthread_mutex_lock(&s->mu);
		dl_buf_printf(&b, "{\"status\": \"%s\", \"generation\": %ld}\n",
			      s->draining ? "draining" : "ok", s->gen);
		int code = s->draining ? 503 : 200;
		pthread_mutex_unlock(&s->mu);
		enum MHD_Result ok = answer(c, r, code, "application/json", &b);
		dl_buf_release(&b);
		return ok;
	}
	case R_META:
		return metadata(c, r);
	case R_METRICS: {
		dl_buf b;
		dl_buf_init(&b);
		srv_metrics_render(s, &b);
		enum MHD_Result ok = answer(c, r, 200, "text/plain; version=0.0.4", &b);
		dl_buf_release(&b);
		return ok;
	}
	default:
		return predict(c, r);
	}
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode why)
{
	srv *s = cls;
	req *r = *con_cls;
	(void)why;
	if (!r)
		return;
	double dt = srv_now() - r->t0;
	srv_metrics_request(&s->met, r->code, dt);
	if (s->access_log) {
		char addr[INET6_ADDRSTRLEN] = "-";
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, addr,
				  sizeof addr);
		else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr,
				  addr, sizeof addr);
		char path[96], method[16];
		for (size_t i = 0; i < sizeof path; i++)     /* printable only */
			path[i] = r->path[i] && (r->path[i] < 32 || r->path[i] > 126) ? '?' : r->path[i];
		for (size_t i = 0; i < sizeof method; i++)
			method[i] = r->method[i] && (r->method[i] < 33 || r->method[i] > 126) ? '?'
										: r->method[i];
		srv_log(s, "%s \"%s %s\" %d %zu %.3f ms", addr, method, path, r->code, r->got,
			dt * 1e3);
	}
	if (r->pp)
		MHD_destroy_post_processor(r->pp);
	for (int i = 0; i < r->nparts; i++) {
		free(r->parts[i].name);
		dl_buf_release(&r->parts[i].data);
	}
	free(r->parts);
	dl_buf_release(&r->body);
	free(r);
	*con_cls = NULL;
	pthread_mutex_lock(&s->mu);
	s->inflight--;
	pthread_mutex_unlock(&s->mu);
}

struct MHD_Daemon *srv_http_start(srv *s, int fd, int max_conns, dl_err *err)
{
	unsigned tmo = (unsigned)ceil(s->timeout_s);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC, 0,
		NULL, NULL, on_request, s,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conns,
		MHD_OPTION_CONNECTION_TIMEOUT, tmo ? tmo : 1u,
		MHD_OPTION_NOTIFY_COMPLETED, on_done, s,
		MHD_OPTION_END);
	if (!d)
		dl_fail(err, DL_EFAIL, "cannot start the HTTP server (libmicrohttpd)");
	return d;
}
