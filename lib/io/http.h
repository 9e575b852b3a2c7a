/* HTTP(S) downloads through libcurl, resumable and retried.
 *
 * Only http and https are spoken (file:// too when the caller allows it
 * for a URL the user gave, never through a redirect); redirects are
 * followed to http/https only; a slow or stalled transfer is aborted; the
 * body is capped at a size the caller names.
 *
 * The body goes to a file the caller names (PART, e.g. "x.tar.gz.part").
 * A dropped or stalled transfer is retried with exponential backoff, and
 * so are HTTP 429 and 5xx (Retry-After honoured, up to max_delay_s); other
 * 4xx fail at once.  A retry resumes with Range + If-Range when the server
 * gave a validator (a strong ETag, else Last-Modified); when the server
 * ignores the Range (200) or the file changed (If-Range fails: 200), the
 * part is truncated and the body written from the start.  The validator is
 * kept beside the part in PART.validator, so a later call (after a killed
 * run) resumes too; without one a leftover part is started over.
 *
 * Call dl_http_global_init once before the first download (it wraps
 * curl_global_init, which is not thread-safe) and dl_http_global_cleanup
 * once at the end, both from main().
 */
#ifndef DL_IO_HTTP_H
#define DL_IO_HTTP_H

#include <stdio.h>
#include "core/error.h"
#include "core/log.h"

/* Called at most a few times a second: bytes in the part so far, and the
 * expected total (-1 unknown). */
typedef void (*dl_http_progress_fn)(void *user, long long now, long long total);

typedef struct dl_http_opts {
	long connect_timeout_s;   /* give up connecting after this */
	long low_speed_bytes;     /* abort when slower than this many bytes/s */
	long low_speed_time_s;    /* ... for this many seconds */
	long max_redirects;
	long long max_bytes;      /* body size cap (> 0) */
	int retries;              /* attempts after the first (>= 0) */
	long backoff_ms;          /* delay before the first retry; doubles */
	long max_delay_s;         /* cap on one delay, Retry-After included */
	int allow_file;           /* accept a file:// URL (not via redirect) */
	const char *user_agent;   /* NULL: "dl-tools/VERSION" */
	dl_logger log;            /* a note per retry (core/log.h); zeroed: silent */
	dl_http_progress_fn progress;   /* NULL: none */
	void *progress_user;
} dl_http_opts;

/* connect 30 s, abort below 1 KB/s for 60 s, 5 redirects, 4 GiB cap,
 * 5 retries from 1 s (max 300 s), http/https only, no log, no progress */
void dl_http_opts_default(dl_http_opts *o);

typedef struct dl_http_result {
	long status;          /* last HTTP status (0 for file://) */
	int attempts;         /* requests made */
	int resumed;          /* attempts that continued a part (206) */
	int restarted;        /* times a part was discarded (Range ignored, file changed) */
	long long bytes;      /* size of the part at the end */
} dl_http_result;

int dl_http_global_init(dl_err *err);
void dl_http_global_cleanup(void);

/* 1 if url starts with http:// or https:// (any case), else 0. */
int dl_http_url_ok(const char *url);
/* 1 if url starts with file:// (any case), else 0. */
int dl_http_url_is_file(const char *url);

/* Downloads url into part (see above); res (may be NULL) says how.  On
 * success part holds the whole body and PART.validator is removed.  On
 * failure part is kept when it holds bytes a later call could resume
 * (there is a validator), else removed.
 * Errors: DL_ENET (connection, timeout after the retries, HTTP >= 400,
 * bad protocol or redirect), DL_EDATA (body larger than max_bytes; the
 * part is removed), DL_EIO (writing the part failed).  The message names
 * the URL. */
int dl_http_fetch(const char *url, const char *part, const dl_http_opts *o,
		  dl_http_result *res, dl_err *err);

#endif
