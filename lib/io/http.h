/* HTTP(S) downloads through libcurl.
 *
 * Only http and https are spoken, redirects are followed to http/https
 * only, an HTTP status >= 400 is an error, a slow or stalled transfer is
 * aborted, and the body is capped at a size the caller names.  The body is
 * written to a FILE * the caller owns (typically a dl_afile's temp file),
 * so a failed transfer is abandoned by aborting that file.
 *
 * Call dl_http_global_init once before the first download (it wraps
 * curl_global_init, which is not thread-safe) and dl_http_global_cleanup
 * once at the end, both from main().
 */
#ifndef DL_IO_HTTP_H
#define DL_IO_HTTP_H

#include <stdio.h>
#include "core/error.h"

typedef struct dl_http_opts {
	long connect_timeout_s;   /* give up connecting after this */
	long low_speed_bytes;     /* abort when slower than this many bytes/s */
	long low_speed_time_s;    /* ... for this many seconds */
	long max_redirects;
	long long max_bytes;      /* body size cap (> 0) */
	const char *user_agent;   /* NULL: "dl-tools/VERSION" */
} dl_http_opts;

/* connect 30 s, abort below 1 KB/s for 60 s, 5 redirects, 4 GiB cap */
void dl_http_opts_default(dl_http_opts *o);

int dl_http_global_init(dl_err *err);
void dl_http_global_cleanup(void);

/* 1 if url starts with http:// or https:// (any case), else 0. */
int dl_http_url_ok(const char *url);

/* GET url and append the body to out; *nbytes (may be NULL) gets the body
 * size written.  Errors: DL_ENET (connection, timeout, HTTP >= 400, bad
 * protocol or redirect), DL_EDATA (body larger than max_bytes), DL_EIO
 * (writing to out failed).  The message names the URL. */
int dl_http_get(const char *url, FILE *out, const dl_http_opts *o,
		long long *nbytes, dl_err *err);

#endif
