/* LD_PRELOAD shim for the signal tests: with DL_TEST_STALL=NAME:N set, the
 * Nth call (1 = the first) of NAME (fsync or rename) never returns, so a
 * tool stops with its temp output complete but not yet in place, waiting
 * for the test's signal; DL_TEST_STALL_MARK=FILE is created when it hangs.
 * DL_TEST_SLOW_FSYNC_US=N sleeps N microseconds before each fsync, so a
 * test polling a run's progress keeps up on a loaded machine.  Every other
 * call passes through. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void maybe_stall(const char *name)
{
	static int calls;
	const char *s = getenv("DL_TEST_STALL");
	size_t n = strlen(name);
	if (s && !strncmp(s, name, n) && s[n] == ':' && ++calls == atoi(s + n + 1)) {
		const char *mark = getenv("DL_TEST_STALL_MARK");
		if (mark)
			close(open(mark, O_WRONLY | O_CREAT, 0644));
		for (;;)
			pause();
	}
}

int fsync(int fd)
{
	maybe_stall("fsync");
	const char *slow = getenv("DL_TEST_SLOW_FSYNC_US");
	if (slow)
		usleep((useconds_t)atoi(slow));
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	return real(fd);
}

int rename(const char *a, const char *b)
{
	maybe_stall("rename");
	int (*real)(const char *, const char *) =
		(int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	return real(a, b);
}
