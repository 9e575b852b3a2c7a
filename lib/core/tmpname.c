#include "core/tmpname.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *dl_tmp_template(const char *path)
{
	size_t n = strlen(path) + 40;
	char *t = malloc(n);
	if (t)
		snprintf(t, n, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
	return t;
}

int dl_tmp_parse(const char *name, pid_t *pid, size_t *stem_len)
{
	size_t n = strlen(name);
	/* from the right: 6 letters, '.', digits, ".tmp." */
	if (n < 6 + 1 + 1 + 5)
		return 0;
	const char *x = name + n - 6;
	for (int i = 0; i < 6; i++)
		if (!isalnum((unsigned char)x[i]))
			return 0;
	if (x[-1] != '.')
		return 0;
	const char *d = x - 1;
	long v = 0;
	int nd = 0;
	while (d > name && isdigit((unsigned char)d[-1]) && nd < 10)
		d--, nd++;
	if (!nd || d - name < 5 || memcmp(d - 5, ".tmp.", 5))
		return 0;
	for (const char *p = d; p < x - 1; p++)
		v = v * 10 + (*p - '0');
	if (v <= 0 || v > 0x7fffffff)
		return 0;
	*pid = (pid_t)v;
	*stem_len = (size_t)(d - 5 - name);
	return 1;
}

/* Start time of a live process in seconds since the epoch, or -1. */
static double proc_start(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	/* field 22 (starttime, clock ticks after boot) counts from after the
	 * ")" that ends field 2 */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long ticks = 0;
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
		return -1;
	struct timespec up, now;
	if (clock_gettime(CLOCK_BOOTTIME, &up) || clock_gettime(CLOCK_REALTIME, &now))
		return -1;
	double boot = (double)now.tv_sec + now.tv_nsec * 1e-9 - (double)up.tv_sec - up.tv_nsec * 1e-9;
	return boot + (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

/* Does the temp at path (owner pid) belong to no running process? */
static int stale(const char *path, pid_t pid)
{
	if (pid == getpid())
		return 1;
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 1;
	struct stat st;
	double t0 = proc_start(pid);
	/* 2 s of slack: tick rounding and clock steps */
	return t0 > 0 && lstat(path, &st) == 0 && (double)st.st_mtime + 2 < t0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

int dl_tmp_remove(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) != 0 && errno != ENOENT ? -1 : 0;
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0 ? -1 : 0;
}

int dl_tmp_sweep(const char *dir, const char *stem, pid_t only_pid, dl_err *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0
			: (dl_fail_errno(err, DL_EIO, "%s: cannot read folder", dir), -1);
	size_t sl = stem ? strlen(stem) : 0;
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		pid_t pid;
		size_t n;
		if (!dl_tmp_parse(e->d_name, &pid, &n) || (stem && (n != sl || memcmp(e->d_name, stem, sl))))
			continue;
		size_t len = strlen(dir) + strlen(e->d_name) + 2;
		char *p = malloc(len);
		if (!p)
			break;
		snprintf(p, len, "%s/%s", dir, e->d_name);
		if ((only_pid > 0 ? pid == only_pid : stale(p, pid)) && dl_tmp_remove(p) == 0)
			removed++;
		free(p);
	}
	closedir(d);
	return removed;
}
