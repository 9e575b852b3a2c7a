/* LD_PRELOAD shim for the signal tests: with DL_TEST_STALL_FSYNC=N set,
 * the Nth call of fsync() (1 = the first) never returns, so a tool stops
 * with its temp output complete but not yet renamed into place, waiting
 * for the test's signal.  Other fsync calls pass through. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

int fsync(int fd)
{
	static int calls;
	const char *s = getenv("DL_TEST_STALL_FSYNC");
	if (s && ++calls == atoi(s))
		for (;;)
			pause();
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	return real ? real(fd) : 0;
}
