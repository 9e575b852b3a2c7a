#include "io/http.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#ifndef DL_VERSION
#define DL_VERSION "0.1.0"
#endif

void dl_http_opts_default(dl_http_opts *o)
{
	o->connect_timeout_s = 30;
	o->low_speed_bytes = 1024;
	o->low_speed_time_s = 60;
	o->max_redirects = 5;
	o->max_bytes = 4LL << 30;
	o->user_agent = NULL;
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

/* State of one transfer, seen by the write callback. */
typedef struct sink {
	FILE *out;
	long long n, cap;
	int over;       /* body passed the cap */
	int werr;       /* fwrite failed; errno saved */
} sink;

static size_t on_body(char *p, size_t size, size_t nmemb, void *user)
{
	sink *s = user;
	size_t n = size * nmemb;
	if ((long long)n > s->cap - s->n) {
		s->over = 1;
		return 0;  /* short count: curl aborts with CURLE_WRITE_ERROR */
	}
	if (n && fwrite(p, 1, n, s->out) != n) {
		s->werr = errno ? errno : EIO;
		return 0;
	}
	s->n += (long long)n;
	return n;
}

static void chomp(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

int dl_http_get(const char *url, FILE *out, const dl_http_opts *o,
		long long *nbytes, dl_err *err)
{
	if (nbytes)
		*nbytes = 0;
	if (!dl_http_url_ok(url))
		return dl_fail(err, DL_ENET, "%s: only http:// and https:// URLs are supported", url);
	if (o->max_bytes <= 0)
		return dl_fail(err, DL_EFAIL, "%s: no download size cap set", url);
	CURL *h = curl_easy_init();
	if (!h)
		return dl_fail(err, DL_EFAIL, "%s: cannot start libcurl", url);
	char ua[64];
	snprintf(ua, sizeof ua, "dl-tools/%s", DL_VERSION);
	char cerr[CURL_ERROR_SIZE] = "";
	sink s = { out, 0, o->max_bytes, 0, 0 };
	CURLcode c = CURLE_OK;
	/* each setopt can only fail on bad arguments or an old libcurl; stop at the first */
	if (!c) c = curl_easy_setopt(h, CURLOPT_URL, url);
	if (!c) c = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	if (!c) c = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (!c) c = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (!c) c = curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	if (!c) c = curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	if (!c) c = curl_easy_setopt(h, CURLOPT_MAXREDIRS, o->max_redirects);
	if (!c) c = curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	if (!c) c = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
	if (!c) c = curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, o->low_speed_bytes);
	if (!c) c = curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
	if (!c) c = curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
	if (!c) c = curl_easy_setopt(h, CURLOPT_USERAGENT, o->user_agent ? o->user_agent : ua);
	if (!c) c = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	if (!c) c = curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	if (c) {
		curl_easy_cleanup(h);
		return dl_fail(err, DL_EFAIL, "%s: libcurl option rejected: %s", url, curl_easy_strerror(c));
	}
	c = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	if (nbytes)
		*nbytes = s.n;
	chomp(cerr);
	const char *why = cerr[0] ? cerr : curl_easy_strerror(c);
	if (c == CURLE_OK)
		return 0;
	if (s.over || c == CURLE_FILESIZE_EXCEEDED)
		return dl_fail(err, DL_EDATA, "%s: response larger than %lld bytes", url, o->max_bytes);
	if (s.werr) {
		errno = s.werr;
		return dl_fail_errno(err, DL_EIO, "%s: cannot write the download", url);
	}
	if (c == CURLE_HTTP_RETURNED_ERROR)
		return dl_fail(err, DL_ENET, "%s: HTTP %ld", url, status);
	return dl_fail(err, DL_ENET, "%s: download failed: %s", url, why);
}
