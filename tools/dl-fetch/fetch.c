#include "fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/afile.h"
#include "io/http.h"
#include "verify.h"

enum { CHUNK = 1 << 16 };

typedef enum { SRC_DIR, SRC_URL } src_kind;

typedef struct source {
	src_kind kind;
	const char *where;   /* directory or base URL */
	int is_mirror;       /* a registry URL (a file's own url applies) */
} source;

static int is_dir(const char *path)
{
	struct stat st;
	return path && *path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a);
	int slash = n && a[n - 1] == '/';
	char *s = NULL;
	if (asprintf(&s, "%s%s%s", a, slash ? "" : "/", b) < 0)
		return NULL;
	return s;
}

/* A --verbose line: "prog: dataset: " then fmt with two strings. */
static void say(const fetch_req *rq, const char *fmt, const char *a, const char *b)
{
	if (!rq->log)
		return;
	fprintf(rq->log, "%s: %s: ", rq->prog, rq->ds->name);
	fprintf(rq->log, fmt, a, b);
	fputc('\n', rq->log);
}

/* Copies the regular file src (at most cap bytes) to out. */
static int copy_file(const char *src, FILE *out, long long cap, const char *tmp, dl_err *err)
{
	FILE *in = fopen(src, "rb");
	if (!in)
		return dl_fail_errno(err, DL_EIO, "%s: cannot open", src);
	struct stat st;
	if (fstat(fileno(in), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(in);
		return dl_fail(err, DL_EIO, "%s: not a regular file", src);
	}
	unsigned char *buf = malloc(CHUNK);
	int rc = buf ? 0 : dl_fail(err, DL_EFAIL, "out of memory");
	long long total = 0;
	size_t n;
	while (!rc && (n = fread(buf, 1, CHUNK, in)) > 0) {
		total += (long long)n;
		if (total > cap)
			rc = dl_fail(err, DL_ECHECKSUM, "%s: checksum mismatch: larger than any valid copy (%lld bytes)",
				     src, cap);
		else if (fwrite(buf, 1, n, out) != n)
			rc = dl_fail_errno(err, DL_EIO, "%s: write failed", tmp);
	}
	if (!rc && ferror(in))
		rc = dl_fail_errno(err, DL_EIO, "%s: read failed", src);
	free(buf);
	fclose(in);
	return rc;
}

/* One attempt: source -> temp file in DIR -> verified.  On success *a holds
 * the open temp file, else it is aborted.  *shown (caller frees) gets the
 * source's path or URL. */
static int try_source(const fetch_req *rq, const fetch_file *ff, const source *s,
		      const char *dst, dl_afile *a, char **shown, dl_err *err)
{
	*shown = NULL;
	if (s->kind == SRC_URL && s->is_mirror && ff->url)
		*shown = strdup(ff->url);
	else
		*shown = join(s->where, ff->name);
	if (!*shown)
		return dl_fail(err, DL_EFAIL, "out of memory");
	if (s->kind == SRC_DIR) {
		struct stat st;
		if (stat(*shown, &st) != 0 && errno == ENOENT) {
			if (rq->from)
				return dl_fail(err, DL_EIO, "%s: no such file (--from needs all %zu files of %s)",
					       *shown, rq->ds->nfiles, rq->ds->name);
			return dl_fail(err, DL_EIO, "%s: no such file in the local copy%s", *shown,
				       rq->offline ? ", and --offline forbids downloading" : "");
		}
	}
	int rc = dl_afile_open(a, dst, err);
	if (rc)
		return rc;
	if (s->kind == SRC_DIR) {
		rc = copy_file(*shown, a->f, fetch_max_bytes(ff), a->tmp, err);
	} else {
		dl_http_opts o;
		dl_http_opts_default(&o);
		o.max_bytes = fetch_max_bytes(ff);
		rc = dl_http_get(*shown, a->f, &o, NULL, err);
		if (rc == DL_EDATA)  /* oversized: not a valid copy */
			rc = dl_fail(err, DL_ECHECKSUM, "%s: checksum mismatch: larger than any valid copy (%lld bytes)",
				     *shown, o.max_bytes);
	}
	if (!rc && (fflush(a->f) != 0 || ferror(a->f)))
		rc = dl_fail_errno(err, DL_EIO, "%s: write failed", a->tmp);
	if (!rc)
		rc = fetch_verify(ff, a->tmp, *shown, NULL, err);
	if (rc)
		dl_afile_abort(a);
	return rc;
}

static void note_origin(fetch_report *rep, const source *s)
{
	char *dst = s->kind == SRC_DIR ? rep->copied_from : rep->downloaded_from;
	snprintf(dst, sizeof rep->copied_from, "%s", s->where);
	if (s->kind == SRC_DIR)
		rep->copied++;
	else
		rep->downloaded++;
}

/* Gets one file into a held temp file, trying the sources in order. */
static int fetch_file_from(const fetch_req *rq, const fetch_file *ff, const source *srcs,
			   size_t nsrc, const char *dst, dl_afile *a, fetch_report *rep, dl_err *err)
{
	int rc = 0;
	for (size_t i = 0; i < nsrc; i++) {
		char *shown = NULL;
		rc = try_source(rq, ff, &srcs[i], dst, a, &shown, err);
		free(shown);
		if (!rc) {
			say(rq, "%s: %s, verified", ff->name, srcs[i].kind == SRC_DIR ? "copied" : "downloaded");
			note_origin(rep, &srcs[i]);
			return 0;
		}
		if (rc == DL_EFAIL)
			return rc;  /* out of memory and such: no point going on */
		if (i + 1 < nsrc)
			say(rq, "%s (trying the next source)", err->msg, "");
	}
	return rc;
}

/* Is the file at path (DIR/name) present and verified?  Sets *need when
 * it must be fetched (absent, or failing verification). */
static int check_present(const fetch_req *rq, const fetch_file *ff, const char *path,
			 fetch_report *rep, int *need, dl_err *err)
{
	struct stat st;
	*need = 1;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? 0 : dl_fail_errno(err, DL_EIO, "%s: cannot stat", path);
	if (!S_ISREG(st.st_mode))
		return dl_fail(err, DL_EIO, "%s: exists and is not a regular file", path);
	dl_err verr = { 0, "" };
	int by_md5 = 0;
	int rc = fetch_verify(ff, path, path, &by_md5, &verr);
	if (!rc) {
		*need = 0;
		rep->kept++;
		say(rq, "%s: present, verified by %s", ff->name, by_md5 ? "upstream md5" : "content sha256");
		return 0;
	}
	if (rc != DL_ECHECKSUM) {
		*err = verr;
		return rc;
	}
	say(rq, "%s; replacing it", verr.msg, "");
	rep->replaced++;
	return 0;
}

/* The sources to try, in order, into srcs[] (room for nurl + 2). */
static size_t plan_sources(const fetch_req *rq, size_t nurl, source *srcs)
{
	size_t n = 0;
	if (rq->from) {
		srcs[n++] = (source){ SRC_DIR, rq->from, 0 };
		return n;
	}
	int net = !rq->offline && (rq->base_url || nurl);
	if (is_dir(rq->local_dir))
		srcs[n++] = (source){ SRC_DIR, rq->local_dir, 0 };
	else if (rq->local_dir && *rq->local_dir)
		say(rq, "no local copy at %s%s", rq->local_dir, "");
	if (net && rq->base_url)
		srcs[n++] = (source){ SRC_URL, rq->base_url, 0 };
	else if (net)
		for (size_t u = 0; u < nurl; u++)
			srcs[n++] = (source){ SRC_URL, rq->ds->base_urls[u], 1 };
	return n;
}

static int no_source(const fetch_req *rq, dl_err *err)
{
	const fetch_dataset *ds = rq->ds;
	char pkg[160] = "";
	if (ds->local_pkg)
		snprintf(pkg, sizeof pkg, "install %s or ", ds->local_pkg);
	return dl_fail(err, DL_EIO, "%s: no local copy%s%s (%suse --from DIR), and %s",
		       ds->name, rq->local_dir && *rq->local_dir ? " at " : "",
		       rq->local_dir ? rq->local_dir : "", pkg,
		       rq->offline ? "--offline forbids downloading" : "no download URL is known");
}

int fetch_run(const fetch_req *rq, fetch_report *rep, dl_err *err)
{
	const fetch_dataset *ds = rq->ds;
	memset(rep, 0, sizeof *rep);
	size_t nf = ds->nfiles, nurl = 0, nneed = 0, nsrc = 0;
	while (ds->base_urls && ds->base_urls[nurl])
		nurl++;
	char **dst = calloc(nf, sizeof *dst);
	dl_afile *held = calloc(nf, sizeof *held);
	int *need = calloc(nf, sizeof *need);
	source *srcs = calloc(nurl + 2, sizeof *srcs);
	int rc = 0;
	if (!dst || !held || !need || !srcs)
		rc = dl_fail(err, DL_EFAIL, "out of memory");

	/* 1. what is already there */
	for (size_t i = 0; !rc && i < nf; i++) {
		if (!(dst[i] = join(rq->dir, ds->files[i].name)))
			rc = dl_fail(err, DL_EFAIL, "out of memory");
		else
			rc = check_present(rq, &ds->files[i], dst[i], rep, &need[i], err);
		nneed += !rc && need[i];
	}
	if (rc || !nneed)
		goto out;

	/* 2. where to get the rest; nothing is created when there is no source */
	if (!(nsrc = plan_sources(rq, nurl, srcs)))
		rc = no_source(rq, err);
	if (!rc)
		rc = dl_mkdir_p(rq->dir, err);

	/* 3. fetch each missing file into a held temp file */
	for (size_t i = 0; !rc && i < nf; i++)
		if (need[i])
			rc = fetch_file_from(rq, &ds->files[i], srcs, nsrc, dst[i], &held[i], rep, err);

	/* 4. all in hand: rename into place */
	for (size_t i = 0; !rc && i < nf; i++)
		if (need[i])
			rc = dl_afile_commit(&held[i], err);
out:
	for (size_t i = 0; i < nf; i++) {
		if (held)
			dl_afile_abort(&held[i]);  /* no-op when committed or never opened */
		if (dst)
			free(dst[i]);
	}
	free(dst);
	free(held);
	free(need);
	free(srcs);
	return rc;
}
