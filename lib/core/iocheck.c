#include "core/iocheck.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* path with its folder part resolved: realpath(dirname)/basename; NULL if
 * the folder does not exist (then it cannot be the same as anything that
 * does) or out of memory. */
static char *canon(const char *path)
{
	char *full = realpath(path, NULL);
	if (full)
		return full;
	char *a = strdup(path), *b = strdup(path), *out = NULL;
	if (a && b) {
		char *dir = realpath(dirname(a), NULL);
		const char *base = basename(b);
		if (dir) {
			size_t n = strlen(dir) + strlen(base) + 2;
			if ((out = malloc(n)))
				snprintf(out, n, "%s/%s", dir, base);
			free(dir);
		}
	}
	free(a);
	free(b);
	return out;
}

int dl_same_file(const char *a, const char *b)
{
	if (!a || !b || !strcmp(a, "-") || !strcmp(b, "-"))
		return 0;
	struct stat sa, sb;
	int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
	if (ea && eb)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	if (ea != eb)
		return 0;
	char *ca = canon(a), *cb = canon(b);
	int same = ca && cb && !strcmp(ca, cb);
	free(ca);
	free(cb);
	return same;
}

/* Can writing to path replace or truncate a file (or folder)? */
static int clobberable(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return 1;
	return S_ISREG(st.st_mode) || S_ISDIR(st.st_mode);
}

int dl_io_check(const dl_iofile *in, int nin, const dl_iofile *out, int nout, dl_err *err)
{
	for (int i = 0; i < nout; i++) {
		if (!out[i].path || !strcmp(out[i].path, "-") || !clobberable(out[i].path))
			continue;
		for (int j = 0; j < nin; j++)
			if (dl_same_file(out[i].path, in[j].path))
				return dl_fail(err, DL_EUSAGE, "%s %s is the same file as %s %s: an output may not "
					       "overwrite an input", out[i].what, out[i].path, in[j].what, in[j].path);
		for (int j = 0; j < i; j++)
			if (dl_same_file(out[i].path, out[j].path))
				return dl_fail(err, DL_EUSAGE, "%s %s and %s %s name the same file", out[j].what,
					       out[j].path, out[i].what, out[i].path);
	}
	return 0;
}
