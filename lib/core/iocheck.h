/* Outputs never destroy inputs: one check for every tool.
 *
 * A tool lists every file it reads and every file it writes (each with the
 * option or role that named it, for the message) and calls dl_io_check()
 * before it opens anything for writing.  Two names are the same file when
 * both exist and have the same device and inode (hard links, symlinks,
 * "./x" vs "x"), or when their paths are equal after resolving the
 * folder part with realpath (an output that does not exist yet).  "-"
 * (stdin/stdout) and NULL entries are skipped; so is an existing output
 * that is not a regular file or folder (/dev/null, /dev/full, a FIFO): it
 * cannot be clobbered by a rename.  Checked: each output against each
 * input, and the outputs against each other. */
#ifndef DL_CORE_IOCHECK_H
#define DL_CORE_IOCHECK_H

#include "core/error.h"

typedef struct dl_iofile {
	const char *what;   /* "--train", "-o", "CHECKPOINT", ... */
	const char *path;   /* NULL: not given */
} dl_iofile;

/* 0, or DL_EUSAGE with "WHAT PATH is the same file as WHAT PATH: ...". */
int dl_io_check(const dl_iofile *in, int nin, const dl_iofile *out, int nout, dl_err *err);

/* Are a and b the same file (rules above)? */
int dl_same_file(const char *a, const char *b);

#endif
