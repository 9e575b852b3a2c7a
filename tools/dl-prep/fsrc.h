/* A dataset's files, read from a directory or straight from an archive.
 *
 * dl-prep's sources never open files themselves: they name paths relative
 * to the dataset root and read them through a dl_fsrc, which is either a
 * directory on disk or an archive (tar, tar.gz/.bz2/.xz, zip; a file or
 * "-" for stdin) indexed in memory by libarchive with built-in
 * decompressors only — nothing is unpacked to disk.  An archive whose
 * entries all lie under one top folder is read as that folder (the
 * official tarballs have one: cifar-10-batches-bin/, tiny-imagenet-200/).
 *
 * Paths are relative, '/'-separated; an absolute path or a ".." component
 * is refused (a list file cannot reach outside the root), and in a
 * directory a path whose real location (symlinks resolved) leaves the root
 * is refused too.  After dl_fsrc_open the object is read-only and may be
 * shared by threads. */
#ifndef DL_PREP_FSRC_H
#define DL_PREP_FSRC_H

#include <stddef.h>
#include <stdint.h>
#include "core/error.h"

typedef struct dl_fsrc_entry {
	char *path;          /* normalised, relative */
	uint8_t *data;
	size_t len;
} dl_fsrc_entry;

typedef struct dl_fsrc {
	char *root;          /* as given */
	char *real;          /* directory: realpath of root; NULL for an archive */
	dl_fsrc_entry *e;    /* archive: entries sorted by path */
	size_t n, cap;
	size_t bytes;
} dl_fsrc;

typedef struct dl_fsrc_limits {
	size_t max_entries;  /* 0: 1,000,000 */
	size_t max_bytes;    /* 0: 8 GiB */
	double max_ratio;    /* decoded / compressed bytes; 0: DL_FSRC_RATIO */
} dl_fsrc_limits;

/* Default cap on how many times larger an archive's files may be than the
 * archive (JPEG/PNG datasets: about 1; gzipped IDX/CIFAR: under 6). */
#define DL_FSRC_RATIO 50.0

int dl_fsrc_open(dl_fsrc *fs, const char *root, const dl_fsrc_limits *lim, dl_err *err);
void dl_fsrc_close(dl_fsrc *fs);

/* Normalises a relative path into out (drops "./" and repeated '/');
 * returns 0, or -1 with *why set for an absolute path, "..", or too long. */
int dl_fsrc_norm(const char *path, char *out, size_t cap, const char **why);

/* Reads the file at rel (normalised by the caller or not) into *data
 * (malloc'd, owned by the caller).  Missing file: DL_EDATA (archive) or
 * DL_EIO (directory), message "<root>/<rel>: ...". */
int dl_fsrc_read(const dl_fsrc *fs, const char *rel, uint8_t **data, size_t *len, dl_err *err);
/* 1 if rel names a file. */
int dl_fsrc_exists(const dl_fsrc *fs, const char *rel);

/* The names directly inside folder dir ("" = the root), sorted (strcmp),
 * hidden names (".x") left out.  want_dirs: 1 folders, 0 files.
 * *names is a malloc'd array of malloc'd strings; free with dl_fsrc_free_names. */
int dl_fsrc_list(const dl_fsrc *fs, const char *dir, int want_dirs, char ***names, size_t *n,
		 dl_err *err);
void dl_fsrc_free_names(char **names, size_t n);

#endif
