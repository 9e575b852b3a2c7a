/* Temporary names of outputs in progress, and sweeping stale ones.
 *
 * Every temp file or folder a tool writes next to its output is named
 *     OUTPUT.tmp.PID.XXXXXX      (XXXXXX: mkstemp/mkdtemp letters)
 * so that (a) a signal-time cleanup (core/guard.h) removes exactly this
 * process's temps of a given output, and (b) the next run of any tool
 * removes temps left by a process that no longer exists (kill -9, power
 * loss): the PID in the name is dead, or is our own (a recycled PID, e.g.
 * after a container restart: we have created nothing yet), or belongs to
 * a process that started after the temp was last written. */
#ifndef DL_CORE_TMPNAME_H
#define DL_CORE_TMPNAME_H

#include <stddef.h>
#include <sys/types.h>
#include "core/error.h"

/* Writes "PATH.tmp.PID.XXXXXX" (a template for mkstemp/mkdtemp) to a new
 * string; NULL when out of memory. */
char *dl_tmp_template(const char *path);

/* If name (a directory entry, no '/') is a temp name "STEM.tmp.PID.XXXXXX",
 * returns 1 and sets *pid and *stem_len; else 0. */
int dl_tmp_parse(const char *name, pid_t *pid, size_t *stem_len);

/* Removes the temps in dir of stem (a file name; NULL: any stem) whose owner
 * is gone (see above; only_pid > 0: exactly the temps of that PID, live or
 * not).  Folders are removed with their contents, never following links.
 * A missing dir is not an error.  Returns how many were removed, or -1 with
 * err set when dir cannot be read. */
int dl_tmp_sweep(const char *dir, const char *stem, pid_t only_pid, dl_err *err);

/* Removes path and, for a folder, everything below it (no links followed). */
int dl_tmp_remove(const char *path);

#endif
