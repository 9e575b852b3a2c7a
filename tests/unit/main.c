/* Runs every registered test; see test.h. */
#include "test.h"

#include "backend/backend.h"

#include <stdlib.h>
#include <unistd.h>

#define MAX_TESTS 1024

/* Test-runner bookkeeping: the registry is filled by constructors before
 * main and only read after, in this test binary only. */
static struct {
	const char *name, *file;
	dl_test_fn fn;
} tests[MAX_TESTS];
static int ntests;
static char tmpdir[256];

void dl_test_register(const char *name, const char *file, dl_test_fn fn)
{
	if (ntests == MAX_TESTS) {
		fprintf(stderr, "too many tests\n");
		abort();
	}
	tests[ntests].name = name;
	tests[ntests].file = file;
	tests[ntests].fn = fn;
	ntests++;
}

struct dl_backend *dl_test_cpu(int threads)
{
	dl_backend *be = NULL;
	dl_err err;
	if (dl_backend_cpu_open(&be, threads, &err)) {
		fprintf(stderr, "cpu backend: %s\n", err.msg);
		abort();
	}
	return be;
}

const char *dl_test_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(tmpdir, sizeof tmpdir, "%s/dl-unit.XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			abort();
		}
	}
	return tmpdir;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;
	for (int i = 0; i < ntests; i++) {
		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		dl_test_ctx t = { 0, tests[i].name, 0 };
		tests[i].fn(&t);
		if (t.failed) {
			failed++;
			printf("FAIL %s (%s)\n", tests[i].name, tests[i].file);
		} else if (t.skipped) {
			skipped++;
			printf("skip %s (%s)\n", tests[i].name, tests[i].file);
		} else {
			passed++;
			if (getenv("VERBOSE"))
				printf("ok   %s\n", tests[i].name);
		}
	}
	if (tmpdir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	if (skipped)
		printf("unit: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
	else
		printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
