/* The diagnostics hook (lib/core/log.h): a zeroed or NULL logger is
 * silent, a sink gets each message once with its level, and the library's
 * notes (--device auto falling back to the CPU) reach the opener's logger
 * instead of stderr. */
#include "test.h"

#include <stdlib.h>

#include "backend/backend.h"
#include "core/log.h"

typedef struct capture {
	int n;
	dl_log_level level;
	char msg[1024];
} capture;

static void capture_fn(const dl_logger *lg, dl_log_level level, const char *msg)
{
	capture *c = lg->ctx;
	c->n++;
	c->level = level;
	snprintf(c->msg, sizeof c->msg, "%s", msg);
}

TEST(log_silent_and_capture)
{
	dl_logf(NULL, DL_LOG_ERROR, "nobody hears %d", 1);
	dl_logger none = { 0 };
	dl_logf(&none, DL_LOG_NOTE, "nor %s", "this");
	capture c = { 0 };
	dl_logger lg = { .fn = capture_fn, .ctx = &c, .prog = "dl-test" };
	dl_logf(&lg, DL_LOG_WARN, "%s; retrying in %.1f s", "HTTP 503", 0.5);
	CHECK_INT(c.n, 1);
	CHECK_INT(c.level, DL_LOG_WARN);
	CHECK(!strcmp(c.msg, "HTTP 503; retrying in 0.5 s"));
	dl_logger std = dl_logger_stderr("dl-test");
	CHECK(std.fn != NULL && !strcmp(std.prog, "dl-test"));
}

TEST(log_backend_auto_note_goes_to_the_opener)
{
	/* a GPU setup that exists but fails: a backend library that is no ELF */
	char path[512];
	snprintf(path, sizeof path, "%s/not-an-elf.so", dl_test_tmpdir());
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("not an ELF\n", f);
	fclose(f);
	const char *old = getenv("DL_CUDA_LIB");
	char saved[512] = "";
	if (old)
		snprintf(saved, sizeof saved, "%s", old);
	setenv("DL_CUDA_LIB", path, 1);
	capture c = { 0 };
	dl_backend_opts o = { .device = "auto", .threads = 1,
			      .log = { .fn = capture_fn, .ctx = &c, .prog = "dl-test" } };
	dl_backend *be = NULL;
	dl_err err = { 0 };
	CHECK_INT(dl_backend_open_opts(&be, &o, &err), 0);
	CHECK(be && !strcmp(be->ops->name, "cpu"));
	CHECK_INT(c.n, 1);
	CHECK_INT(c.level, DL_LOG_NOTE);
	CHECK_STR_HAS(c.msg, "--device auto: cannot load the CUDA backend: ");
	CHECK_STR_HAS(c.msg, "; using the CPU");
	CHECK(be && be->log.fn == capture_fn && be->log.ctx == &c);   /* kept for later */
	dl_backend_close(be);
	/* the plain open is silent: nothing to capture, and nothing crashes */
	CHECK_INT(dl_backend_open(&be, "auto", 1, &err), 0);
	CHECK(be && be->log.fn == NULL);
	dl_backend_close(be);
	if (old)
		setenv("DL_CUDA_LIB", saved, 1);
	else
		unsetenv("DL_CUDA_LIB");
}
