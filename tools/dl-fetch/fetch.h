/* Putting a dataset's files into a directory, verified, and unpacking them.
 *
 * For each file of the dataset: a verified copy already in DIR is kept
 * (checked by hash on every run); otherwise the sources are tried in order
 * - the --from directory alone if given; else the packaged local copy, the
 * cache's copy (when DIR is not the cache), then unless offline the mirror
 * (MIRROR/DATASET/FILE), --url BASE or the registry's URLs.  A copy goes
 * through DIR/name.tmp.XXXXXX, a download through DIR/name.part (resumable,
 * see io/http.h); either is verified and only then renamed to DIR/name, so
 * a file in DIR is always complete and verified.  A file that fails
 * verification is removed and the next source tried.
 *
 * Archives marked for unpacking are then unpacked into DIR/<stem> (see
 * io/unpack.h): the folder appears whole or not at all.
 *
 * Concurrency: when anything must be fetched, DIR is created and locked
 * (flock on the directory itself, so no lock file is left); a second
 * dl-fetch into the same DIR waits, then finds the files there and does
 * nothing.  When everything is present no lock is taken and nothing is
 * written.
 */
#ifndef DL_FETCH_FETCH_H
#define DL_FETCH_FETCH_H

#include <stdio.h>
#include "core/error.h"
#include "io/http.h"
#include "io/unpack.h"
#include "progress.h"
#include "registry.h"

typedef struct fetch_req {
	const fetch_dataset *ds;
	const char *dir;        /* destination, created if needed */
	const char *only;       /* just this file of the dataset; NULL: all */
	const char *from;       /* the only source when set */
	const char *local_dir;  /* packaged copy tried first; NULL or "": none */
	const char *cache_dir;  /* the cache's folder for this dataset, tried next; NULL: none */
	const char *mirror;     /* MIRROR/DATASET/FILE tried before the URLs; NULL: none */
	const char *base_url;   /* replaces the registry's URLs; NULL: those */
	int offline;            /* never use the network */
	int unpack;             /* unpack the files marked for it */
	long long unknown_cap;  /* download cap for a file of unknown size */
	dl_http_opts http;      /* timeouts, retries, log */
	dl_unpack_opts unpack_opts;
	progress *bar;          /* NULL: no progress bar */
	FILE *log;              /* a line per file and per failed source; NULL: none */
	const char *prog;       /* prefix of log lines */
} fetch_req;

enum { HOW_NONE, HOW_KEPT, HOW_COPIED, HOW_DOWNLOADED };

typedef struct fetch_file_report {
	int selected;           /* part of this run (see rq->only) */
	int how;                /* HOW_* */
	char *path;             /* DIR/name */
	char *from;             /* the source's path or URL (copied, downloaded) */
	long long bytes;        /* size of the file */
	int attempts, resumed, restarted;   /* downloads */
	char *unpack_path;      /* DIR/<stem> when the file is unpacked, else NULL */
	int unpacked_now;       /* 1: unpacked by this run; 0: it was there */
	long long entries, unpacked_bytes;  /* when unpacked now */
} fetch_file_report;

typedef struct fetch_report {
	size_t kept;                  /* already in DIR and verified */
	size_t replaced;              /* in DIR but bad, fetched again */
	size_t copied;                /* from a directory */
	size_t downloaded;            /* from a URL */
	size_t unpacked;              /* archives unpacked by this run */
	int waited;                   /* waited for another dl-fetch's lock */
	char copied_from[1024];       /* the (last) directory copied from */
	char downloaded_from[1024];   /* the (last) base URL downloaded from */
	fetch_file_report *files;     /* one per file of the dataset */
	size_t nfiles;
} fetch_report;

/* Needs dl_http_global_init done unless rq->offline or rq->from.  *rep
 * is filled even on failure; release it with fetch_report_release. */
int fetch_run(const fetch_req *rq, fetch_report *rep, dl_err *err);
void fetch_report_release(fetch_report *rep);

#endif
