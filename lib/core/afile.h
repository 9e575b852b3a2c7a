/* Atomic output files: write to a temp file in the same directory, then
 * fflush + fsync + rename over the final name (and fsync the directory).
 * A reader never sees a partial file; a failure leaves no file behind.
 * The path "-" means stdout (written directly, not atomic); so is an
 * existing device or FIFO (tmp NULL): renaming over /dev/null would
 * replace the device. */
#ifndef DL_CORE_AFILE_H
#define DL_CORE_AFILE_H

#include <stdio.h>
#include "core/error.h"

typedef struct dl_afile {
	FILE *f;          /* write through this */
	char *path;       /* final name (owned) */
	char *tmp;        /* temp name (owned), NULL for stdout */
} dl_afile;

int dl_afile_open(dl_afile *a, const char *path, dl_err *err);
/* Flushes, syncs, closes and renames.  On failure the temp file is removed.
 * Either way the dl_afile is released. */
int dl_afile_commit(dl_afile *a, dl_err *err);
/* Flushes, syncs and closes the temp file without renaming it: the data is
 * complete and durable, the final name untouched.  On failure the temp is
 * removed and the dl_afile released.  dl_afile_commit (or _commit_pair)
 * then only renames. */
int dl_afile_finish(dl_afile *a, dl_err *err);
/* Both or neither: finishes a and b, then renames both into place.  If the
 * second rename fails, the first target gets its old file back (kept as a
 * hard link until then), so a failure never leaves a new a next to an old b
 * nor loses the old pair.  Both are released either way. */
int dl_afile_commit_pair(dl_afile *a, dl_afile *b, dl_err *err);
/* Closes and removes the temp file; safe on a zeroed or released dl_afile. */
void dl_afile_abort(dl_afile *a);

/* Creates a directory and its parents (mode 0777 & ~umask); ok if present. */
int dl_mkdir_p(const char *path, dl_err *err);

#endif
