#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/afile.h"
#include "verify.h"

enum { CHUNK = 1 << 16 };

typedef enum { SRC_DIR, SRC_URL } src_kind;

typedef struct source {
	src_kind kind;
	const char *where;   /* directory or base URL */
	int is_registry;     /* a registry URL (a file's own url applies) */
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

/* Makes a rename in path's folder durable. */
static void sync_dir_of(const char *path)
{
	char *d = strdup(path);
	if (!d)
		return;
	int fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(d);
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

/* From a directory: temp file, verify, rename. */
static int from_dir(const fetch_req *rq, const fetch_file *ff, const char *src, const char *dst,
		    dl_err *err)
{
	struct stat st;
	if (stat(src, &st) != 0 && errno == ENOENT) {
		if (rq->from)
			return dl_fail(err, DL_EIO, "%s: no such file (--from needs all %zu files of %s)",
				       src, rq->ds->nfiles, rq->ds->name);
		return dl_fail(err, DL_EIO, "%s: no such file in the local copy%s", src,
			       rq->offline ? ", and --offline forbids downloading" : "");
	}
	dl_afile a;
	int rc = dl_afile_open(&a, dst, err);
	if (rc)
		return rc;
	rc = copy_file(src, a.f, fetch_max_bytes(ff, rq->unknown_cap), a.tmp, err);
	if (!rc && (fflush(a.f) != 0 || ferror(a.f)))
		rc = dl_fail_errno(err, DL_EIO, "%s: write failed", a.tmp);
	if (!rc)
		rc = fetch_verify(ff, a.tmp, src, NULL, err);
	if (rc) {
		dl_afile_abort(&a);
		return rc;
	}
	return dl_afile_commit(&a, err);
}

/* From a URL: DIR/name.part (resumable), verify, rename. */
static int from_url(const fetch_req *rq, const fetch_file *ff, const char *url, const char *dst,
		    fetch_file_report *fr, dl_err *err)
{
	char *part = NULL, *side = NULL;
	if (asprintf(&part, "%s.part", dst) < 0)
		return dl_fail(err, DL_EFAIL, "out of memory");
	dl_http_opts o = rq->http;
	o.max_bytes = fetch_max_bytes(ff, rq->unknown_cap);
	o.allow_file = !rq->from && dl_http_url_is_file(url);
	if (rq->bar) {
		progress_begin(rq->bar, stderr, ff->name);
		o.progress = progress_update;
		o.progress_user = rq->bar;
	}
	dl_http_result r;
	int rc = dl_http_fetch(url, part, &o, &r, err);
	if (rq->bar)
		progress_end(rq->bar);
	fr->attempts += r.attempts;
	fr->resumed += r.resumed;
	fr->restarted += r.restarted;
	if (rc == DL_EDATA)  /* oversized: not a valid copy */
		rc = dl_fail(err, DL_ECHECKSUM, "%s: checksum mismatch: larger than any valid copy (%lld bytes)",
			     url, o.max_bytes);
	if (!rc)
		rc = fetch_verify(ff, part, url, NULL, err);
	if (rc == DL_ECHECKSUM) {  /* no resuming a wrong file */
		unlink(part);
		if (asprintf(&side, "%s.validator", part) >= 0)
			unlink(side);
	}
	if (!rc && rename(part, dst) != 0)
		rc = dl_fail_errno(err, DL_EIO, "%s: cannot rename into place", dst);
	if (!rc)
		sync_dir_of(dst);
	free(part);
	free(side);
	return rc;
}

/* The URL or path of ff at source s (caller frees). */
static char *where_of(const fetch_req *rq, const fetch_file *ff, const source *s)
{
	(void)rq;
	if (s->kind == SRC_URL && s->is_registry && ff->url)
		return strdup(ff->url);
	return join(s->where, ff->name);
}

/* Gets one file into DIR, trying the sources in order. */
static int fetch_one(const fetch_req *rq, const fetch_file *ff, const source *srcs, size_t nsrc,
		     fetch_file_report *fr, fetch_report *rep, dl_err *err)
{
	int rc = DL_EIO;
	for (size_t i = 0; i < nsrc; i++) {
		if (srcs[i].kind == SRC_URL && srcs[i].is_registry && !ff->url && !srcs[i].where)
			continue;
		char *shown = where_of(rq, ff, &srcs[i]);
		if (!shown)
			return dl_fail(err, DL_EFAIL, "out of memory");
		rc = srcs[i].kind == SRC_DIR ? from_dir(rq, ff, shown, fr->path, err)
					     : from_url(rq, ff, shown, fr->path, fr, err);
		if (!rc) {
			int dir = srcs[i].kind == SRC_DIR;
			say(rq, "%s: %s, verified", ff->name, dir ? "copied" : "downloaded");
			fr->how = dir ? HOW_COPIED : HOW_DOWNLOADED;
			fr->from = shown;
			snprintf(dir ? rep->copied_from : rep->downloaded_from, sizeof rep->copied_from,
				 "%s", srcs[i].where ? srcs[i].where : shown);
			*(dir ? &rep->copied : &rep->downloaded) += 1;
			struct stat st;
			fr->bytes = stat(fr->path, &st) == 0 ? (long long)st.st_size : -1;
			return 0;
		}
		free(shown);
		if (rc == DL_EFAIL)
			return rc;  /* out of memory and such: no point going on */
		if (i + 1 < nsrc)
			say(rq, "%s (trying the next source)", err->msg, "");
	}
	return rc;
}

/* Which files must be fetched (absent or failing verification) and which
 * unpacked; counts in rep.  *nwork gets the number of things to do. */
static int survey(const fetch_req *rq, fetch_report *rep, size_t *nwork, dl_err *err)
{
	*nwork = 0;
	rep->kept = rep->replaced = 0;
	for (size_t i = 0; i < rep->nfiles; i++) {
		fetch_file_report *fr = &rep->files[i];
		const fetch_file *ff = &rq->ds->files[i];
		fr->how = HOW_NONE;
		if (!fr->selected)
			continue;
		struct stat st;
		if (stat(fr->path, &st) != 0) {
			if (errno != ENOENT)
				return dl_fail_errno(err, DL_EIO, "%s: cannot stat", fr->path);
		} else if (!S_ISREG(st.st_mode)) {
			return dl_fail(err, DL_EIO, "%s: exists and is not a regular file", fr->path);
		} else {
			dl_err verr = { 0, "" };
			int by_md5 = 0;
			int rc = fetch_verify(ff, fr->path, fr->path, &by_md5, &verr);
			if (rc && rc != DL_ECHECKSUM) {
				*err = verr;
				return rc;
			}
			if (!rc) {
				fr->how = HOW_KEPT;
				fr->bytes = (long long)st.st_size;
				rep->kept++;
				say(rq, "%s: present, verified by %s", ff->name,
				    by_md5 ? "upstream md5" : "sha256");
			} else {
				say(rq, "%s; replacing it", verr.msg, "");
				rep->replaced++;
			}
		}
		*nwork += fr->how != HOW_KEPT;
		if (fr->unpack_path && !fr->unpacked_now) {
			struct stat ust;
			*nwork += lstat(fr->unpack_path, &ust) != 0;
		}
	}
	return 0;
}

/* The sources to try, in order, into srcs[] (room for nurl + 5). */
static size_t plan_sources(const fetch_req *rq, const char *mirror_base, size_t nurl, source *srcs)
{
	size_t n = 0;
	if (rq->from) {
		srcs[n++] = (source){ SRC_DIR, rq->from, 0 };
		return n;
	}
	if (is_dir(rq->local_dir))
		srcs[n++] = (source){ SRC_DIR, rq->local_dir, 0 };
	else if (rq->local_dir && *rq->local_dir)
		say(rq, "no local copy at %s%s", rq->local_dir, "");
	if (is_dir(rq->cache_dir))
		srcs[n++] = (source){ SRC_DIR, rq->cache_dir, 0 };
	if (rq->offline)
		return n;
	if (mirror_base)
		srcs[n++] = (source){ SRC_URL, mirror_base, 0 };
	if (rq->base_url) {
		srcs[n++] = (source){ SRC_URL, rq->base_url, 0 };
		return n;
	}
	for (size_t u = 0; u < nurl; u++)
		srcs[n++] = (source){ SRC_URL, rq->ds->base_urls[u], 1 };
	int own_url = 0;
	for (size_t i = 0; i < rq->ds->nfiles; i++)
		own_url |= rq->ds->files[i].url != NULL;
	if (!nurl && own_url)  /* files with their own URL and no base */
		srcs[n++] = (source){ SRC_URL, NULL, 1 };
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

/* Waits for the lock on DIR; returns the fd holding it, or -1 (err set). */
static int lock_dir(const fetch_req *rq, fetch_report *rep, dl_err *err)
{
	int fd = open(rq->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		dl_fail_errno(err, DL_EIO, "%s: cannot open", rq->dir);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	if (errno == EWOULDBLOCK) {
		rep->waited = 1;
		say(rq, "waiting for another dl-fetch working in %s%s", rq->dir, "");
		int r;
		while ((r = flock(fd, LOCK_EX)) != 0 && errno == EINTR) {
		}
		if (r == 0)
			return fd;
	}
	int e = errno;
	close(fd);
	errno = e;
	dl_fail_errno(err, DL_EIO, "%s: cannot lock", rq->dir);
	return -1;
}

static int unpack_one(const fetch_req *rq, const fetch_file *ff, fetch_file_report *fr,
		      fetch_report *rep, dl_err *err)
{
	struct stat st;
	if (lstat(fr->unpack_path, &st) == 0)
		return 0;
	dl_unpack_stats us;
	int rc = dl_unpack(fr->path, fr->path, ff->unpack, fr->unpack_path, &rq->unpack_opts, &us, err);
	if (rc)
		return rc;
	sync_dir_of(fr->unpack_path);
	fr->unpacked_now = 1;
	fr->entries = us.entries;
	fr->unpacked_bytes = us.bytes;
	rep->unpacked++;
	say(rq, "%s: unpacked into %s", ff->name, fr->unpack_path);
	return 0;
}

static int init_report(const fetch_req *rq, fetch_report *rep, dl_err *err)
{
	const fetch_dataset *ds = rq->ds;
	memset(rep, 0, sizeof *rep);
	rep->files = calloc(ds->nfiles, sizeof *rep->files);
	if (!rep->files)
		return dl_fail(err, DL_EFAIL, "out of memory");
	rep->nfiles = ds->nfiles;
	for (size_t i = 0; i < ds->nfiles; i++) {
		fetch_file_report *fr = &rep->files[i];
		const fetch_file *ff = &ds->files[i];
		fr->selected = !rq->only || !strcmp(rq->only, ff->name);
		fr->bytes = -1;
		if (!(fr->path = join(rq->dir, ff->name)))
			return dl_fail(err, DL_EFAIL, "out of memory");
		if (rq->unpack && ff->unpack && fr->selected) {
			char *stem = dl_unpack_stem(ff->name);
			fr->unpack_path = stem ? join(rq->dir, stem) : NULL;
			free(stem);
			if (!fr->unpack_path)
				return dl_fail(err, DL_EFAIL, "out of memory");
		}
	}
	return 0;
}

int fetch_run(const fetch_req *rq, fetch_report *rep, dl_err *err)
{
	const fetch_dataset *ds = rq->ds;
	size_t nurl = 0, nwork = 0, nsrc = 0;
	while (ds->base_urls && ds->base_urls[nurl])
		nurl++;
	source *srcs = calloc(nurl + 5, sizeof *srcs);
	char *mirror_base = NULL;
	int lock = -1;
	int rc = init_report(rq, rep, err);
	if (!rc && !srcs)
		rc = dl_fail(err, DL_EFAIL, "out of memory");
	if (!rc && rq->mirror && !(mirror_base = join(rq->mirror, ds->name)))
		rc = dl_fail(err, DL_EFAIL, "out of memory");

	/* 1. what is already there (no lock, nothing written) */
	if (!rc)
		rc = survey(rq, rep, &nwork, err);
	if (rc || !nwork)
		goto out;

	/* 2. where to get the rest; nothing is created when there is no source */
	if (!(nsrc = plan_sources(rq, mirror_base, nurl, srcs)))
		for (size_t i = 0; !rc && i < rep->nfiles; i++)
			if (rep->files[i].selected && rep->files[i].how != HOW_KEPT)
				rc = no_source(rq, err);
	if (!rc)
		rc = dl_mkdir_p(rq->dir, err);

	/* 3. take DIR, and look again: another dl-fetch may have done the work */
	if (!rc && (lock = lock_dir(rq, rep, err)) < 0)
		rc = err->code;
	if (!rc && rep->waited)
		rc = survey(rq, rep, &nwork, err);

	/* 4. each missing file, verified and renamed into place */
	for (size_t i = 0; !rc && i < rep->nfiles; i++)
		if (rep->files[i].selected && rep->files[i].how == HOW_NONE)
			rc = fetch_one(rq, &ds->files[i], srcs, nsrc, &rep->files[i], rep, err);

	/* 5. archives */
	for (size_t i = 0; !rc && i < rep->nfiles; i++)
		if (rep->files[i].unpack_path)
			rc = unpack_one(rq, &ds->files[i], &rep->files[i], rep, err);
out:
	if (lock >= 0)
		close(lock);  /* releases the flock */
	free(srcs);
	free(mirror_base);
	return rc;
}

void fetch_report_release(fetch_report *rep)
{
	for (size_t i = 0; rep->files && i < rep->nfiles; i++) {
		free(rep->files[i].path);
		free(rep->files[i].from);
		free(rep->files[i].unpack_path);
	}
	free(rep->files);
	rep->files = NULL;
	rep->nfiles = 0;
}
