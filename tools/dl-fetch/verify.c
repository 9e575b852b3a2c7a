#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/digest.h"

enum { CHUNK = 1 << 16 };
/* Content cap when the registry does not know the size. */
#define FETCH_MAX_CONTENT (16LL << 30)

long long fetch_max_bytes(const fetch_file *ff, long long unknown_cap)
{
	/* only the published bytes match a checksum of the file itself */
	if (ff->bytes >= 0 && (!ff->gz || !ff->sha256))
		return ff->bytes;
	if (ff->content_bytes < 0)
		return ff->bytes > unknown_cap ? ff->bytes : unknown_cap;
	/* a recompressed .gz (checked by content) may differ a little in size */
	long long c = ff->content_bytes;
	long long b = c + c / 8 + (1LL << 20);
	if (ff->bytes > b)
		b = ff->bytes;
	return b;
}

/* Streaming gunzip + sha256 of the content.  Concatenated gzip members are
 * one stream (as gzip -d reads them); anything else after a member is an
 * error. */
typedef struct gunzip {
	z_stream z;
	int live;                /* inflateInit2 done */
	int ended;               /* the last member is complete */
	long long out, cap;
	const char *bad;         /* why the stream is not acceptable, or NULL */
	char why[160];
	unsigned char *buf;      /* CHUNK bytes of output */
} gunzip;

static int gunzip_feed(gunzip *g, const unsigned char *p, size_t n, dl_digest *sha, dl_err *err)
{
	if (g->bad || !n)
		return 0;
	if (g->ended) {
		inflateReset(&g->z);
		g->ended = 0;
	}
	g->z.next_in = (unsigned char *)p;
	g->z.avail_in = (unsigned)n;
	for (;;) {
		g->z.next_out = g->buf;
		g->z.avail_out = CHUNK;
		int r = inflate(&g->z, Z_NO_FLUSH);
		size_t got = CHUNK - g->z.avail_out;
		if ((long long)got > g->cap - g->out) {
			snprintf(g->why, sizeof g->why, "content is larger than %lld bytes", g->cap);
			g->bad = g->why;
			return 0;
		}
		g->out += (long long)got;
		int rc = dl_digest_update(sha, g->buf, got, err);
		if (rc)
			return rc;
		if (r == Z_STREAM_END) {
			g->ended = 1;
			if (!g->z.avail_in)
				return 0;
			inflateReset(&g->z);  /* another member follows */
			g->ended = 0;
			continue;
		}
		if (r == Z_BUF_ERROR)
			return 0;     /* needs more input */
		if (r != Z_OK) {
			snprintf(g->why, sizeof g->why, "not a valid gzip stream (%s)",
				 g->z.msg ? g->z.msg : "inflate failed");
			g->bad = g->why;
			return 0;
		}
		if (!g->z.avail_in && g->z.avail_out)
			return 0;
	}
}

int fetch_verify(const fetch_file *ff, const char *path, const char *shown,
		 int *by_md5, dl_err *err)
{
	if (by_md5)
		*by_md5 = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return dl_fail_errno(err, DL_EIO, "%s: cannot open", shown);
	gunzip g;
	memset(&g, 0, sizeof g);
	g.cap = ff->content_bytes >= 0 ? ff->content_bytes
		: !ff->gz && ff->bytes >= 0 ? ff->bytes : FETCH_MAX_CONTENT;
	dl_digest md5 = { 0 }, sha = { 0 };
	unsigned char *in = malloc(CHUNK);
	g.buf = malloc(CHUNK);
	int rc = 0, want_sha = ff->sha256 != NULL, gz = ff->gz && want_sha;
	if (!in || !g.buf)
		rc = dl_fail(err, DL_EFAIL, "out of memory");
	if (!rc && ff->md5)
		rc = dl_digest_init(&md5, DL_MD5, err);
	if (!rc && want_sha)
		rc = dl_digest_init(&sha, DL_SHA256, err);
	if (!rc && gz) {
		if (inflateInit2(&g.z, 16 + MAX_WBITS) != Z_OK)
			rc = dl_fail(err, DL_EFAIL, "%s: cannot start zlib", shown);
		else
			g.live = 1;
	}
	size_t n;
	long long total = 0;
	while (!rc && (n = fread(in, 1, CHUNK, f)) > 0) {
		total += (long long)n;
		if (ff->md5)
			rc = dl_digest_update(&md5, in, n, err);
		if (rc)
			break;
		if (!want_sha) {
			continue;
		} else if (gz) {
			rc = gunzip_feed(&g, in, n, &sha, err);
		} else if ((long long)n > g.cap - g.out) {
			snprintf(g.why, sizeof g.why, "file is larger than %lld bytes", g.cap);
			g.bad = g.why;
		} else {
			g.out += (long long)n;
			rc = dl_digest_update(&sha, in, n, err);
		}
		/* the content check has failed: read on only while the md5 could still match */
		if (g.bad && (!ff->md5 || (ff->bytes >= 0 && total > ff->bytes)))
			break;
	}
	if (!rc && ferror(f))
		rc = dl_fail_errno(err, DL_EIO, "%s: read failed", shown);
	if (!rc && gz && !g.bad && !g.ended) {
		g.bad = total ? "truncated gzip stream" : "empty file";
	}
	char md5hex[DL_DIGEST_HEX_MAX] = "", shahex[DL_DIGEST_HEX_MAX] = "";
	if (!rc && ff->md5)
		rc = dl_digest_final(&md5, md5hex, err);
	if (!rc && want_sha)
		rc = dl_digest_final(&sha, shahex, err);
	if (!rc) {
		if (ff->md5 && dl_digest_hex_equal(md5hex, ff->md5)) {
			if (by_md5)
				*by_md5 = 1;
		} else if (!want_sha) {
			rc = dl_fail(err, DL_ECHECKSUM, "%s: checksum mismatch: md5 %s, expected %s",
				     shown, md5hex, ff->md5);
		} else if (g.bad) {
			rc = dl_fail(err, DL_ECHECKSUM, "%s: checksum mismatch: %s; expected %scontent sha256 %s",
				     shown, g.bad, gz ? "gunzipped " : "", ff->sha256);
		} else if (!dl_digest_hex_equal(shahex, ff->sha256)) {
			rc = dl_fail(err, DL_ECHECKSUM, "%s: checksum mismatch: %scontent sha256 %s, expected %s",
				     shown, gz ? "gunzipped " : "", shahex, ff->sha256);
		}
	}
	if (g.live)
		inflateEnd(&g.z);
	dl_digest_release(&md5);
	dl_digest_release(&sha);
	free(in);
	free(g.buf);
	fclose(f);
	return rc;
}
