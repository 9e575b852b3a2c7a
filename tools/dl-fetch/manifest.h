/* User manifests: the user's own datasets, fetched like the registry's.
 *
 *   # comments start with '#'; blank lines and indentation are ignored
 *   dataset my-images                      # starts a dataset (a name: a-z 0-9 . _ + -)
 *   summary Photos from the lab, 3 classes # optional, for --list
 *   url https://data.example.org/images/   # base URL; several lines = mirrors, in order
 *   file train.tar.gz size=123456 sha256=<64 hex> unpack=yes
 *   file labels.csv md5=<32 hex> url=https://other.example.org/labels.csv
 *
 * A file line has the file's name (no '/', not starting with '.' or '-')
 * and key=value words:
 *   size=N|unknown   published size in bytes (the download cap when a
 *                    checksum of the file decides); default unknown
 *   sha256=HEX       sha256 of the file
 *   md5=HEX          md5 of the file (at least one of sha256, md5)
 *   url=URL          the file's own URL instead of base URL + name
 *   unpack=no|yes|tar|tar.gz|zip|gz   unpack into DIR/<stem> after
 *                    verification; yes: by the name's ending; default no
 * URLs are http://, https:// or file://.  Errors are DL_EDATA naming
 * FILE:LINE.
 */
#ifndef DL_FETCH_MANIFEST_H
#define DL_FETCH_MANIFEST_H

#include "core/error.h"
#include "registry.h"

typedef struct fetch_manifest {
	fetch_dataset *ds;       /* the datasets, in file order */
	size_t n;
	char *text;              /* the file's bytes; the strings point here */
	void *owned;             /* the per-dataset arrays */
} fetch_manifest;

int fetch_manifest_load(const char *path, fetch_manifest *m, dl_err *err);
void fetch_manifest_release(fetch_manifest *m);
const fetch_dataset *fetch_manifest_find(const fetch_manifest *m, const char *name);

/* A dataset or file name that is safe as one path component. */
int fetch_name_ok(const char *name);

#endif
