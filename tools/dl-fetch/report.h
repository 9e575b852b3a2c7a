/* What dl-fetch prints: --list, the summary line, --json, -o - streaming. */
#ifndef DL_FETCH_REPORT_H
#define DL_FETCH_REPORT_H

#include <stdio.h>
#include "core/error.h"
#include "fetch.h"

/* --list: one TSV line per file: dataset, file, size in bytes or "size
 * unknown", md5, sha256 ("gunzipped:HEX" when it is of the gunzipped
 * content), unpack kind; "-" where none.  only: one dataset or NULL. */
int report_list(FILE *out, const fetch_dataset *ds, size_t n, const char *only, dl_err *err);

/* "dl-fetch: NAME: copied 4 files from X, verified" on stderr. */
void report_summary(const char *prog, const fetch_req *rq, const fetch_report *rep);

/* The --json object on out. */
int report_json(FILE *out, const fetch_req *rq, const fetch_report *rep, dl_err *err);

/* Copies the file at path to out (stdout for -o -). */
int report_stream(const char *path, FILE *out, dl_err *err);

#endif
