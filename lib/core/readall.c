#include "core/readall.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int dl_open_regular(const char *path, const char *name, dl_err *err)
{
	if (!name)
		name = path;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		dl_fail_errno(err, DL_EIO, "%s: cannot open", name);
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st)) {
		dl_fail_errno(err, DL_EIO, "%s: cannot stat", name);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		dl_fail(err, DL_EDATA, "%s: not a regular file (%s)", name,
			S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISDIR(st.st_mode) ? "a directory"
			: S_ISSOCK(st.st_mode) ? "a socket" : "a device");
		close(fd);
		return -1;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		dl_fail_errno(err, DL_EIO, "%s: fcntl", name);
		close(fd);
		return -1;
	}
	return fd;
}

int dl_read_all(int fd, const char *path, size_t cap, unsigned char **out, size_t *outlen,
		dl_err *err)
{
	size_t len = 0, alloc = 0;
	unsigned char *p = NULL;
	for (;;) {
		if (len == alloc) {
			if (alloc > cap) {
				free(p);
				return dl_fail(err, DL_EDATA, "%s: larger than %zu bytes", path, cap);
			}
			size_t nc = alloc ? alloc * 2 : 1 << 16;
			unsigned char *q = nc > alloc ? realloc(p, nc) : NULL;
			if (!q) {
				free(p);
				return dl_fail(err, DL_EFAIL, "%s: out of memory", path);
			}
			p = q;
			alloc = nc;
		}
		ssize_t n = read(fd, p + len, alloc - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(p);
			return dl_fail_errno(err, DL_EIO, "%s: read failed", path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = p;
	*outlen = len;
	return 0;
}

int dl_read_file(const char *path, size_t cap, unsigned char **out, size_t *outlen,
		 dl_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dl_fail_errno(err, DL_EIO, "%s: cannot open", path);
	unsigned char *p = NULL;
	size_t n = 0;
	int rc = dl_read_all(fd, path, cap, &p, &n, err);
	close(fd);
	if (rc)
		return rc;
	unsigned char *q = realloc(p, n + 1);
	if (!q) {
		free(p);
		return dl_fail(err, DL_EFAIL, "%s: out of memory", path);
	}
	q[n] = '\0';
	*out = q;
	*outlen = n;
	return 0;
}
