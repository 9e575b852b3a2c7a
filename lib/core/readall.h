/* Reading a whole stream (stdin, a pipe, a file that cannot be mmapped). */
#ifndef DL_CORE_READALL_H
#define DL_CORE_READALL_H

#include <stddef.h>
#include "core/error.h"

/* Reads fd to its end into a malloc'd buffer (*out, owned by the caller).
 * More than `cap` bytes is DL_EDATA "<path>: larger than CAP bytes"
 * (cap SIZE_MAX: no limit); read errors DL_EIO; no memory DL_EFAIL. */
int dl_read_all(int fd, const char *path, size_t cap, unsigned char **out, size_t *outlen,
		dl_err *err);

/* Opens path and reads it whole with dl_read_all, plus a terminating NUL
 * (*out holds *outlen + 1 bytes; text parsers use it as a string).  Cannot
 * open: DL_EIO "<path>: cannot open: ...". */
int dl_read_file(const char *path, size_t cap, unsigned char **out, size_t *outlen,
		 dl_err *err);
/* Opens a file named in data (a list, a CSV, an image path) for reading:
 * O_NONBLOCK for the open, so a FIFO cannot hang it, then anything but a
 * regular file (FIFO, device, socket, directory) is DL_EDATA "<path>:
 * not a regular file (...)".  Returns the blocking fd, or -1 with err
 * set (DL_EIO when it cannot be opened); messages say `name` (NULL:
 * path). */
int dl_open_regular(const char *path, const char *name, dl_err *err);

#endif
