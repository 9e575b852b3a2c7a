/* The dl-fetch registry: datasets, their files, where to get them and the
 * checksums that prove a copy is the right one.  The table is constant
 * data compiled into the tool; add a dataset by adding one entry to
 * registry.c. */
#ifndef DL_FETCH_REGISTRY_H
#define DL_FETCH_REGISTRY_H

#include <stddef.h>
#include "io/unpack.h"

typedef struct fetch_file {
	const char *name;        /* name in DIR, in a source dir, and after a base URL */
	const char *url;         /* full URL when not base URL + name; NULL otherwise */
	int gz;                  /* 1: sha256 and content_bytes are of the gunzipped data */
	long long bytes;         /* size of the file as published upstream; -1 unknown */
	long long content_bytes; /* size of the (gunzipped) content; -1 unknown */
	const char *md5;         /* upstream md5 of the file as published; NULL unknown */
	const char *sha256;      /* sha256 of the (gunzipped) content; NULL unknown.
	                            At least one of md5 and sha256 is set. */
	dl_unpack_kind unpack;   /* unpacked into DIR/<stem> after verification */
} fetch_file;

typedef struct fetch_dataset {
	const char *name;               /* "fashion-mnist" */
	const char *summary;            /* one line for --help */
	const char *const *base_urls;   /* mirrors, tried in order; NULL-terminated */
	const char *local_dir;          /* a distribution's packaged copy, or NULL */
	const char *local_pkg;          /* the package that installs it, or NULL */
	const fetch_file *files;
	size_t nfiles;
} fetch_dataset;

/* The whole table. */
const fetch_dataset *fetch_registry(size_t *n);
/* A dataset by name, or NULL. */
const fetch_dataset *fetch_find(const char *name);

#endif
