/* Unpacking an untrusted archive into a new directory, safely (libarchive).
 *
 * Kinds: tar (plain or gzip-compressed), zip, and a single gzip-compressed
 * file.  Only libarchive's built-in gzip decoder is enabled: no external
 * filter program ever runs.
 *
 * The archive is unpacked into DEST.tmp.XXXXXX beside DEST and renamed to
 * DEST when complete, so DEST appears whole or not at all; on any refusal
 * or error the temporary tree is removed.  DEST must not exist.
 *
 * Refused (DL_EDATA, naming the archive and the entry): absolute paths,
 * any ".." component, a path through a symlink (paths are walked without
 * following links), a symlink whose target is absolute or climbs out of
 * DEST ("../" only at its start, no deeper than the link), a hardlink to
 * anything but a regular file already unpacked, device nodes, FIFOs and
 * sockets, setuid/setgid files, encrypted zip entries, a duplicate path,
 * more than max_entries entries or more than max_bytes of file content
 * (checked against an entry's declared size and while writing).
 * Directories get mode 0777 & ~umask, files their permission bits
 * (owner read/write added), never setuid/setgid.  Timestamps and owners are
 * not restored.
 */
#ifndef DL_IO_UNPACK_H
#define DL_IO_UNPACK_H

#include "core/error.h"

typedef enum dl_unpack_kind {
	DL_UNPACK_NONE = 0,   /* not an archive we unpack */
	DL_UNPACK_TAR,        /* .tar, .tar.gz, .tgz */
	DL_UNPACK_ZIP,        /* .zip */
	DL_UNPACK_GZ,         /* .gz (not .tar.gz): one file, gunzipped */
} dl_unpack_kind;

typedef struct dl_unpack_opts {
	long long max_bytes;     /* cap on the content written (> 0) */
	long long max_entries;   /* cap on the number of entries (> 0) */
} dl_unpack_opts;

/* 16 GiB, 1,000,000 entries */
void dl_unpack_opts_default(dl_unpack_opts *o);

typedef struct dl_unpack_stats {
	long long entries;       /* entries unpacked */
	long long bytes;         /* content bytes written */
} dl_unpack_stats;

/* The kind of a file by its name's ending; DL_UNPACK_NONE if none fits. */
dl_unpack_kind dl_unpack_kind_of(const char *name);
/* "tar", "zip", "gz", or "none". */
const char *dl_unpack_kind_name(dl_unpack_kind k);
/* Parses "tar", "tar.gz", "tgz", "zip", "gz"; DL_UNPACK_NONE otherwise. */
dl_unpack_kind dl_unpack_kind_parse(const char *s);
/* name without its archive ending ("a.tar.gz" -> "a"), malloc'd; the name
 * itself plus ".d" when nothing would be left. */
char *dl_unpack_stem(const char *name);

/* Unpacks archive (shown: its name in messages) of kind k into dest (a
 * directory; for DL_UNPACK_GZ a file).  st may be NULL. */
int dl_unpack(const char *archive, const char *shown, dl_unpack_kind k, const char *dest,
	      const dl_unpack_opts *o, dl_unpack_stats *st, dl_err *err);

/* Removes a tree without following symlinks (rm -rf); 0 or DL_EIO. */
int dl_remove_tree(const char *path, dl_err *err);

#endif
