#include "core/afile.h"
#include "core/tmpname.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int dl_afile_open(dl_afile *a, const char *path, dl_err *err)
{
	memset(a, 0, sizeof *a);
	if (!strcmp(path, "-")) {
		a->f = stdout;
		a->path = strdup("-");
		return a->path ? 0 : dl_fail(err, DL_EFAIL, "out of memory");
	}
	/* an existing device or FIFO (/dev/null, /dev/full, a pipe) is written
	 * in place: a rename would replace the device itself */
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		a->path = strdup(path);
		if (!a->path)
			return dl_fail(err, DL_EFAIL, "out of memory");
		if (!(a->f = fopen(path, "wb"))) {
			int rc = dl_fail_errno(err, DL_EIO, "%s: cannot open", path);
			dl_afile_abort(a);
			return rc;
		}
		return 0;
	}
	a->path = strdup(path);
	/* same directory as the target, so rename() is atomic; the name
	 * carries our pid (core/tmpname.h) */
	a->tmp = dl_tmp_template(path);
	if (!a->path || !a->tmp) {
		dl_afile_abort(a);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	int fd = mkstemp(a->tmp);
	if (fd < 0) {
		int rc = dl_fail_errno(err, DL_EIO, "%s: cannot create temporary file", path);
		free(a->tmp);
		a->tmp = NULL;
		dl_afile_abort(a);
		return rc;
	}
	/* mkstemp gives 0600; use the usual umask-governed mode */
	mode_t um = umask(0);
	umask(um);
	if (fchmod(fd, 0666 & ~um) != 0) { /* best effort */ }
	a->f = fdopen(fd, "wb");
	if (!a->f) {
		int rc = dl_fail_errno(err, DL_EIO, "%s: cannot open", path);
		close(fd);
		dl_afile_abort(a);
		return rc;
	}
	return 0;
}

static void release(dl_afile *a)
{
	free(a->path);
	free(a->tmp);
	a->path = a->tmp = NULL;
	a->f = NULL;
}

void dl_afile_abort(dl_afile *a)
{
	if (a->f && a->f != stdout)
		fclose(a->f);
	if (a->tmp)
		unlink(a->tmp);
	release(a);
}

int dl_afile_finish(dl_afile *a, dl_err *err)
{
	if (!a->f || a->f == stdout)
		return 0;
	int rc = 0;
	if (fflush(a->f) != 0 || ferror(a->f))
		rc = dl_fail_errno(err, DL_EIO, "%s: write failed", a->path);
	else if (a->tmp && fsync(fileno(a->f)) != 0)   /* a device (no tmp): nothing to sync */
		rc = dl_fail_errno(err, DL_EIO, "%s: fsync failed", a->path);
	if (fclose(a->f) != 0 && !rc)
		rc = dl_fail_errno(err, DL_EIO, "%s: close failed", a->path);
	a->f = NULL;
	if (rc)
		dl_afile_abort(a);
	return rc;
}

/* Makes the rename of path durable: fsync its folder. */
static void sync_dir(const char *path)
{
	char *dcopy = strdup(path);
	if (dcopy) {
		int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(dcopy);
	}
}

int dl_afile_commit(dl_afile *a, dl_err *err)
{
	if (a->f == stdout) {
		int bad = fflush(stdout) != 0 || ferror(stdout);
		release(a);
		return bad ? dl_fail_errno(err, DL_EIO, "stdout: write failed") : 0;
	}
	int rc = dl_afile_finish(a, err);
	if (rc)
		return rc;
	if (!a->tmp) {   /* written in place */
		release(a);
		return 0;
	}
	if (rename(a->tmp, a->path) != 0) {
		rc = dl_fail_errno(err, DL_EIO, "%s: cannot rename into place", a->path);
		dl_afile_abort(a);
		return rc;
	}
	sync_dir(a->path);
	release(a);
	return 0;
}

int dl_afile_commit_pair(dl_afile *a, dl_afile *b, dl_err *err)
{
	int rc = dl_afile_finish(a, err);
	if (!rc)
		rc = dl_afile_finish(b, err);
	if (rc || a->f == stdout || b->f == stdout || !a->tmp || !b->tmp) {
		if (!rc) {   /* a pair on stdout is not atomic anyway */
			rc = dl_afile_commit(a, err);
			int rb = dl_afile_commit(b, err);
			rc = rc ? rc : rb;
		}
		dl_afile_abort(a);
		dl_afile_abort(b);
		return rc;
	}
	/* keep a's old file under a temp name (swept if we die) until b is in */
	char *keep = dl_tmp_template(a->path);
	int kept = 0;
	if (!keep) {
		rc = dl_fail(err, DL_EFAIL, "out of memory");
	} else {
		int fd = mkstemp(keep);   /* reserve a unique name, then link over it */
		if (fd >= 0) {
			close(fd);
			unlink(keep);
			kept = link(a->path, keep) == 0;
		}
		if (!kept && errno != ENOENT && access(a->path, F_OK) == 0)
			rc = dl_fail_errno(err, DL_EIO, "%s: cannot keep the old file while replacing it", a->path);
	}
	if (!rc && rename(a->tmp, a->path) != 0)
		rc = dl_fail_errno(err, DL_EIO, "%s: cannot rename into place", a->path);
	else if (!rc && rename(b->tmp, b->path) != 0) {
		rc = dl_fail_errno(err, DL_EIO, "%s: cannot rename into place", b->path);
		if (kept ? rename(keep, a->path) : unlink(a->path)) { /* best effort: the old a back */ }
		kept = 0;
	}
	if (kept)
		unlink(keep);
	free(keep);
	if (!rc) {
		sync_dir(a->path);
		sync_dir(b->path);
		release(a);
		release(b);
		return 0;
	}
	dl_afile_abort(a);
	dl_afile_abort(b);
	return rc;
}

int dl_mkdir_p(const char *path, dl_err *err)
{
	char buf[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof buf)
		return dl_fail(err, DL_EIO, "%s: bad directory name", path);
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, 0777) != 0 && errno != EEXIST)
				return dl_fail_errno(err, DL_EIO, "%s: cannot create directory", buf);
			struct stat st;
			if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
				return dl_fail(err, DL_EIO, "%s: not a directory", buf);
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}
