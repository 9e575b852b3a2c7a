#include "core/guard.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/tmpname.h"

static const int caught[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
			      SIGALRM, SIGXCPU, SIGXFSZ };
#define NCAUGHT ((int)(sizeof caught / sizeof caught[0]))

/* The only process-wide state (guard.h says why): what the handler may touch. */
static volatile sig_atomic_t last_signal;
static volatile sig_atomic_t pipe_wr = -1;

static void on_signal(int sig)
{
	int saved = errno;
	last_signal = sig;
	unsigned char b = (unsigned char)sig;
	if (pipe_wr >= 0 && write(pipe_wr, &b, 1) < 0) { /* pipe full: a byte is pending anyway */ }
	errno = saved;
}

static void split(const char *path, char **dir, char **base)
{
	char *a = strdup(path), *b = strdup(path);
	*dir = a && b ? strdup(dirname(a)) : NULL;
	*base = a && b ? strdup(basename(b)) : NULL;
	free(a);
	free(b);
}

void dl_guard_clean(dl_guard *g)
{
	pthread_mutex_lock(&g->mu);
	for (int i = 0; i < g->n; i++) {
		if (g->isdir[i]) {
			dl_tmp_sweep(g->paths[i], NULL, getpid(), NULL);
			continue;
		}
		char *dir, *base;
		split(g->paths[i], &dir, &base);
		if (dir && base)
			dl_tmp_sweep(dir, base, getpid(), NULL);
		free(dir);
		free(base);
	}
	pthread_mutex_unlock(&g->mu);
}

/* Dies by sig with its default action, after the temps are gone. */
static void die_by(dl_guard *g, int sig)
{
	dl_guard_clean(g);
	signal(sig, SIG_DFL);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	raise(sig);
	_exit(128 + sig);   /* SIGQUIT etc. may have been ignored by a parent: exit anyway */
}

static void *watch(void *arg)
{
	dl_guard *g = arg;
	unsigned char b;
	for (;;) {
		ssize_t r = read(g->fds[0], &b, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || b == 0)   /* 0: dl_guard_end */
			return NULL;
		int sig = last_signal ? last_signal : b;
		if (g->mode == DL_GUARD_STOP && !g->stop) {
			g->stop = sig;
			continue;
		}
		die_by(g, sig);
	}
}

int dl_guard_start(dl_guard *g, dl_guard_mode mode, dl_err *err)
{
	memset(g, 0, sizeof *g);
	g->fds[0] = g->fds[1] = -1;
	g->mode = mode;
	if (pipe_wr >= 0)
		return dl_fail(err, DL_EFAIL, "signal guard: already started in this process");
	if (pthread_mutex_init(&g->mu, NULL))
		return dl_fail(err, DL_EFAIL, "signal guard: cannot create a mutex");
	if (pipe2(g->fds, O_CLOEXEC) != 0) {
		pthread_mutex_destroy(&g->mu);
		return dl_fail_errno(err, DL_EFAIL, "signal guard: cannot create a pipe");
	}
	fcntl(g->fds[1], F_SETFL, O_NONBLOCK);
	/* the watcher gets no signals itself: it must be free to act on them */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&g->watcher, NULL, watch, g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		close(g->fds[0]);
		close(g->fds[1]);
		pthread_mutex_destroy(&g->mu);
		return dl_fail(err, DL_EFAIL, "signal guard: cannot start a thread: %s", strerror(rc));
	}
	g->running = 1;
	pipe_wr = g->fds[1];
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	/* a signal the parent ignores stays ignored (nohup's SIGHUP, a shell's
	 * background jobs' SIGQUIT), except SIGINT and SIGTERM: a stop request
	 * we always honour, cleanly.  A handler installed in this process is
	 * not ours to replace (a tool's main installs none before the guard;
	 * a fuzz harness's SIGALRM timer must keep ticking). */
	for (int i = 0; i < NCAUGHT; i++) {
		sigaction(caught[i], NULL, &g->old[i]);
		void (*h)(int) = g->old[i].sa_handler;
		int handled = (g->old[i].sa_flags & SA_SIGINFO) || (h != SIG_DFL && h != SIG_IGN);
		if (!handled && (h != SIG_IGN || caught[i] == SIGINT || caught[i] == SIGTERM)) {
			sigaction(caught[i], &sa, NULL);
			g->taken |= 1u << i;
		}
	}
	return 0;
}

int dl_guard_output(dl_guard *g, const char *path, int is_dir, dl_err *err)
{
	if (!path || !strcmp(path, "-"))
		return 0;
	pthread_mutex_lock(&g->mu);
	int rc = 0;
	if (g->n == g->cap) {
		int cap = g->cap ? 2 * g->cap : 8;
		char **p = realloc(g->paths, (size_t)cap * sizeof *p);
		if (p)
			g->paths = p;
		char *d = p ? realloc(g->isdir, (size_t)cap) : NULL;
		if (d)
			g->isdir = d;
		if (!p || !d)
			rc = dl_fail(err, DL_EFAIL, "out of memory");
		else
			g->cap = cap;
	}
	int known = 0;
	for (int i = 0; i < g->n && !known; i++)
		known = g->isdir[i] == (char)(is_dir != 0) && !strcmp(g->paths[i], path);
	if (!rc && !known && !(g->paths[g->n] = strdup(path)))
		rc = dl_fail(err, DL_EFAIL, "out of memory");
	if (!rc && !known)
		g->isdir[g->n++] = (char)(is_dir != 0);
	pthread_mutex_unlock(&g->mu);
	if (rc)
		return rc;
	/* stale temps of dead owners */
	if (is_dir)
		return dl_tmp_sweep(path, NULL, 0, err) < 0 ? err->code : 0;
	char *dir, *base;
	split(path, &dir, &base);
	if (!dir || !base)
		rc = dl_fail(err, DL_EFAIL, "out of memory");
	else if (dl_tmp_sweep(dir, base, 0, err) < 0)
		rc = err->code;
	free(dir);
	free(base);
	return rc;
}

void dl_guard_end(dl_guard *g)
{
	if (!g->running)
		return;
	for (int i = 0; i < NCAUGHT; i++)
		if (g->taken & (1u << i))
			sigaction(caught[i], &g->old[i], NULL);
	pipe_wr = -1;
	unsigned char z = 0;
	while (write(g->fds[1], &z, 1) < 0 && errno == EINTR)
		;
	pthread_join(g->watcher, NULL);
	close(g->fds[0]);
	close(g->fds[1]);
	for (int i = 0; i < g->n; i++)
		free(g->paths[i]);
	free(g->paths);
	free(g->isdir);
	pthread_mutex_destroy(&g->mu);
	g->running = 0;
	g->taken = 0;
	g->n = g->cap = 0;
	g->paths = NULL;
	g->isdir = NULL;
}

int dl_guard_begin(dl_guard *g, dl_guard_mode mode, const dl_iofile *in, int nin,
		   const dl_iofile *out, int nout, dl_err *err)
{
	int rc = dl_guard_start(g, mode, err);
	if (!rc)
		rc = dl_guard_add(g, in, nin, out, nout, err);
	if (rc)
		dl_guard_end(g);
	return rc;
}

int dl_guard_add(dl_guard *g, const dl_iofile *in, int nin, const dl_iofile *out, int nout,
		 dl_err *err)
{
	int rc = dl_io_check(in, nin, out, nout, err);
	for (int i = 0; i < nout && !rc; i++)
		rc = dl_guard_output(g, out[i].path, 0, err);
	return rc;
}
