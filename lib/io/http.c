#include "io/http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#ifndef DL_VERSION
#define DL_VERSION "0.1.0"
#endif

enum { VALIDATOR_MAX = 256 };

void dl_http_opts_default(dl_http_opts *o)
{
	memset(o, 0, sizeof *o);
	o->connect_timeout_s = 30;
	o->low_speed_bytes = 1024;
	o->low_speed_time_s = 60;
	o->max_redirects = 5;
	o->max_bytes = 4LL << 30;
	o->retries = 5;
	o->backoff_ms = 1000;
	o->max_delay_s = 300;
}

int dl_http_global_init(dl_err *err)
{
	CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (c != CURLE_OK)
		return dl_fail(err, DL_ENET, "cannot initialise libcurl: %s", curl_easy_strerror(c));
	return 0;
}

void dl_http_global_cleanup(void)
{
	curl_global_cleanup();
}

int dl_http_url_ok(const char *url)
{
	return !strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8);
}

int dl_http_url_is_file(const char *url)
{
	return !strncasecmp(url, "file://", 7);
}

/* One attempt's view of the response headers (of the last response when
 * redirects are followed) and of the body written. */
typedef struct xfer {
	int fd;                   /* the part, O_RDWR */
	long long offset;         /* bytes kept from earlier attempts */
	long long written;        /* body bytes written by this attempt */
	long long cap;
	int range_sent;
	int is_file;              /* file:// : no status line, no headers */
	/* headers */
	long status;
	long long cr_start;       /* Content-Range first byte; -1 none */
	long long length;         /* Content-Length; -1 none */
	long retry_after_s;       /* -1 none */
	char etag[VALIDATOR_MAX];
	char lastmod[VALIDATOR_MAX];
	/* outcome */
	int started;              /* first body byte seen and placed */
	int over, werr, bad_status, bad_range;
	int restarted;            /* truncated the part */
	/* progress */
	const dl_http_opts *o;
	time_t last_tick;
} xfer;

static void copy_value(char *dst, const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n >= VALIDATOR_MAX)
		n = 0;  /* too long to trust: treat as absent */
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* "Retry-After: 120" or an HTTP date; -1 when unreadable. */
static long parse_retry_after(const char *v)
{
	while (*v == ' ')
		v++;
	char *end;
	errno = 0;
	long s = strtol(v, &end, 10);
	if (end != v && !errno && s >= 0)
		return s;
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
		time_t t = timegm(&tm), now = time(NULL);
		return t > now ? (long)(t - now) : 0;
	}
	return -1;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *user)
{
	xfer *x = user;
	size_t n = size * nmemb;
	char line[1024];
	size_t k = n < sizeof line - 1 ? n : sizeof line - 1;
	memcpy(line, p, k);
	line[k] = '\0';
	if (!strncmp(line, "HTTP/", 5)) {  /* a new response: forget the last one's headers */
		const char *sp = strchr(line, ' ');
		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		x->cr_start = -1;
		x->length = -1;
		x->retry_after_s = -1;
		x->etag[0] = x->lastmod[0] = '\0';
		return n;
	}
	char *colon = strchr(line, ':');
	if (!colon)
		return n;
	size_t nl = (size_t)(colon - line);
	const char *v = colon + 1;
	if (nl == 4 && !strncasecmp(line, "etag", 4)) {
		copy_value(x->etag, v, strlen(v));
	} else if (nl == 13 && !strncasecmp(line, "last-modified", 13)) {
		copy_value(x->lastmod, v, strlen(v));
	} else if (nl == 11 && !strncasecmp(line, "retry-after", 11)) {
		x->retry_after_s = parse_retry_after(v);
	} else if (nl == 14 && !strncasecmp(line, "content-length", 14)) {
		x->length = strtoll(v, NULL, 10);
	} else if (nl == 13 && !strncasecmp(line, "content-range", 13)) {
		long long a;
		if (sscanf(v, " bytes %lld-", &a) == 1 && a >= 0)
			x->cr_start = a;
	}
	return n;
}

/* The first body byte: decide whether it continues the part or replaces it. */
static int place_body(xfer *x)
{
	if (x->is_file)
		x->status = 0;
	else if (x->status == 206 && x->range_sent && x->cr_start == x->offset)
		return 0;  /* resumed: append */
	else if (x->status == 206) {
		x->bad_range = 1;  /* a range we did not ask for */
		return -1;
	} else if (x->status != 200) {
		x->bad_status = 1;
		return -1;
	}
	if (x->offset > 0 || x->range_sent) {
		x->restarted = 1;
		x->offset = 0;
	}
	if (ftruncate(x->fd, 0) != 0 || lseek(x->fd, 0, SEEK_SET) != 0) {
		x->werr = errno;
		return -1;
	}
	return 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *user)
{
	xfer *x = user;
	size_t n = size * nmemb;
	if (!x->started) {
		if (place_body(x))
			return 0;  /* short count: curl aborts with CURLE_WRITE_ERROR */
		x->started = 1;
	}
	if ((long long)n > x->cap - x->offset - x->written) {
		x->over = 1;
		return 0;
	}
	for (size_t done = 0; done < n;) {
		ssize_t w = write(x->fd, p + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			x->werr = w < 0 ? errno : EIO;
			return 0;
		}
		done += (size_t)w;
	}
	x->written += (long long)n;
	return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)ultotal;
	(void)ulnow;
	xfer *x = user;
	if (!x->o->progress || !x->started)
		return 0;
	time_t now = time(NULL);
	if (now == x->last_tick && dlnow < dltotal)
		return 0;
	x->last_tick = now;
	long long total = dltotal > 0 ? x->offset + (long long)dltotal : -1;
	x->o->progress(x->o->progress_user, x->offset + (long long)dlnow, total);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static char *side_name(const char *part)
{
	char *s = NULL;
	return asprintf(&s, "%s.validator", part) < 0 ? NULL : s;
}

/* The validator for If-Range: a strong ETag, else Last-Modified. */
static const char *validator_of(const xfer *x)
{
	if (x->etag[0] && strncmp(x->etag, "W/", 2))
		return x->etag;
	return x->lastmod[0] ? x->lastmod : NULL;
}

static void save_validator(const char *side, const char *v)
{
	if (!side)
		return;
	if (!v) {
		unlink(side);
		return;
	}
	FILE *f = fopen(side, "w");
	if (!f)
		return;  /* best effort: without it a later call starts over */
	fprintf(f, "%s\n", v);
	fclose(f);
}

static void load_validator(const char *side, char *v)
{
	v[0] = '\0';
	FILE *f = side ? fopen(side, "r") : NULL;
	if (!f)
		return;
	if (fgets(v, VALIDATOR_MAX, f))
		v[strcspn(v, "\r\n")] = '\0';
	else
		v[0] = '\0';
	fclose(f);
}

/* One request.  Returns the CURLcode; the xfer says the rest. */
static CURLcode attempt(const char *url, const dl_http_opts *o, xfer *x, const char *validator,
			char *cerr)
{
	CURL *h = curl_easy_init();
	if (!h)
		return CURLE_OUT_OF_MEMORY;
	char ua[64], range[48], ifr[VALIDATOR_MAX + 16];
	snprintf(ua, sizeof ua, "dl-tools/%s", DL_VERSION);
	struct curl_slist *hdrs = NULL;
	x->range_sent = 0;
	if (x->offset > 0 && validator && *validator && !x->is_file) {
		snprintf(range, sizeof range, "%lld-", x->offset);
		snprintf(ifr, sizeof ifr, "If-Range: %s", validator);
		hdrs = curl_slist_append(NULL, ifr);
		if (!hdrs) {
			curl_easy_cleanup(h);
			return CURLE_OUT_OF_MEMORY;
		}
		x->range_sent = 1;
	}
	/* curl's own cap sees whole responses: a server that ignores Range sends
	 * the whole file (200, then the part restarts), so the cap stays
	 * max_bytes; on_body holds a 206 to max_bytes - offset */
	long long left = o->max_bytes;
	CURLcode c = CURLE_OK;
	/* each setopt can only fail on bad arguments or an old libcurl; stop at the first */
	if (!c) c = curl_easy_setopt(h, CURLOPT_URL, url);
	if (!c) c = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	if (!c) c = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (!c) c = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, x->is_file ? "file" : "http,https");
	if (!c) c = curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	if (!c) c = curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	if (!c) c = curl_easy_setopt(h, CURLOPT_MAXREDIRS, o->max_redirects);
	if (!c) c = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
	if (!c) c = curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, o->low_speed_bytes);
	if (!c) c = curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
	if (!c) c = curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(left > 0 ? left : 1));
	if (!c) c = curl_easy_setopt(h, CURLOPT_USERAGENT, o->user_agent ? o->user_agent : ua);
	if (!c) c = curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	if (!c) c = curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	if (!c) c = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	if (!c) c = curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	if (!c) c = curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	if (!c) c = curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	if (!c) c = curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	if (!c && x->range_sent) c = curl_easy_setopt(h, CURLOPT_RANGE, range);
	if (!c && hdrs) c = curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (!c)
		c = curl_easy_perform(h);
	if (x->is_file)
		x->status = 0;
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	return c;
}

/* Worth another try: a timeout, a dropped connection, 429 or 5xx. */
static int retryable(CURLcode c, const xfer *x)
{
	if (x->over || x->werr)
		return 0;
	if (x->bad_status || (c == CURLE_OK && x->status >= 300))
		return x->status == 429 || (x->status >= 500 && x->status <= 599);
	if (x->bad_range)
		return 1;
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static int describe(const char *url, CURLcode c, const xfer *x, const char *cerr, dl_err *err)
{
	if (x->over || c == CURLE_FILESIZE_EXCEEDED)
		return dl_fail(err, DL_EDATA, "%s: response larger than %lld bytes", url, x->cap);
	if (x->werr) {
		errno = x->werr;
		return dl_fail_errno(err, DL_EIO, "%s: cannot write the download", url);
	}
	if (x->bad_status || (c == CURLE_OK && x->status >= 300))
		return dl_fail(err, DL_ENET, "%s: HTTP %ld", url, x->status);
	if (x->bad_range)
		return dl_fail(err, DL_ENET, "%s: the server sent a range that was not asked for", url);
	if (c == CURLE_OPERATION_TIMEDOUT && x->started)
		return dl_fail(err, DL_ENET, "%s: download stalled: %s", url, cerr);
	return dl_fail(err, DL_ENET, "%s: download failed: %s", url, cerr);
}

int dl_http_fetch(const char *url, const char *part, const dl_http_opts *o,
		  dl_http_result *res, dl_err *err)
{
	dl_http_result r;
	memset(&r, 0, sizeof r);
	if (res)
		*res = r;
	int is_file = dl_http_url_is_file(url);
	if (!dl_http_url_ok(url) && !(is_file && o->allow_file))
		return dl_fail(err, DL_ENET, "%s: only http:// and https:// URLs are supported%s", url,
			       o->allow_file ? " (and file://)" : "");
	if (o->max_bytes <= 0)
		return dl_fail(err, DL_EFAIL, "%s: no download size cap set", url);
	int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return dl_fail_errno(err, DL_EIO, "%s: cannot open", part);
	char *side = side_name(part);
	char validator[VALIDATOR_MAX];
	load_validator(side, validator);
	struct stat st;
	long long have = fstat(fd, &st) == 0 ? (long long)st.st_size : 0;
	xfer x;
	int rc = -1;
	long delay = o->backoff_ms > 0 ? o->backoff_ms : 0;
	for (int k = 0; rc < 0; k++) {
		memset(&x, 0, sizeof x);
		x.fd = fd;
		x.is_file = is_file;
		x.cap = o->max_bytes;
		x.o = o;
		x.cr_start = x.length = x.retry_after_s = -1;
		x.offset = validator[0] && !is_file ? have : 0;
		if (lseek(fd, x.offset, SEEK_SET) < 0) {
			rc = dl_fail_errno(err, DL_EIO, "%s: cannot seek", part);
			break;
		}
		char cerr[CURL_ERROR_SIZE] = "";
		CURLcode c = attempt(url, o, &x, validator, cerr);
		r.attempts++;
		r.status = x.status;
		r.resumed += x.started && x.range_sent && !x.restarted;
		r.restarted += x.restarted;
		have = x.offset + x.written;
		/* remember how to resume what we have (or that we cannot) */
		const char *v = x.status == 200 || x.status == 206 ? validator_of(&x) : NULL;
		if (x.started) {
			snprintf(validator, sizeof validator, "%s", v ? v : "");
			save_validator(side, v);
		}
		if (!cerr[0])
			snprintf(cerr, sizeof cerr, "%s", curl_easy_strerror(c));
		else
			cerr[strcspn(cerr, "\r\n")] = '\0';
		if (c == CURLE_OK && !x.bad_status && !x.bad_range && x.status < 300) {
			rc = 0;
			if (!x.started) {  /* an empty body: nothing of the old part stays */
				have = x.status == 206 && x.range_sent ? x.offset : 0;
				if (ftruncate(fd, have) != 0)
					rc = dl_fail_errno(err, DL_EIO, "%s: cannot truncate", part);
			}
			break;
		}
		if (c == CURLE_OUT_OF_MEMORY) {
			rc = dl_fail(err, DL_EFAIL, "%s: out of memory in libcurl", url);
			break;
		}
		if (!retryable(c, &x) || k >= o->retries) {
			rc = describe(url, c, &x, cerr, err);
			break;
		}
		long wait_ms = delay;
		if (x.retry_after_s >= 0)
			wait_ms = x.retry_after_s * 1000;
		if (wait_ms > o->max_delay_s * 1000)
			wait_ms = o->max_delay_s * 1000;
		if (x.bad_range) {  /* start clean, without a range */
			validator[0] = '\0';
			save_validator(side, NULL);
		}
		if (o->log.fn) {
			dl_err why = { 0, "" };
			describe(url, c, &x, cerr, &why);
			dl_logf(&o->log, DL_LOG_NOTE, "%s; retrying in %.1f s (attempt %d of %d)", why.msg,
				wait_ms / 1000.0, k + 2, o->retries + 1);
		}
		sleep_ms(wait_ms);
		if (delay < o->max_delay_s * 1000)
			delay *= 2;
	}
	r.bytes = have;
	if (res)
		*res = r;
	if (close(fd) != 0 && !rc)
		rc = dl_fail_errno(err, DL_EIO, "%s: write failed", part);
	/* keep a part only when a later call can resume it */
	if (rc == 0 || rc == DL_EDATA || !validator[0] || have == 0) {
		if (side)
			unlink(side);
		if (rc)
			unlink(part);
	}
	free(side);
	return rc;
}
