/* The unit-test harness: TEST(name) { ... CHECK(cond); ... }.
 * Tests register themselves; tests/unit/main.c runs them (all, or those
 * whose name contains argv[1]) and prints "unit: N passed, N failed"
 * (", N skipped" added when some test called SKIP).
 * A CHECK failure prints file:line and the expression and marks the test
 * failed; the test goes on so one run shows every failure. */
#ifndef DL_TEST_H
#define DL_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct dl_test_ctx {
	int failed;
	const char *name;
	int skipped;     /* set by SKIP: counted as skipped, not passed */
} dl_test_ctx;

typedef void (*dl_test_fn)(dl_test_ctx *t);
void dl_test_register(const char *name, const char *file, dl_test_fn fn);
/* A scratch directory for this run (created on first use). */
const char *dl_test_tmpdir(void);
/* A CPU backend with `threads` threads; aborts the run if it cannot open
 * (nothing can be tested then).  Close with dl_backend_close. */
struct dl_backend *dl_test_cpu(int threads);

#define TEST(name)                                                          \
	static void test_##name(dl_test_ctx *t);                                \
	__attribute__((constructor)) static void register_##name(void)          \
	{ dl_test_register(#name, __FILE__, test_##name); }                     \
	static void test_##name(dl_test_ctx *t)

/* Ends a test whose subject is not built in (oneDNN without DNNL): the
 * runner prints "skip NAME: why" and counts it skipped, never passed.
 * Checks that already failed still fail the test. */
#define SKIP(why) do {                                                      \
	fprintf(stderr, "  %s: skipped: %s\n", t->name, (why));               \
	t->skipped = 1;                                                         \
	return;                                                                 \
	} while (0)

#define CHECK(cond) do {                                                    \
	if (!(cond)) {                                                          \
		fprintf(stderr, "  %s:%d: %s: check failed: %s\n", __FILE__,      \
			__LINE__, t->name, #cond);                                  \
		t->failed = 1;                                                      \
	} } while (0)

#define CHECK_INT(a, b) do {                                                \
	long long a_ = (long long)(a), b_ = (long long)(b);                     \
	if (a_ != b_) {                                                         \
		fprintf(stderr, "  %s:%d: %s: %s == %lld, expected %s == %lld\n", \
			__FILE__, __LINE__, t->name, #a, a_, #b, b_);              \
		t->failed = 1;                                                      \
	} } while (0)

#define CHECK_NEAR(a, b, tol) do {                                          \
	double a_ = (double)(a), b_ = (double)(b);                              \
	if (!(fabs(a_ - b_) <= (tol))) {                                        \
		fprintf(stderr, "  %s:%d: %s: %s = %.9g, expected %.9g (tol %g)\n",\
			__FILE__, __LINE__, t->name, #a, a_, b_, (double)(tol));    \
		t->failed = 1;                                                      \
	} } while (0)

/* CHECK that a message contains a substring. */
#define CHECK_STR_HAS(s, sub) do {                                          \
	const char *s_ = (s);                                                   \
	if (!s_ || !strstr(s_, (sub))) {                                        \
		fprintf(stderr, "  %s:%d: %s: '%s' does not contain '%s'\n",      \
			__FILE__, __LINE__, t->name, s_ ? s_ : "(null)", (sub));   \
		t->failed = 1;                                                      \
	} } while (0)

#endif
