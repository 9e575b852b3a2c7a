/* dl_fsrc: a dataset root that is a directory or an in-memory archive index. */
#include "fsrc.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/readall.h"

#define FILE_CAP ((size_t)1 << 31)   /* one file of a dataset: 2 GiB */

int dl_fsrc_norm(const char *path, char *out, size_t cap, const char **why)
{
	size_t o = 0;
	if (path[0] == '/' || path[0] == '\\') {
		*why = "is absolute";
		return -1;
	}
	const char *p = path;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			*why = "has a '..' component";
			return -1;
		}
		if (len && !(len == 1 && p[0] == '.')) {
			if (o + len + 2 > cap) {
				*why = "is too long";
				return -1;
			}
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p += len + (e ? 1 : 0);
	}
	if (!o) {
		*why = "is empty";
		return -1;
	}
	out[o] = '\0';
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const dl_fsrc_entry *x = a, *y = b;
	return strcmp(x->path, y->path);   /* a path seen twice is refused after sorting */
}

static int add_entry(dl_fsrc *fs, char *path, uint8_t *data, size_t len, dl_err *err)
{
	if (fs->n == fs->cap) {
		size_t nc = fs->cap ? fs->cap * 2 : 256;
		dl_fsrc_entry *e = realloc(fs->e, nc * sizeof *e);
		if (!e)
			return dl_fail(err, DL_EFAIL, "out of memory");
		fs->e = e;
		fs->cap = nc;
	}
	fs->e[fs->n++] = (dl_fsrc_entry){ path, data, len };
	return 0;
}

/* The decoded bytes so far (before + len) against the compressed bytes
 * read so far: an archive is held in memory, so a bomb (1 MB of zip
 * decoding to 1 GB) is stopped while it expands, not at the byte cap.
 * The first MiB of input may decode to ratio MiB whatever it holds. */
static int check_ratio(struct archive *a, const char *root, const char *name, size_t decoded,
		       double ratio, dl_err *err)
{
	la_int64_t raw = archive_filter_bytes(a, -1);
	double base = raw > (1 << 20) ? (double)raw : (double)(1 << 20);
	if ((double)decoded <= ratio * base)
		return 0;
	return dl_fail(err, DL_EDATA, "%s: decodes to more than %g times its compressed size "
		       "(%zu MiB from %lld KiB, at %s; raise --archive-max-ratio)", root, ratio,
		       decoded >> 20, (long long)(raw >> 10), name);
}

static int read_entry(struct archive *a, const char *root, const char *name, size_t room,
		      size_t before, double ratio, uint8_t **out, size_t *outlen, dl_err *err)
{
	size_t cap = 65536, len = 0;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return dl_fail(err, DL_EFAIL, "out of memory");
	for (;;) {
		if (len == cap) {
			if (cap > room) {
				free(buf);
				return dl_fail(err, DL_EDATA, "%s: more than the archive byte limit "
					       "(at %s; raise --archive-max-mb)", root, name);
			}
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return dl_fail(err, DL_EFAIL, "out of memory");
			}
			buf = nb;
			cap *= 2;
		}
		la_ssize_t r = archive_read_data(a, buf + len, cap - len);
		if (r == 0)
			break;
		if (r < 0) {
			free(buf);
			return dl_fail(err, DL_EDATA, "%s: %s: %s", root, name, archive_error_string(a));
		}
		len += (size_t)r;
		int rc = check_ratio(a, root, name, before + len, ratio, err);
		if (rc) {
			free(buf);
			return rc;
		}
	}
	if (len > room) {
		free(buf);
		return dl_fail(err, DL_EDATA, "%s: more than the archive byte limit (at %s; raise "
			       "--archive-max-mb)", root, name);
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* Drops a single top folder shared by every entry. */
static int strip_top(dl_fsrc *fs, dl_err *err)
{
	if (!fs->n)
		return 0;
	const char *s = strchr(fs->e[0].path, '/');
	if (!s)
		return 0;
	size_t k = (size_t)(s - fs->e[0].path) + 1;
	for (size_t i = 1; i < fs->n; i++)
		if (strncmp(fs->e[i].path, fs->e[0].path, k))
			return 0;
	for (size_t i = 0; i < fs->n; i++) {
		char *p = strdup(fs->e[i].path + k);
		if (!p)
			return dl_fail(err, DL_EFAIL, "out of memory");
		free(fs->e[i].path);
		fs->e[i].path = p;
	}
	return 0;
}

static int open_archive(dl_fsrc *fs, const char *root, const dl_fsrc_limits *lim, dl_err *err)
{
	size_t max_e = lim && lim->max_entries ? lim->max_entries : 1000000;
	size_t max_b = lim && lim->max_bytes ? lim->max_bytes : (size_t)8 << 30;
	double ratio = lim && lim->max_ratio > 0 ? lim->max_ratio : DL_FSRC_RATIO;
	struct archive *a = archive_read_new();
	struct archive_entry *ent;
	int rc = 0;
	if (!a)
		return dl_fail(err, DL_EFAIL, "out of memory");
	/* built-in decompressors only: ARCHIVE_WARN would mean an external program */
	if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_bzip2(a) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_support_format_zip(a) != ARCHIVE_OK) {
		rc = dl_fail(err, DL_EFAIL, "libarchive lacks a built-in gzip/bzip2/xz/tar/zip reader");
		goto out;
	}
	int r = !strcmp(root, "-") ? archive_read_open_fd(a, 0, 65536)
				   : archive_read_open_filename(a, root, 65536);
	if (r != ARCHIVE_OK) {
		int e = archive_errno(a);   /* errno itself may be stale here */
		rc = dl_fail(err, e == ENOENT || e == EACCES || e == EIO ? DL_EIO : DL_EDATA,
			     "%s: not a directory or a readable tar/zip archive: %s", root,
			     archive_error_string(a));
		goto out;
	}
	for (;;) {
		r = archive_read_next_header(a, &ent);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rc = dl_fail(err, DL_EDATA, "%s: not a directory or a readable tar/zip archive: %s",
				     root, archive_error_string(a));
			goto out;
		}
		const char *name = archive_entry_pathname(ent);
		char norm[4096];
		const char *why;
		if (archive_entry_filetype(ent) != AE_IFREG || !name ||
		    dl_fsrc_norm(name, norm, sizeof norm, &why))
			continue;   /* folders, links, unsafe names: never looked up */
		if (fs->n >= max_e) {
			rc = dl_fail(err, DL_EDATA, "%s: more than %zu files (raise --archive-max-files)",
				     root, max_e);
			goto out;
		}
		uint8_t *data = NULL;
		size_t len = 0;
		if ((rc = read_entry(a, root, norm, max_b - fs->bytes, fs->bytes, ratio, &data, &len, err)))
			goto out;
		fs->bytes += len;
		char *p = strdup(norm);
		if (!p || (rc = add_entry(fs, p, data, len, err))) {
			free(p);
			free(data);
			rc = rc ? rc : dl_fail(err, DL_EFAIL, "out of memory");
			goto out;
		}
	}
	if ((rc = strip_top(fs, err)))
		goto out;
	if (fs->n)
		qsort(fs->e, fs->n, sizeof *fs->e, cmp_entry);
	for (size_t i = 1; i < fs->n; i++)
		if (!strcmp(fs->e[i - 1].path, fs->e[i].path)) {
			rc = dl_fail(err, DL_EDATA, "%s: '%s' appears twice", root, fs->e[i].path);
			goto out;
		}
out:
	archive_read_free(a);
	return rc;
}

int dl_fsrc_open(dl_fsrc *fs, const char *root, const dl_fsrc_limits *lim, dl_err *err)
{
	memset(fs, 0, sizeof *fs);
	struct stat st;
	if (!(fs->root = strdup(root)))
		return dl_fail(err, DL_EFAIL, "out of memory");
	int rc = 0;
	if (strcmp(root, "-") && stat(root, &st)) {
		rc = dl_fail_errno(err, DL_EIO, "%s", root);
	} else if (strcmp(root, "-") && S_ISDIR(st.st_mode)) {
		if (!(fs->real = realpath(root, NULL)))
			rc = dl_fail_errno(err, DL_EIO, "%s", root);
	} else {
		rc = open_archive(fs, root, lim, err);
	}
	if (rc)   /* nothing held on failure (the fuzzer found the root leaked) */
		dl_fsrc_close(fs);
	return rc;
}

void dl_fsrc_close(dl_fsrc *fs)
{
	for (size_t i = 0; i < fs->n; i++) {
		free(fs->e[i].path);
		free(fs->e[i].data);
	}
	free(fs->e);
	free(fs->root);
	free(fs->real);
	memset(fs, 0, sizeof *fs);
}

static const dl_fsrc_entry *find(const dl_fsrc *fs, const char *norm)
{
	size_t lo = 0, hi = fs->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(fs->e[mid].path, norm);
		if (!c)
			return &fs->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* root/rel on disk, refused if its real location leaves the root. */
static int disk_path(const dl_fsrc *fs, const char *norm, char *full, size_t cap, dl_err *err)
{
	if ((size_t)snprintf(full, cap, "%s/%s", fs->real, norm) >= cap)
		return dl_fail(err, DL_EDATA, "%s/%s: path too long", fs->root, norm);
	char *real = realpath(full, NULL);
	if (!real)
		return dl_fail_errno(err, DL_EIO, "%s/%s", fs->root, norm);
	size_t k = strlen(fs->real);
	int inside = !strncmp(real, fs->real, k) && (real[k] == '/' || !strcmp(fs->real, "/"));
	free(real);
	if (!inside)
		return dl_fail(err, DL_EDATA, "%s/%s: leads outside the dataset root (symlink)",
			       fs->root, norm);
	return 0;
}

int dl_fsrc_read(const dl_fsrc *fs, const char *rel, uint8_t **data, size_t *len, dl_err *err)
{
	char norm[4096], full[8192];
	const char *why;
	if (dl_fsrc_norm(rel, norm, sizeof norm, &why))
		return dl_fail(err, DL_EDATA, "%s: path '%s' %s", fs->root, rel, why);
	if (fs->real) {
		int rc = disk_path(fs, norm, full, sizeof full, err);
		if (rc)
			return rc;
		char shown[8300];
		snprintf(shown, sizeof shown, "%s/%s", fs->root, norm);
		int fd = dl_open_regular(full, shown, err);   /* a FIFO once hung dl-prep */
		if (fd < 0)
			return err->code;
		rc = dl_read_all(fd, full, FILE_CAP, data, len, err);
		close(fd);
		return rc;
	}
	const dl_fsrc_entry *e = find(fs, norm);
	if (!e)
		return dl_fail(err, DL_EDATA, "%s: no file '%s' in the archive", fs->root, norm);
	*data = malloc(e->len ? e->len : 1);
	if (!*data)
		return dl_fail(err, DL_EFAIL, "out of memory");
	memcpy(*data, e->data, e->len);
	*len = e->len;
	return 0;
}

int dl_fsrc_exists(const dl_fsrc *fs, const char *rel)
{
	char norm[4096], full[8192];
	const char *why;
	struct stat st;
	if (dl_fsrc_norm(rel, norm, sizeof norm, &why))
		return 0;
	if (!fs->real)
		return find(fs, norm) != NULL;
	if ((size_t)snprintf(full, sizeof full, "%s/%s", fs->real, norm) >= sizeof full)
		return 0;
	return !stat(full, &st) && S_ISREG(st.st_mode);
}

void dl_fsrc_free_names(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int push_name(char ***v, size_t *n, size_t *cap, const char *s, size_t len, dl_err *err)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		char **nv = realloc(*v, nc * sizeof *nv);
		if (!nv)
			return dl_fail(err, DL_EFAIL, "out of memory");
		*v = nv;
		*cap = nc;
	}
	if (!((*v)[*n] = strndup(s, len)))
		return dl_fail(err, DL_EFAIL, "out of memory");
	(*n)++;
	return 0;
}

int dl_fsrc_list(const dl_fsrc *fs, const char *dir, int want_dirs, char ***names, size_t *n,
		 dl_err *err)
{
	char norm[4096] = "", full[8192];
	const char *why;
	size_t cap = 0;
	int rc = 0;
	*names = NULL;
	*n = 0;
	if (dir[0] && dl_fsrc_norm(dir, norm, sizeof norm, &why))
		return dl_fail(err, DL_EDATA, "%s: folder '%s' %s", fs->root, dir, why);
	if (fs->real) {
		if (norm[0] && (rc = disk_path(fs, norm, full, sizeof full, err)))
			return rc;
		if (!norm[0])
			snprintf(full, sizeof full, "%s", fs->real);
		DIR *d = opendir(full);
		if (!d)
			return dl_fail_errno(err, DL_EIO, "%s/%s", fs->root, norm);
		struct dirent *de;
		while (!rc && (de = readdir(d))) {
			struct stat st;
			if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0))
				continue;
			if (want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode))
				rc = push_name(names, n, &cap, de->d_name, strlen(de->d_name), err);
		}
		closedir(d);
	} else {
		size_t k = strlen(norm);
		const char *last = NULL;
		size_t lastlen = 0;
		for (size_t i = 0; !rc && i < fs->n; i++) {
			const char *p = fs->e[i].path;
			if (k && (strncmp(p, norm, k) || p[k] != '/'))
				continue;
			const char *c = p + (k ? k + 1 : 0), *s = strchr(c, '/');
			size_t len = s ? (size_t)(s - c) : strlen(c);
			if ((s != NULL) != (want_dirs != 0) || c[0] == '.')
				continue;
			if (last && lastlen == len && !strncmp(last, c, len))
				continue;
			last = c;
			lastlen = len;
			rc = push_name(names, n, &cap, c, len, err);
		}
		/* paths under "a/" are contiguous, but "a" sorts before "a-b" as a name
		 * and after it as a path prefix: sort the names and drop repeats */
		size_t w = 0;
		if (!rc && *n) {
			qsort(*names, *n, sizeof **names, cmp_str);
			for (size_t i = 0; i < *n; i++) {
				if (w && !strcmp((*names)[w - 1], (*names)[i]))
					free((*names)[i]);
				else
					(*names)[w++] = (*names)[i];
			}
			*n = w;
		}
	}
	if (rc) {
		dl_fsrc_free_names(*names, *n);
		*names = NULL;
		*n = 0;
		return rc;
	}
	if (fs->real && *n)
		qsort(*names, *n, sizeof **names, cmp_str);
	return 0;
}
