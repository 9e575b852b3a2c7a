/* dl-train's run settings: what the command line says about a run, checked,
 * with defaults filled in, and recorded as JSON (checkpoint metadata
 * "dl.run") so --resume can refuse different settings. */
#ifndef DL_TRAIN_TOOL_RUN_H
#define DL_TRAIN_TOOL_RUN_H

#include <signal.h>
#include "backend/backend.h"
#include "core/buf.h"
#include "core/opt.h"
#include "nn/optim.h"
#include "train/dataset.h"
#include "train/schedule.h"
#include "train/trainer.h"

typedef enum { NORM_DATASET = 0, NORM_NONE, NORM_01 } norm_mode;

typedef struct run_settings {
	const char *model, *train, *val;
	double val_fraction;
	long epochs, steps, batch, seed;
	dl_optim_kind optim;
	double lr, momentum, weight_decay, clip_norm;
	int nesterov;
	dl_schedule sched;        /* lr, kind, step_size, gamma, milestones, warmup */
	const char *milestones;   /* as given */
	dl_aug aug;
	norm_mode norm;
	long checkpoint_every, patience;
	dl_monitor monitor;
	const char *precision;    /* fp32 (default), tf32, bf16: --precision */
	const char *init, *freeze;   /* --init FILE, --freeze LAYERS (NULL: none) */
	int ranks;                /* data-parallel processes (1: one) */
	int sync_bn;              /* batch-norm statistics over all ranks */
} run_settings;

/* Everything on dl-train's command line. */
typedef struct cli {
	run_settings r;
	const char *out, *resume, *device, *log_path, *csv_path, *save_init, *augment;
	dl_sched_kind schedule;
	long warmup;
	long threads, step_size;
	double gamma, time_limit, max_cost, price;
	double diverge_factor;    /* --diverge-factor (dl_train_opts) */
	int summary, quiet, devices;
	double max_memory;        /* --max-memory GiB of activations (0: physical memory) */
	int resume_fresh;         /* --resume of a run with no checkpoint yet: start it */
	double comm_timeout, bucket_mb;
	struct dl_dist *dist;     /* the job (a world of one outside mpirun/srun) */
} cli;

/* The whole run after the command line was checked: data, device, model
 * (new or resumed), logs, training, summary.  Returns the exit code. */
int run_session(cli *c, volatile sig_atomic_t *stop, dl_err *err);

/* Outputs never destroy inputs, and every output is guarded against signals
 * (core/iocheck.h, core/guard.h): checks the run's files (DL_EUSAGE) and
 * registers its outputs with g, sweeping stale temps (io.c). */
struct dl_guard;
int run_io(const cli *c, struct dl_guard *g, dl_err *err);
/* "dir/name" in a new string (free it), NULL when out of memory. */
char *run_join(const char *dir, const char *name);

/* "crop=4,flip", "flip", "crop=2", "none"; DL_EUSAGE. */
int run_parse_augment(const char *s, dl_aug *aug, dl_err *err);
/* The names "dataset", "none", "0-1" (--normalize's choices). */
extern const dl_opt_choice run_norm_choices[];
const char *run_norm_name(norm_mode m);

/* The normalisation a mode gives for dataset d (dataset falls back to 0-1
 * when d has no dl.mean/dl.std); *note says what was used. */
void run_norm(norm_mode mode, const dl_dataset *d, dl_norm *norm, const char **note);

/* The settings as one JSON object (dl.run).  "ranks" and "sync_bn" are
 * written only when not 1 and 0, so one-process runs keep the JSON they
 * always had. */
void run_json(const run_settings *r, dl_buf *b);

/* remember.c: --resume RUN alone.  remember_args: the options RUN's
 * checkpoint recorded, as "--opt=value" strings to parse before the
 * command line's (owned by the caller); no checkpoint yet: *fresh = 1 when
 * have_model (-m and --train given), else DL_EUSAGE saying what to do; no
 * RUN: DL_EIO.  remember_check: the run's settings now against the
 * recorded ones (DL_EUSAGE naming the option and both values).
 * remember_prune_log: drops log lines of epochs after `epoch` (JSON lines
 * or CSV rows), atomically. */
int remember_args(const char *dir, int have_model, char ***out, int *nout, int *fresh,
		  dl_err *err);
int remember_check(const char *dir, const char *now_json, dl_err *err);
int remember_prune_log(const char *path, int epoch, int csv, dl_err *err);

#endif
