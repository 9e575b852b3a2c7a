/* Signals and temp outputs: a tool never leaves a half-written output.
 *
 * A tool's main() owns one dl_guard.  dl_guard_start() catches SIGINT,
 * SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGXCPU and
 * SIGXFSZ (those the parent set to be ignored stay ignored, but for SIGINT
 * and SIGTERM: nohup keeps working; SIGPIPE keeps its default, so that
 * `tool | head` stays quiet; a signal this process already handles is left
 * to its handler: a program that embeds a tool's code, like a libFuzzer
 * target whose SIGALRM is its timeout clock, keeps its own);
 * dl_guard_output() names each output file (or output folder) the tool may
 * write, first removing stale temps of it left by dead processes
 * (core/tmpname.h).  When a signal arrives:
 *   - DL_GUARD_DIE (every tool but dl-train): the temps of this process next
 *     to each output (OUTPUT.tmp.PID.*; for a folder, any *.tmp.PID.* in it)
 *     are removed and the process dies by the same signal, as if it had not
 *     been caught (a shell sees 128+N, `make` and `bash` stop as they should);
 *   - DL_GUARD_STOP (dl-train): the first signal only sets g->stop (the
 *     trainer finishes the step, checkpoints and exits 8); a second one
 *     removes the temps and dies as above.
 *
 * How (see docs/DESIGN.md, "Signals"): the handler only stores the signal
 * number in a volatile sig_atomic_t and writes one byte to a self-pipe, both
 * async-signal-safe; a watcher thread blocked on the pipe does the rest
 * outside signal context.  The handler's two sig_atomic_t words (signal, pipe
 * fd) in guard.c are the library's only process-wide state: a signal handler
 * cannot be given a context.  Everything else lives in the dl_guard, so one
 * guard per process (dl_guard_start refuses a second). */
#ifndef DL_CORE_GUARD_H
#define DL_CORE_GUARD_H

#include <pthread.h>
#include <signal.h>
#include "core/error.h"
#include "core/iocheck.h"

typedef enum { DL_GUARD_DIE = 0, DL_GUARD_STOP = 1 } dl_guard_mode;

typedef struct dl_guard {
	dl_guard_mode mode;
	volatile sig_atomic_t stop;   /* signal number of the first signal, or 0 */
	pthread_mutex_t mu;           /* guards the list below */
	char **paths;                 /* outputs (owned) */
	char *isdir;                  /* per output: 1 = a folder */
	int n, cap;
	int fds[2];                   /* the self-pipe */
	pthread_t watcher;
	int running;
	struct sigaction old[16];
	unsigned taken;               /* bit i: the guard handles caught[i] (guard.c) */
} dl_guard;

/* Installs the handlers and starts the watcher thread.  Call it early in
 * main(), before other threads exist is not required. */
int dl_guard_start(dl_guard *g, dl_guard_mode mode, dl_err *err);

/* Registers an output (file, or folder with is_dir) and sweeps stale temps
 * of it (dead owners).  A path registered again is kept once.  Safe to
 * call while the watcher runs. */
int dl_guard_output(dl_guard *g, const char *path, int is_dir, dl_err *err);

/* One job's files on a started guard: dl_io_check(in, out) (DL_EUSAGE),
 * then dl_guard_output for each output file.  For a process that runs many
 * jobs under one guard (dl-prep's fuzz target); the guard stays started. */
int dl_guard_add(dl_guard *g, const dl_iofile *in, int nin, const dl_iofile *out, int nout,
		 dl_err *err);

/* A tool's usual start: dl_guard_start, then dl_guard_add.  On failure the
 * guard is ended. */
int dl_guard_begin(dl_guard *g, dl_guard_mode mode, const dl_iofile *in, int nin,
		   const dl_iofile *out, int nout, dl_err *err);

/* Restores the old handlers and stops the watcher; safe on a zeroed guard.
 * A signal from here on has its default effect. */
void dl_guard_end(dl_guard *g);

/* Removes this process's temps of every registered output now (the watcher
 * does this on a signal; exposed for tests). */
void dl_guard_clean(dl_guard *g);

#endif
