/* Putting a dataset's files into a directory, verified.
 *
 * For each file of the dataset: a verified copy already in DIR is kept
 * (checked by hash on every run); otherwise the sources are tried in order
 * - the --from directory alone if given, else the packaged local copy,
 * then the base URL(s) unless offline - each into DIR/name.tmp.XXXXXX,
 * verified, and held.  Only when every file is in hand are the temp files
 * renamed into place, so a failed run adds no file to DIR and leaves no
 * temp file.  A file in DIR that fails verification is replaced. */
#ifndef DL_FETCH_FETCH_H
#define DL_FETCH_FETCH_H

#include <stdio.h>
#include "core/error.h"
#include "registry.h"

typedef struct fetch_req {
	const fetch_dataset *ds;
	const char *dir;        /* destination, created if needed */
	const char *from;       /* the only source when set */
	const char *local_dir;  /* packaged copy tried first; NULL or "": none */
	const char *base_url;   /* replaces the registry's mirrors; NULL: those */
	int offline;            /* never use the network */
	FILE *log;              /* a line per file and per failed source; NULL: none */
	const char *prog;       /* prefix of log lines */
} fetch_req;

typedef struct fetch_report {
	size_t kept;                  /* already in DIR and verified */
	size_t replaced;              /* in DIR but bad, fetched again */
	size_t copied;                /* from a directory */
	size_t downloaded;            /* from a URL */
	char copied_from[1024];       /* the (last) directory copied from */
	char downloaded_from[1024];   /* the (last) base URL downloaded from */
} fetch_report;

/* Needs dl_http_global_init done unless rq->offline or rq->from. */
int fetch_run(const fetch_req *rq, fetch_report *rep, dl_err *err);

#endif
