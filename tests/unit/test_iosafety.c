/* lib/core iocheck, tmpname, afile pairs and the guard's bookkeeping: the
 * rules behind "outputs never destroy inputs", temp names with a pid,
 * both-or-neither, and whose signal handlers the guard takes. */
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/afile.h"
#include "core/error.h"
#include "core/guard.h"
#include "core/iocheck.h"
#include "core/tmpname.h"

static void path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", dl_test_tmpdir(), name);
}

static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static int file_is(const char *p, const char *text)
{
	char buf[64] = "";
	FILE *f = fopen(p, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	return !strcmp(buf, text);
}

TEST(tmp_parse)
{
	pid_t pid;
	size_t stem;
	CHECK(dl_tmp_parse("model.safetensors.tmp.1234.AbC123", &pid, &stem));
	CHECK_INT(pid, 1234);
	CHECK_INT(stem, strlen("model.safetensors"));
	CHECK(dl_tmp_parse("a.tmp.5.tmp.77.zzzzzz", &pid, &stem) && pid == 77 && stem == strlen("a.tmp.5"));
	CHECK(!dl_tmp_parse("model.safetensors.tmp.AbC123", &pid, &stem));   /* old style: no pid */
	CHECK(!dl_tmp_parse("x.tmp.12.abc", &pid, &stem));
	CHECK(!dl_tmp_parse("x.tmp.0.abcdef", &pid, &stem));
	CHECK(!dl_tmp_parse("x.part", &pid, &stem));
	char *tp = dl_tmp_template("dir/out.st");
	char want[64];
	snprintf(want, sizeof want, "dir/out.st.tmp.%ld.XXXXXX", (long)getpid());
	CHECK(tp && !strcmp(tp, want));
	free(tp);
}

TEST(tmp_sweep_rules)
{
	char d[512], a[600], b[600], c[600], e[600];
	path(d, sizeof d, "sweep");
	mkdir(d, 0777);
	/* our own pid at start: stale; pid 1 (alive, older than the file): kept */
	snprintf(a, sizeof a, "%s/o.st.tmp.%ld.aaaaaa", d, (long)getpid());
	snprintf(b, sizeof b, "%s/o.st.tmp.1.bbbbbb", d);
	snprintf(c, sizeof c, "%s/p.st.tmp.%ld.cccccc", d, (long)getpid());
	snprintf(e, sizeof e, "%s/o.st.tmp.%ld.dddddd", d, (long)getpid());
	write_file(a, "a");
	write_file(b, "b");
	write_file(c, "c");
	mkdir(e, 0777);
	char sub[700];
	snprintf(sub, sizeof sub, "%s/x", e);
	write_file(sub, "x");
	dl_err err;
	CHECK_INT(dl_tmp_sweep(d, "o.st", 0, &err), 2);
	CHECK(access(a, F_OK) != 0 && access(e, F_OK) != 0);
	CHECK(access(b, F_OK) == 0 && access(c, F_OK) == 0);
	CHECK_INT(dl_tmp_sweep(d, NULL, getpid(), &err), 1);   /* only_pid: c */
	CHECK(access(c, F_OK) != 0 && access(b, F_OK) == 0);
	unlink(b);
	CHECK_INT(dl_tmp_sweep("/nonexistent/dir", NULL, 0, &err), 0);
}

TEST(io_check_same_file)
{
	char in[512], out[512], link_[512], dotted[600];
	path(in, sizeof in, "in.st");
	path(out, sizeof out, "out.st");
	path(link_, sizeof link_, "in-link.st");
	write_file(in, "data");
	unlink(link_);
	CHECK(symlink(in, link_) == 0);
	snprintf(dotted, sizeof dotted, "%s/./in.st", dl_test_tmpdir());
	CHECK(dl_same_file(in, link_));
	CHECK(dl_same_file(in, dotted));
	CHECK(!dl_same_file(in, out));
	CHECK(!dl_same_file("-", "-"));
	dl_iofile ins[] = { { "--train", in } };
	dl_iofile ok[] = { { "-o", out }, { "--log", NULL }, { "--x", "-" } };
	dl_iofile bad[] = { { "-o", out }, { "--log", link_ } };
	dl_iofile twice[] = { { "--log", out }, { "--csv-log", out } };
	dl_err err = { 0 };
	CHECK_INT(dl_io_check(ins, 1, ok, 3, &err), 0);
	CHECK_INT(dl_io_check(ins, 1, bad, 2, &err), DL_EUSAGE);
	CHECK(strstr(err.msg, "--log") && strstr(err.msg, "--train") && !strchr(err.msg, '\n'));
	CHECK_INT(dl_io_check(ins, 1, twice, 2, &err), DL_EUSAGE);
	CHECK(strstr(err.msg, "name the same file"));
	dl_iofile dev[] = { { "--logits", "/dev/full" } }, devin[] = { { "in", "/dev/full" } };
	CHECK_INT(dl_io_check(devin, 1, dev, 1, &err), 0);
	CHECK(file_is(in, "data"));
}

TEST(afile_commit_pair)
{
	char a[512], b[512], nodir[600];
	path(a, sizeof a, "pair-a");
	path(b, sizeof b, "pair-b");
	snprintf(nodir, sizeof nodir, "%s/no/such/dir", dl_test_tmpdir());
	dl_afile fa, fb;
	dl_err err;
	/* a new pair */
	CHECK_INT(dl_afile_open(&fa, a, &err), 0);
	CHECK_INT(dl_afile_open(&fb, b, &err), 0);
	fputs("A1", fa.f);
	fputs("B1", fb.f);
	CHECK_INT(dl_afile_commit_pair(&fa, &fb, &err), 0);
	CHECK(file_is(a, "A1") && file_is(b, "B1"));
	/* b cannot be renamed (a folder is in the way): a keeps its old bytes */
	char bdir[600];
	snprintf(bdir, sizeof bdir, "%s/pair-dir", dl_test_tmpdir());
	mkdir(bdir, 0777);
	CHECK_INT(dl_afile_open(&fa, a, &err), 0);
	CHECK_INT(dl_afile_open(&fb, bdir, &err), 0);
	fputs("A2", fa.f);
	fputs("B2", fb.f);
	CHECK_INT(dl_afile_commit_pair(&fa, &fb, &err), DL_EIO);
	CHECK(file_is(a, "A1") && file_is(b, "B1"));
	/* no temps left */
	dl_err e2;
	CHECK_INT(dl_tmp_sweep(dl_test_tmpdir(), NULL, getpid(), &e2), 0);
	(void)nodir;
	/* a device is written in place, never renamed over */
	CHECK_INT(dl_afile_open(&fa, "/dev/full", &err), 0);
	CHECK(fa.tmp == NULL);
	fputs("x", fa.f);
	CHECK_INT(dl_afile_commit(&fa, &err), DL_EIO);
	struct stat st;
	CHECK(stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode));
}

static volatile sig_atomic_t usr1_seen;
static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
}

/* A handler the process installed before the guard stays (a fuzz harness's
 * SIGALRM timer once killed the fuzzer through the guard); a default one is
 * taken while the guard runs and given back by dl_guard_end. */
TEST(guard_leaves_installed_handlers)
{
	struct sigaction mine, cur, old1, old2;
	memset(&mine, 0, sizeof mine);
	mine.sa_handler = on_usr1;
	sigemptyset(&mine.sa_mask);
	sigaction(SIGUSR1, &mine, &old1);
	signal(SIGUSR2, SIG_DFL);
	sigaction(SIGUSR2, NULL, &old2);
	dl_guard g;
	dl_err err;
	CHECK_INT(dl_guard_start(&g, DL_GUARD_DIE, &err), 0);
	sigaction(SIGUSR1, NULL, &cur);
	CHECK(cur.sa_handler == on_usr1);
	if (cur.sa_handler == on_usr1) {   /* else the guard would kill the runner */
		usr1_seen = 0;
		raise(SIGUSR1);
		CHECK_INT(usr1_seen, 1);
	}
	sigaction(SIGUSR2, NULL, &cur);
	CHECK(cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN);
	dl_guard_end(&g);
	sigaction(SIGUSR1, NULL, &cur);
	CHECK(cur.sa_handler == on_usr1);
	sigaction(SIGUSR2, NULL, &cur);
	CHECK(cur.sa_handler == SIG_DFL);
	sigaction(SIGUSR1, &old1, NULL);
	sigaction(SIGUSR2, &old2, NULL);
}

/* Many jobs under one guard (dl-prep's fuzz target): each job's files are
 * checked, and an output registered again is kept once. */
TEST(guard_add_jobs)
{
	char in[600], out[600];
	path(in, sizeof in, "guard-in");
	path(out, sizeof out, "guard-out");
	write_file(in, "x");
	dl_guard g;
	dl_err err;
	CHECK_INT(dl_guard_start(&g, DL_GUARD_DIE, &err), 0);
	const dl_iofile ins[] = { { "input", in } };
	const dl_iofile outs[] = { { "-o", out }, { "--val-out", NULL } };
	for (int i = 0; i < 3; i++)
		CHECK_INT(dl_guard_add(&g, ins, 1, outs, 2, &err), 0);
	CHECK_INT(g.n, 1);
	const dl_iofile clash[] = { { "-o", in } };
	CHECK_INT(dl_guard_add(&g, ins, 1, clash, 1, &err), DL_EUSAGE);
	CHECK_INT(g.n, 1);
	dl_guard_end(&g);
	CHECK_INT(g.n, 0);
}

/* Every error is one line, whatever names it quotes (the archive fuzzer
 * found an entry name with a newline in a "appears twice" message). */
TEST(err_one_line)
{
	dl_err err;
	CHECK_INT(dl_fail(&err, DL_EDATA, "x.tar: '%s' appears twice", "a\nb\tc\x1b"), DL_EDATA);
	CHECK(!strcmp(err.msg, "x.tar: 'a?b?c?' appears twice"));
	errno = ENOENT;
	CHECK_INT(dl_fail_errno(&err, DL_EIO, "%s", "dir\r\nf"), DL_EIO);
	CHECK(!strchr(err.msg, '\n') && !strchr(err.msg, '\r'));
	CHECK(strstr(err.msg, "dir??f: ") == err.msg);
}
