#include "io/unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include "core/tmpname.h"

enum { CHUNK = 1 << 16, MAX_DEPTH = 256 };

void dl_unpack_opts_default(dl_unpack_opts *o)
{
	o->max_bytes = 16LL << 30;
	o->max_entries = 1000000;
}

static int ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n > m && !strcmp(s + n - m, suf);
}

/* endings, longest first, and their kinds */
static const struct { const char *ext; dl_unpack_kind k; } endings[] = {
	{ ".tar.gz", DL_UNPACK_TAR }, { ".tgz", DL_UNPACK_TAR }, { ".tar", DL_UNPACK_TAR },
	{ ".zip", DL_UNPACK_ZIP }, { ".gz", DL_UNPACK_GZ },
};

dl_unpack_kind dl_unpack_kind_of(const char *name)
{
	for (size_t i = 0; i < sizeof endings / sizeof endings[0]; i++)
		if (ends_with(name, endings[i].ext))
			return endings[i].k;
	return DL_UNPACK_NONE;
}

const char *dl_unpack_kind_name(dl_unpack_kind k)
{
	return k == DL_UNPACK_TAR ? "tar" : k == DL_UNPACK_ZIP ? "zip" : k == DL_UNPACK_GZ ? "gz" : "none";
}

dl_unpack_kind dl_unpack_kind_parse(const char *s)
{
	if (!strcmp(s, "tar") || !strcmp(s, "tar.gz") || !strcmp(s, "tgz"))
		return DL_UNPACK_TAR;
	if (!strcmp(s, "zip"))
		return DL_UNPACK_ZIP;
	if (!strcmp(s, "gz"))
		return DL_UNPACK_GZ;
	return DL_UNPACK_NONE;
}

char *dl_unpack_stem(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof endings / sizeof endings[0]; i++)
		if (ends_with(name, endings[i].ext)) {
			n -= strlen(endings[i].ext);
			break;
		}
	char *s = NULL;
	if (n == strlen(name) || n == 0)
		return asprintf(&s, "%s.d", name) < 0 ? NULL : s;
	return strndup(name, n);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

int dl_remove_tree(const char *path, dl_err *err)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : dl_fail_errno(err, DL_EIO, "%s: cannot stat", path);
	if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) != 0)
		return dl_fail_errno(err, DL_EIO, "%s: cannot remove", path);
	return 0;
}

/* ---- safe paths ---------------------------------------------------------- */

/* Splits a relative entry path into components in buf (NULs), dropping
 * "" and "." components.  Returns the count, or -1 for an absolute path,
 * a ".." component or too many components. */
static int split_path(const char *path, char *buf, size_t cap, const char **comp)
{
	if (!path || path[0] == '/' || strlen(path) >= cap)
		return -1;
	strcpy(buf, path);
	int n = 0;
	for (char *save = NULL, *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..") || n >= MAX_DEPTH)
			return -1;
		comp[n++] = c;
	}
	return n;
}

/* Opens the directory comp[0..n) under root without following a symlink,
 * creating missing ones when mk.  Returns an fd or -1 (errno set). */
static int open_parent(int root, const char **comp, int n, int mk)
{
	int fd = dup(root);
	for (int i = 0; fd >= 0 && i < n; i++) {
		int next = openat(fd, comp[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && mk) {
			if (mkdirat(fd, comp[i], 0777) != 0 && errno != EEXIST) {
				int e = errno;
				close(fd);
				errno = e;
				return -1;
			}
			next = openat(fd, comp[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		int e = errno;
		close(fd);
		errno = e;
		fd = next;
	}
	return fd;
}

/* A symlink target stays inside: relative, "../" only at its start and no
 * more of them than the link's depth.  Links are never followed while
 * unpacking, so by induction every link then resolves inside. */
static int link_target_ok(const char *target, int depth)
{
	if (!target || !*target || target[0] == '/')
		return 0;
	int ups = 0, named = 0;
	const char *p = target;
	while (*p) {
		size_t len = strcspn(p, "/");
		if (len == 2 && !strncmp(p, "..", 2)) {
			if (named)
				return 0;
			ups++;
		} else if (len && !(len == 1 && *p == '.')) {
			named = 1;
		}
		p += len;
		while (*p == '/')
			p++;
	}
	return ups <= depth;
}

/* ---- one archive ------------------------------------------------------- */

typedef struct unpacker {
	struct archive *a;
	const char *shown;
	int root;                  /* the temp directory */
	const dl_unpack_opts *o;
	dl_unpack_stats st;
	unsigned char *buf;
	char pathbuf[4096], linkbuf[4096];
	const char *comp[MAX_DEPTH], *lcomp[MAX_DEPTH];
} unpacker;

static int refuse(unpacker *u, const char *entry, const char *why, dl_err *err)
{
	return dl_fail(err, DL_EDATA, "%s: entry '%s': refused: %s", u->shown, entry ? entry : "?", why);
}

static int bad_archive(unpacker *u, dl_err *err)
{
	const char *m = archive_error_string(u->a);
	return dl_fail(err, DL_EDATA, "%s: not a valid archive: %s", u->shown, m ? m : "read error");
}

/* Copies the entry's data to fd, within the byte cap. */
static int write_data(unpacker *u, int fd, const char *name, dl_err *err)
{
	for (;;) {
		la_ssize_t n = archive_read_data(u->a, u->buf, CHUNK);
		if (n == 0)
			return 0;
		if (n < 0)
			return bad_archive(u, err);
		if ((long long)n > u->o->max_bytes - u->st.bytes) {
			char why[96];
			snprintf(why, sizeof why, "unpacked content over the cap of %lld bytes", u->o->max_bytes);
			return refuse(u, name, why, err);
		}
		u->st.bytes += (long long)n;
		for (la_ssize_t done = 0; done < n;) {
			ssize_t w = write(fd, u->buf + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return dl_fail_errno(err, DL_EIO, "%s: cannot write '%s'", u->shown, name);
			done += w;
		}
	}
}

static int do_file(unpacker *u, int dfd, const char *base, const char *name, mode_t mode, dl_err *err)
{
	if (mode & (S_ISUID | S_ISGID))
		return refuse(u, name, "setuid/setgid file", err);
	int fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			(mode & 0777) | 0600);
	if (fd < 0)
		return errno == EEXIST ? refuse(u, name, "duplicate path", err)
				       : dl_fail_errno(err, DL_EIO, "%s: cannot create '%s'", u->shown, name);
	int rc = write_data(u, fd, name, err);
	if (close(fd) != 0 && !rc)
		rc = dl_fail_errno(err, DL_EIO, "%s: cannot write '%s'", u->shown, name);
	return rc;
}

static int do_entry(unpacker *u, struct archive_entry *e, dl_err *err)
{
	const char *name = archive_entry_pathname(e);
	const char *hard = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	mode_t mode = archive_entry_mode(e);
	if (++u->st.entries > u->o->max_entries) {
		char why[96];
		snprintf(why, sizeof why, "more than %lld entries", u->o->max_entries);
		return refuse(u, name, why, err);
	}
	if (archive_entry_is_encrypted(e))
		return refuse(u, name, "encrypted entry", err);
	int n = split_path(name, u->pathbuf, sizeof u->pathbuf, u->comp);
	if (n < 0)
		return refuse(u, name, "absolute path or '..' component", err);
	if (n == 0)
		return 0;  /* "." or "./": the root itself */
	if (archive_entry_size_is_set(e) && !hard && type == AE_IFREG &&
	    archive_entry_size(e) > u->o->max_bytes - u->st.bytes) {
		char why[128];
		snprintf(why, sizeof why, "declares %lld bytes, over the cap of %lld bytes of unpacked content",
			 (long long)archive_entry_size(e), u->o->max_bytes);
		return refuse(u, name, why, err);
	}
	int is_dir = !hard && type == AE_IFDIR;
	int dfd = open_parent(u->root, u->comp, is_dir ? n : n - 1, 1);
	if (dfd < 0)
		return errno == ELOOP || errno == ENOTDIR
			? refuse(u, name, "path goes through a symlink or a file", err)
			: dl_fail_errno(err, DL_EIO, "%s: cannot create the folder of '%s'", u->shown, name);
	const char *base = u->comp[n - 1];
	int rc = 0;
	if (is_dir) {
		/* opened (and created) above */
	} else if (hard) {
		int m = split_path(hard, u->linkbuf, sizeof u->linkbuf, u->lcomp);
		int tfd = m > 0 ? open_parent(u->root, u->lcomp, m - 1, 0) : -1;
		struct stat st;
		if (m <= 0)
			rc = refuse(u, name, "hardlink target is absolute or has '..'", err);
		else if (tfd < 0 || fstatat(tfd, u->lcomp[m - 1], &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
			rc = refuse(u, name, "hardlink target is not a file unpacked before it", err);
		else if (linkat(tfd, u->lcomp[m - 1], dfd, base, 0) != 0)
			rc = errno == EEXIST ? refuse(u, name, "duplicate path", err)
					     : dl_fail_errno(err, DL_EIO, "%s: cannot link '%s'", u->shown, name);
		if (tfd >= 0)
			close(tfd);
	} else if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(e);
		if (!link_target_ok(target, n - 1))
			rc = refuse(u, name, "symlink points outside the target", err);
		else if (symlinkat(target, dfd, base) != 0)
			rc = errno == EEXIST ? refuse(u, name, "duplicate path", err)
					     : dl_fail_errno(err, DL_EIO, "%s: cannot create symlink '%s'", u->shown, name);
	} else if (type == AE_IFREG) {
		rc = do_file(u, dfd, base, name, mode, err);
	} else {
		rc = refuse(u, name, "device node, FIFO or socket", err);
	}
	close(dfd);
	return rc;
}

/* Sets up the reader for kind k: built-in gzip only, never a program. */
static int open_reader(unpacker *u, const char *archive, dl_unpack_kind k, dl_err *err)
{
	u->a = archive_read_new();
	if (!u->a)
		return dl_fail(err, DL_EFAIL, "out of memory");
	int r = ARCHIVE_OK;
	if (k != DL_UNPACK_ZIP && archive_read_support_filter_gzip(u->a) != ARCHIVE_OK)
		return dl_fail(err, DL_EFAIL, "%s: libarchive has no built-in gzip decoder", u->shown);
	if (k == DL_UNPACK_TAR)
		r = archive_read_support_format_tar(u->a);
	else if (k == DL_UNPACK_ZIP)
		r = archive_read_support_format_zip_seekable(u->a);
	else
		r = archive_read_support_format_raw(u->a);
	if (r != ARCHIVE_OK)
		return dl_fail(err, DL_EFAIL, "%s: libarchive cannot read %s", u->shown, dl_unpack_kind_name(k));
	if (archive_read_open_filename(u->a, archive, CHUNK) != ARCHIVE_OK)
		return bad_archive(u, err);
	return 0;
}

static int unpack_tree(unpacker *u, dl_err *err)
{
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(u->a, &e);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return bad_archive(u, err);
		int rc = do_entry(u, e, err);
		if (rc)
			return rc;
	}
}

static int unpack_gz(unpacker *u, int fd, const char *name, dl_err *err)
{
	struct archive_entry *e;
	if (archive_read_next_header(u->a, &e) != ARCHIVE_OK)
		return bad_archive(u, err);
	if (archive_filter_count(u->a) < 2)  /* raw without gzip: not compressed */
		return dl_fail(err, DL_EDATA, "%s: not a gzip file", u->shown);
	u->st.entries = 1;
	return write_data(u, fd, name, err);
}

int dl_unpack(const char *archive, const char *shown, dl_unpack_kind k, const char *dest,
	      const dl_unpack_opts *o, dl_unpack_stats *st, dl_err *err)
{
	if (st)
		memset(st, 0, sizeof *st);
	if (k == DL_UNPACK_NONE)
		return dl_fail(err, DL_EFAIL, "%s: not an archive kind", shown);
	unpacker u;
	memset(&u, 0, sizeof u);
	u.shown = shown;
	u.o = o;
	u.root = -1;
	char *tmp = NULL;
	int fd = -1, rc = 0;
	if (!(tmp = dl_tmp_template(dest)))   /* DEST.tmp.PID.XXXXXX: core/tmpname.h */
		return dl_fail(err, DL_EFAIL, "out of memory");
	u.buf = malloc(CHUNK);
	if (!u.buf)
		rc = dl_fail(err, DL_EFAIL, "out of memory");
	if (!rc && k == DL_UNPACK_GZ) {
		fd = mkstemp(tmp);
		if (fd < 0)
			rc = dl_fail_errno(err, DL_EIO, "%s: cannot create temporary file", dest);
	} else if (!rc) {
		if (!mkdtemp(tmp))
			rc = dl_fail_errno(err, DL_EIO, "%s: cannot create temporary folder", dest);
		else if ((u.root = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			rc = dl_fail_errno(err, DL_EIO, "%s: cannot open", tmp);
		else {   /* mkdtemp gives 0700: the folder gets the umask's mode like any mkdir */
			mode_t um = umask(0);
			umask(um);
			if (fchmod(u.root, 0777 & ~um) != 0)
				rc = dl_fail_errno(err, DL_EIO, "%s: cannot set its mode", tmp);
		}
	}
	int made = !rc;
	if (!rc)
		rc = open_reader(&u, archive, k, err);
	if (!rc && k == DL_UNPACK_GZ) {
		mode_t um = umask(0);
		umask(um);
		if (fchmod(fd, 0666 & ~um) != 0) { /* best effort */ }
		rc = unpack_gz(&u, fd, dest, err);
		if (!rc && fsync(fd) != 0)
			rc = dl_fail_errno(err, DL_EIO, "%s: fsync failed", dest);
	} else if (!rc) {
		rc = unpack_tree(&u, err);
	}
	if (fd >= 0 && close(fd) != 0 && !rc)
		rc = dl_fail_errno(err, DL_EIO, "%s: write failed", dest);
	if (u.root >= 0)
		close(u.root);
	if (u.a)
		archive_read_free(u.a);
	if (!rc && rename(tmp, dest) != 0)
		rc = dl_fail_errno(err, DL_EIO, "%s: cannot rename into place", dest);
	if (rc && made) {
		dl_err ignored = { 0, "" };
		dl_remove_tree(tmp, &ignored);
	}
	if (st)
		*st = u.st;
	free(u.buf);
	free(tmp);
	return rc;
}
