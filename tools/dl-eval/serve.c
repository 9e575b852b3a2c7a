/* `dl-eval serve CHECKPOINT`: options, start and the main thread (serve.h).
 *
 * Signals: SIGTERM, SIGINT and SIGHUP are blocked in every thread before
 * any is started and taken by the main thread with sigtimedwait(), so the
 * server has no signal handler and no global state.  Between signals the
 * main thread polls the checkpoint's identity (device, inode, size, mtime)
 * every --poll-ms: an atomic replacement (rename) or a rewrite asks the
 * inference thread to load it again. */
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/opt.h"
#include "eval.h"
#include "serve.h"

double srv_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void srv_log(srv *s, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&s->log_mu);
	fprintf(stderr, "%s.%03ldZ %s\n", stamp, ts.tv_nsec / 1000000, line);
	fflush(stderr);
	pthread_mutex_unlock(&s->log_mu);
}

/* A listening TCP socket on ADDR:PORT ("[v6]:PORT" for IPv6); the bound
 * port in *port (for PORT 0: the one the kernel chose). */
static int listen_on(const char *spec, int backlog, int *fd_out, int *port, dl_err *err)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host || !colon[1])
		return dl_fail(err, DL_EUSAGE, "--listen wants ADDR:PORT (e.g. 127.0.0.1:8080), not '%s'",
			       spec);
	size_t hl = (size_t)(colon - spec);
	memcpy(host, spec, hl);
	host[hl] = 0;
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = 0;
	}
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535)
		return dl_fail(err, DL_EUSAGE, "--listen: port must be 0..65535, not '%s'", colon + 1);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE }, *ai;
	int e = getaddrinfo(host, colon + 1, &hints, &ai);
	if (e)
		return dl_fail(err, DL_EUSAGE, "--listen: '%s' is not a numeric address: %s", host,
			       gai_strerror(e));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, backlog)) {
		int rc = dl_fail_errno(err, DL_EIO, "cannot listen on %s", spec);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage sa;
	socklen_t sl = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	*port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
					       : ((struct sockaddr_in *)&sa)->sin_port);
	*fd_out = fd;
	return 0;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Signals and polling until SIGTERM/SIGINT; returns the signal. */
static int wait_loop(srv *s, const sigset_t *set, long poll_ms, struct stat *seen)
{
	double next_poll = srv_now() + poll_ms / 1e3;
	for (;;) {
		long ms = poll_ms > 0 ? (long)fmax(1, (next_poll - srv_now()) * 1e3) : 1000;
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		int sig = sigtimedwait(set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			return sig;
		if (sig == SIGHUP) {
			srv_log(s, "dl-eval serve: SIGHUP: loading %s again", s->path);
			stat(s->path, seen);
			srv_request_reload(s);
		}
		if (poll_ms > 0 && srv_now() >= next_poll) {
			struct stat st;
			if (!stat(s->path, &st) && !same_file(&st, seen)) {
				*seen = st;
				srv_log(s, "dl-eval serve: %s changed: loading it", s->path);
				srv_request_reload(s);
			}
			next_poll = srv_now() + poll_ms / 1e3;
		}
	}
}

int serve_main(int argc, char **argv, const void *data)
{
	(void)data;
	const char *device = "auto", *fit = "stretch", *listen_spec = "127.0.0.1:8080";
	long threads = 0, topk = 1, max_batch = 32, max_body = 16L << 20, max_images = 256;
	long max_conns = 256, poll_ms = 1000, max_pixels = 16L << 20;
	double max_delay = 2, timeout = 30;
	int no_log = 0;
	const dl_opt opts[] = {
		DL_OPT_STRING(0, "listen", &listen_spec, "ADDR:PORT",
		  "address and port (default 127.0.0.1:8080; port 0: any free one)"),
		DL_OPT_INT(0, "max-batch", &max_batch, "N",
		  "images per forward pass: concurrent requests are batched (default 32; 1: off)"),
		DL_OPT_FLOAT(0, "max-delay-ms", &max_delay, "MS",
		  "longest wait for a batch to fill after its first request (default 2)"),
		DL_OPT_INT('k', "top-k", &topk, "K", "classes per answer (default 1; ?k=K per request)"),
		DL_OPT_STRING(0, "fit", &fit, "HOW", "stretch (default) or crop, as dl-eval predict"),
		DL_OPT_INT(0, "max-body", &max_body, "BYTES",
		  "largest request body (default 16777216): 413 beyond"),
		DL_OPT_INT(0, "max-images", &max_images, "N", "most images in one request (default 256)"),
		DL_OPT_INT(0, "max-pixels", &max_pixels, "N",
		  "largest decoded image, width x height (default 16777216): 400 beyond"),
		DL_OPT_FLOAT(0, "timeout", &timeout, "S",
		  "seconds a request may take to arrive; idle connections close (default 30)"),
		DL_OPT_INT(0, "max-connections", &max_conns, "N", "open connections at most (default 256)"),
		DL_OPT_INT(0, "poll-ms", &poll_ms, "MS",
		  "check the checkpoint for replacement every MS (default 1000; 0: only on SIGHUP)"),
		DL_OPT_FLAG(0, "no-access-log", &no_log, "no line per request on stderr"),
		DL_OPT_INT('j', "threads", &threads, "N", "CPU threads (default: all cores)"),
		DL_OPT_STRING(0, "device", &device, "DEV", "auto (default), cpu, cuda[:N]"),
		DL_OPT_END,
	};
	const dl_cmd cmd = {
		"dl-eval serve", "CHECKPOINT [--listen ADDR:PORT] [options]",
		"Serves a checkpoint over HTTP/1.1 (libmicrohttpd).  POST /predict with one\n"
		"image (PNG, JPEG, PPM/PGM) as the body, several as multipart/form-data, or a\n"
		"safetensors file with 'images' U8 [N,H,W,C] (Content-Type:\n"
		"application/x-safetensors); each is preprocessed as dl-eval predict does and\n"
		"answered in JSON.  GET /healthz, /metadata, /metrics (Prometheus).  Concurrent\n"
		"requests are batched into one forward pass.  SIGHUP or a replaced checkpoint\n"
		"file loads the new model without dropping requests (a file that fails to load\n"
		"keeps the old model); SIGTERM/SIGINT answer what is in flight and exit 0.\n"
		"The first line on stdout is 'listening on http://ADDR:PORT'.",
		opts,
		"examples:\n"
		"  dl-eval serve runs/lenet/model.safetensors --listen 127.0.0.1:0\n"
		"  curl --data-binary @shirt.png http://127.0.0.1:8080/predict?k=3\n"
		"  curl -F a=@shirt.png -F b=@boot.jpg http://127.0.0.1:8080/predict\n",
	};
	dl_err err = { 0 };
	int npos, rc = 0, fd = -1, port = 0, started = 0;
	srv s = { 0 };
	struct MHD_Daemon *d = NULL;
	sigset_t set;
	if ((rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err)))
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-eval serve", &err);
	if (npos != 1)
		rc = dl_fail(&err, DL_EUSAGE, "expected one CHECKPOINT, got %d arguments", npos);
	else if (max_batch < 1 || max_batch > 4096)
		rc = dl_fail(&err, DL_EUSAGE, "--max-batch must be in [1, 4096]");
	else if (!(max_delay >= 0 && max_delay <= 10000))
		rc = dl_fail(&err, DL_EUSAGE, "--max-delay-ms must be in [0, 10000]");
	else if (topk < 1 || max_body < 1 || max_images < 1 || max_images > 65536 || max_conns < 1 ||
		 max_conns > 65536 || poll_ms < 0 || max_pixels < 1)
		rc = dl_fail(&err, DL_EUSAGE, "--top-k, --max-body, --max-images (<= 65536), "
			     "--max-pixels and --max-connections (<= 65536) must be positive, --poll-ms >= 0");
	else if (!(timeout > 0 && timeout <= 86400))
		rc = dl_fail(&err, DL_EUSAGE, "--timeout must be in (0, 86400] seconds");
	else if (threads < 0 || threads > 1024)
		rc = dl_fail(&err, DL_EUSAGE, "--threads must be in [0, 1024]");
	else if (strcmp(fit, "stretch") && strcmp(fit, "crop"))
		rc = dl_fail(&err, DL_EUSAGE, "--fit must be stretch or crop, not '%s'", fit);
	if (rc)
		return dl_tool_fail("dl-eval serve", &err);
	s = (srv){ .path = argv[1], .max_batch = (int)max_batch, .topk = (int)topk,
		   .crop = !strcmp(fit, "crop"), .access_log = !no_log, .max_side = 32768,
		   .max_pixels = (uint64_t)max_pixels, .max_delay_s = max_delay / 1e3,
		   .timeout_s = timeout, .max_body = (size_t)max_body, .max_images = max_images,
		   .t_start = srv_now() };
	pthread_mutex_init(&s.mu, NULL);
	pthread_mutex_init(&s.log_mu, NULL);
	pthread_cond_init(&s.cv_work, NULL);
	srv_metrics_init(&s.met);
	/* before any thread exists, so that every thread inherits the mask */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct stat seen = { 0 };
	stat(s.path, &seen);
	if ((rc = listen_on(listen_spec, (int)(max_conns < 1024 ? max_conns : 1024), &fd, &port, &err)) ||
	    (rc = dl_backend_open_opts(&s.be, &(dl_backend_opts){ .device = device, .threads = (int)threads,
			.log = dl_logger_stderr("dl-eval serve") }, &err)) ||
	    (rc = srv_model_load(&s, &s.cur, &err)))
		goto out;
	s.cur->gen = s.gen = 1;
	if ((rc = srv_infer_start(&s, &err)))
		goto out;
	started = 1;
	if (!(d = srv_http_start(&s, fd, (int)max_conns, &err))) {
		rc = err.code;
		goto out;
	}
	fd = -1;   /* the daemon's now */
	printf("listening on http://%.*s:%d\n", (int)(strrchr(listen_spec, ':') - listen_spec),
	       listen_spec, port);
	fflush(stdout);
	srv_log(&s, "dl-eval serve: %s (model %s, sha256 %s) on port %d, max batch %d, max delay %.3g ms",
		s.path, s.cur->m.name, s.cur->sha256, port, s.max_batch, max_delay);
	int sig = wait_loop(&s, &set, poll_ms, &seen);
	srv_log(&s, "dl-eval serve: %s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	pthread_mutex_lock(&s.mu);
	s.draining = 1;
	pthread_mutex_unlock(&s.mu);
	int lfd = (int)MHD_quiesce_daemon(d);
	if (lfd >= 0)
		close(lfd);
	for (double t0 = srv_now(); srv_now() - t0 < timeout;) {
		pthread_mutex_lock(&s.mu);
		long n = s.inflight;
		pthread_mutex_unlock(&s.mu);
		if (!n)
			break;
		usleep(10000);
	}
out:
	if (d)
		MHD_stop_daemon(d);
	if (started)
		srv_infer_stop(&s);
	if (fd >= 0)
		close(fd);
	if (!rc)
		srv_log(&s, "dl-eval serve: stopped");
	srv_model_free(s.cur);
	dl_backend_close(s.be);
	srv_metrics_release(&s.met);
	pthread_cond_destroy(&s.cv_work);
	pthread_mutex_destroy(&s.log_mu);
	pthread_mutex_destroy(&s.mu);
	return rc ? dl_tool_fail("dl-eval serve", &err) : 0;
}
