/* dl-train: train a model on a dataset file; writes RUNDIR/model.safetensors
 * (the checkpoint), RUNDIR/best.safetensors (best validation) and
 * RUNDIR/log.jsonl.
 *
 * Process state: the one piece is `stop_requested`, a sig_atomic_t that the
 * SIGINT/SIGTERM handler sets and the training loop reads after each step
 * (then it checkpoints and dl-train exits 8). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/afile.h"
#include "core/opt.h"
#include "dist/dist.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "run.h"
#include "train/trainer.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* First SIGINT/SIGTERM/SIGUSR1: finish the step, checkpoint, exit 8.  The handler
 * resets itself, so a second signal ends the process at once. */
static void catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* Open MPI's mpirun forwards SIGUSR1 to every rank and then exits
	 * with their code; SIGTERM it answers by killing the job after 1 s */
	sigaction(SIGUSR1, &sa, NULL);
}

/* Checks option values and fills in defaults; DL_EUSAGE. */
static int check_cli(cli *c, int npos, char **argv, dl_err *err)
{
	run_settings *r = &c->r;
	if (npos)
		return dl_fail(err, DL_EUSAGE, "unexpected argument '%s'", argv[1]);
	if (c->resume && c->out && strcmp(c->resume, c->out))
		return dl_fail(err, DL_EUSAGE, "--resume %s and -o %s name different run directories",
			       c->resume, c->out);
	if (c->resume)
		c->out = c->resume;
	if (!r->model)
		return dl_fail(err, DL_EUSAGE, "missing -m MODEL");
	if (!c->summary && (!r->train || !c->out))
		return dl_fail(err, DL_EUSAGE, "missing %s", !r->train ? "--train FILE" : "-o RUNDIR");
	if (r->epochs < 1 || r->epochs > 1000000 || r->steps < 0 || r->steps > (1L << 40))
		return dl_fail(err, DL_EUSAGE, "--epochs must be in [1, 1000000], --steps >= 0");
	if (r->batch < 1 || r->batch > 65536)
		return dl_fail(err, DL_EUSAGE, "--batch must be in [1, 65536]");
	if (c->threads < 0 || c->threads > 1024)
		return dl_fail(err, DL_EUSAGE, "--threads must be in [0, 1024]");
	if (dl_optim_parse(c->optim, &r->optim))
		return dl_fail(err, DL_EUSAGE, "unknown optimizer '%s' (expected sgd, adam or adamw)", c->optim);
	if (isnan(r->lr))
		r->lr = r->optim == DL_OPTIM_SGD ? 1e-2 : 1e-3;
	if (isnan(r->weight_decay))
		r->weight_decay = r->optim == DL_OPTIM_ADAMW ? 1e-2 : 0;
	if (!(r->lr > 0) || r->momentum < 0 || r->momentum >= 1 || r->weight_decay < 0 ||
	    r->clip_norm < 0)
		return dl_fail(err, DL_EUSAGE, "--lr must be > 0, --momentum in [0, 1), --weight-decay and --clip-norm >= 0");
	if (r->nesterov && (r->optim != DL_OPTIM_SGD || r->momentum == 0))
		return dl_fail(err, DL_EUSAGE, "--nesterov needs --optimizer sgd and --momentum > 0");
	if (r->val && r->val_fraction != 0)
		return dl_fail(err, DL_EUSAGE, "--val and --val-fraction exclude each other");
	if (r->val_fraction < 0 || r->val_fraction >= 1)
		return dl_fail(err, DL_EUSAGE, "--val-fraction must be in (0, 1)");
	dl_schedule_init(&r->sched, r->lr);
	if (dl_schedule_parse(c->schedule, &r->sched.kind))
		return dl_fail(err, DL_EUSAGE, "unknown schedule '%s' (constant, step, multistep, cosine, onecycle)",
			       c->schedule);
	if (c->step_size < 1 || c->step_size > 1000000 || !(c->gamma > 0))
		return dl_fail(err, DL_EUSAGE, "--step-size must be >= 1 and --gamma > 0");
	r->sched.step_size = (int)c->step_size;
	r->sched.warmup = c->warmup;
	r->sched.gamma = c->gamma;
	int rc;
	if (r->milestones && (rc = dl_schedule_milestones(&r->sched, r->milestones, err)))
		return rc;
	if (r->sched.warmup < 0 || r->checkpoint_every < 0 || r->patience < 0 || c->time_limit < 0 ||
	    c->max_cost < 0 || c->price < 0)
		return dl_fail(err, DL_EUSAGE, "--warmup, --checkpoint-every, --early-stop, --time-limit, --max-cost and --price-per-hour must be >= 0");
	if (c->max_cost > 0 && !(c->price > 0))
		return dl_fail(err, DL_EUSAGE, "--max-cost needs --price-per-hour");
	if ((rc = run_parse_augment(c->augment, &r->aug, err)) ||
	    (rc = run_parse_norm(c->normalize, &r->norm, err)))
		return rc;
	if (dl_monitor_parse(c->monitor, &r->monitor))
		return dl_fail(err, DL_EUSAGE, "--monitor '%s': expected val_loss, val_accuracy or val_mae",
			       c->monitor);
	if (r->patience && !r->val && r->val_fraction == 0)
		return dl_fail(err, DL_EUSAGE, "--early-stop needs validation data (--val or --val-fraction)");
	if (!(c->comm_timeout >= 1 && c->comm_timeout <= 86400) || !(c->bucket_mb > 0 && c->bucket_mb <= 4096))
		return dl_fail(err, DL_EUSAGE, "--comm-timeout must be in [1, 86400] seconds and --bucket-mb in (0, 4096]");
	return 0;
}

/* Ends a run that failed.  With several ranks: an error every rank meets at
 * the same point (an interrupt, divergence, a bad option or file) is said
 * by rank 0 and every rank exits with it; any other (a rank that died or
 * hangs, an I/O error on one rank) is said by the rank that met it, which
 * then ends the whole job (MPI_Abort) so no rank waits forever. */
static int fail_run(dl_dist *dist, dl_err *err)
{
	int rc = err->code, everywhere = rc == DL_EINTR || rc == DL_EDIVERGED || rc == DL_EUSAGE ||
		 rc == DL_EDATA;
	if (!dist || dl_dist_size(dist) < 2) {
		dl_dist_close(dist);
		return dl_tool_fail("dl-train", err);
	}
	if (everywhere) {
		if (dl_dist_rank(dist) == 0)
			dl_tool_fail("dl-train", err);
		dl_dist_close(dist);
		return rc;
	}
	char msg[sizeof err->msg];
	snprintf(msg, sizeof msg, "%s", err->msg);
	dl_fail(err, rc, "rank %d of %d: %s", dl_dist_rank(dist), dl_dist_size(dist), msg);
	dl_tool_fail("dl-train", err);
	dl_dist_abort(dist, rc);
	return rc;
}


const char *stop_text(dl_stop_reason why)
{
	switch (why) {
	case DL_STOP_EARLY: return "stopped early (no improvement)";
	case DL_STOP_TIME: return "stopped at the time limit";
	case DL_STOP_COST: return "stopped at the cost limit";
	default: return "finished";
	}
}

int main(int argc, char **argv)
{
	cli c = {
		.r = { .epochs = 1, .batch = 128, .seed = 1, .lr = NAN, .weight_decay = NAN },
		.optim = "adam", .device = "auto", .schedule = "constant", .augment = "none",
		.normalize = "0-1", .monitor = "val_loss", .step_size = 1, .gamma = 0.1,
		.comm_timeout = 60, .bucket_mb = 4,
	};
	run_settings *r = &c.r;
	const dl_opt opts[] = {
		{ 'm', "model", DL_OPT_STRING, &r->model, "MODEL",
		  "built-in model (perceptron, mlp, lenet, vgg16, resnet18, resnet50, pilotnet,\n"
		  "gtsrb-cnn) or a .spec file (format: man dl-model)" },
		{ 0, "train", DL_OPT_STRING, &r->train, "FILE", "training dataset (dl-prep output)" },
		{ 0, "val", DL_OPT_STRING, &r->val, "FILE", "validation dataset, scored after each epoch" },
		{ 0, "val-fraction", DL_OPT_FLOAT, &r->val_fraction, "F",
		  "hold out a seeded fraction F of --train for validation instead" },
		{ 'o', "output", DL_OPT_STRING, &c.out, "DIR",
		  "run directory: model.safetensors, best.safetensors, log.jsonl" },
		{ 0, "resume", DL_OPT_STRING, &c.resume, "DIR",
		  "continue the run in DIR exactly where its checkpoint left it (same options)" },
		{ 'e', "epochs", DL_OPT_INT, &r->epochs, "N", "passes over the training set (default 1)" },
		{ 0, "steps", DL_OPT_INT, &r->steps, "N", "run length in optimizer steps instead of epochs" },
		{ 'b', "batch", DL_OPT_INT, &r->batch, "N", "samples per step (default 128)" },
		{ 0, "optimizer", DL_OPT_STRING, &c.optim, "NAME", "adam (default), adamw or sgd" },
		{ 0, "lr", DL_OPT_FLOAT, &r->lr, "LR",
		  "learning rate; onecycle: max_lr (default 0.001 adam/adamw, 0.01 sgd)" },
		{ 0, "momentum", DL_OPT_FLOAT, &r->momentum, "M", "SGD momentum (default 0)" },
		{ 0, "nesterov", DL_OPT_FLAG, &r->nesterov, NULL, "SGD: Nesterov momentum" },
		{ 0, "weight-decay", DL_OPT_FLOAT, &r->weight_decay, "WD",
		  "L2 for sgd and adam, decoupled for adamw (default 0; adamw 0.01)" },
		{ 0, "clip-norm", DL_OPT_FLOAT, &r->clip_norm, "X", "clip the gradient's global L2 norm to X" },
		{ 0, "schedule", DL_OPT_STRING, &c.schedule, "NAME",
		  "constant (default), step, multistep, cosine or onecycle" },
		{ 0, "step-size", DL_OPT_INT, &c.step_size, "EPOCHS", "step: decay every EPOCHS (default 1)" },
		{ 0, "gamma", DL_OPT_FLOAT, &c.gamma, "G", "step, multistep: decay factor (default 0.1)" },
		{ 0, "milestones", DL_OPT_STRING, &r->milestones, "E1,E2,..", "multistep: epochs to decay at" },
		{ 0, "warmup", DL_OPT_INT, &c.warmup, "STEPS",
		  "linear warmup over the first STEPS optimizer steps" },
		{ 0, "augment", DL_OPT_STRING, &c.augment, "SPEC",
		  "crop=N (pad N, random crop), flip (horizontal), e.g. crop=4,flip" },
		{ 0, "normalize", DL_OPT_STRING, &c.normalize, "MODE",
		  "0-1 (pixel/255, default), dataset (its dl.mean/dl.std) or none" },
		{ 0, "checkpoint-every", DL_OPT_INT, &r->checkpoint_every, "N",
		  "also checkpoint every N steps (default: at epoch ends)" },
		{ 0, "early-stop", DL_OPT_INT, &r->patience, "PATIENCE",
		  "stop after PATIENCE epochs without improvement of --monitor" },
		{ 0, "monitor", DL_OPT_STRING, &c.monitor, "METRIC",
		  "val_loss (default), val_accuracy or val_mae: early stop and best.safetensors" },
		{ 0, "time-limit", DL_OPT_FLOAT, &c.time_limit, "SECONDS",
		  "stop cleanly (resumable, exit 0) after SECONDS of training" },
		{ 0, "max-cost", DL_OPT_FLOAT, &c.max_cost, "DOLLARS",
		  "stop cleanly once this run has cost DOLLARS at --price-per-hour" },
		{ 0, "price-per-hour", DL_OPT_FLOAT, &c.price, "P", "machine price in dollars per hour" },
		{ 0, "seed", DL_OPT_INT, &r->seed, "S", "seed of initialisation, shuffling, augmentation (default 1)" },
		{ 'j', "threads", DL_OPT_INT, &c.threads, "N", "CPU threads (default: all cores)" },
		{ 0, "device", DL_OPT_STRING, &c.device, "DEV", "auto (default), cpu, cuda or cuda:N" },
		{ 0, "devices", DL_OPT_FLAG, &c.devices, NULL,
		  "list the CPU and CUDA devices (and the ranks under mpirun/srun) and exit" },
		{ 0, "sync-bn", DL_OPT_FLAG, &r->sync_bn, NULL,
		  "under mpirun/srun: batch-norm statistics over all ranks (as one process)" },
		{ 0, "comm-timeout", DL_OPT_FLOAT, &c.comm_timeout, "SECONDS",
		  "under mpirun/srun: end the job when a rank is silent this long (default 60)" },
		{ 0, "bucket-mb", DL_OPT_FLOAT, &c.bucket_mb, "MB",
		  "under mpirun/srun: gradient all-reduce bucket size (default 4)" },
		{ 0, "log", DL_OPT_STRING, &c.log_path, "FILE", "JSON-lines log (default RUNDIR/log.jsonl)" },
		{ 0, "csv-log", DL_OPT_STRING, &c.csv_path, "FILE", "also log one CSV row per epoch" },
		{ 0, "save-init", DL_OPT_STRING, &c.save_init, "FILE",
		  "also write the initial weights as a checkpoint (for side-by-side runs)" },
		{ 0, "summary", DL_OPT_FLAG, &c.summary, NULL,
		  "print the model's layers and parameter counts (alone: print and exit)" },
		{ 'q', "quiet", DL_OPT_FLAG, &c.quiet, NULL, "no epoch lines on stderr" },
		{ 0, NULL, 0, NULL, NULL, NULL },
	};
	const dl_cmd cmd = {
		"dl-train",
		"-m MODEL --train FILE [--val FILE] -o RUNDIR [options]\n"
		"--resume RUNDIR -m MODEL --train FILE [the same options]\n-m MODEL --summary",
		"Trains a model with the loss its spec names (softmax cross-entropy by default,\n"
		"or mse/huber on regression targets).  One line per epoch on stderr (loss,\n"
		"accuracy or mae/rmse, the same for validation, lr, seconds, images/s), a bar\n"
		"on a terminal, JSON lines in the log.  The checkpoint (weights, buffers,\n"
		"optimizer state, model spec, position in the run) is rewritten atomically\n"
		"at epoch ends, every --checkpoint-every steps and when the run stops.\n"
		"SIGINT/SIGTERM: finish the step, checkpoint, exit 8; --resume continues\n"
		"bit-identically (CPU, same --threads).  Non-finite loss: exit 9, the last\n"
		"good checkpoint kept.  A CPU run is bit-reproducible for a fixed --seed and\n"
		"--threads.  Under mpirun -np N or srun: one model data-parallel, --batch\n"
		"global, rank 0 writes (man dl-train, docs/distributed.md).",
		opts,
		"examples:\n"
		"  dl-train -m lenet --summary\n"
		"  dl-train -m lenet --train train.safetensors --val val.safetensors -o runs/lenet \\\n"
		"      --epochs 5 --optimizer adam --lr 1e-3 --batch 128\n"
		"  dl-train -m lenet --train train.safetensors --val-fraction 0.1 -o runs/l2 \\\n"
		"      --optimizer sgd --momentum 0.9 --nesterov --schedule onecycle --lr 0.1 \\\n"
		"      --epochs 10 --augment crop=2 --early-stop 3 --time-limit 3600\n",
	};
	dl_err err = { 0 };
	int npos, rc;
	if ((rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err)))
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-train", &err);
	if (!c.devices && (rc = check_cli(&c, npos, argv, &err)))
		return dl_tool_fail("dl-train", &err);
	/* under mpirun/srun: join the job (a world of one otherwise) */
	if ((rc = dl_dist_open(&c.dist, c.comm_timeout, &err)))
		return dl_tool_fail("dl-train", &err);
	int rank = dl_dist_rank(c.dist);
	r->ranks = dl_dist_size(c.dist);
	if (c.devices) {
		if ((rc = dl_dist_list(c.dist, stdout, &err)) ||
		    (rank == 0 && (rc = dl_backend_list(stdout, &err))))
			return fail_run(c.dist, &err);
		dl_dist_close(c.dist);
		return 0;
	}
	if (rank != 0)
		c.quiet = 1;   /* rank 0 speaks for the job */
	catch_signals();
	rc = run_session(&c, &stop_requested, &err);
	if (!rc && fflush(stdout))
		rc = dl_fail_errno(&err, DL_EIO, "stdout: write failed");
	if (rc)
		return fail_run(c.dist, &err);
	dl_dist_close(c.dist);
	return 0;
}
