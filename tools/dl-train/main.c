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

/* First SIGINT/SIGTERM: finish the step, checkpoint, exit 8.  The handler
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
}

/* Checks what the option table cannot (ranges and choices are checked
 * there: lib/core/opt.h): arguments, options that go together, defaults
 * that depend on other options; DL_EUSAGE. */
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
	if (isnan(r->lr))
		r->lr = r->optim == DL_OPTIM_SGD ? 1e-2 : 1e-3;
	if (isnan(r->weight_decay))
		r->weight_decay = r->optim == DL_OPTIM_ADAMW ? 1e-2 : 0;
	if (r->nesterov && (r->optim != DL_OPTIM_SGD || r->momentum == 0))
		return dl_fail(err, DL_EUSAGE, "--nesterov needs --optimizer sgd and --momentum > 0");
	if (r->val && r->val_fraction != 0)
		return dl_fail(err, DL_EUSAGE, "--val and --val-fraction exclude each other");
	dl_schedule_init(&r->sched, r->lr);
	r->sched.kind = c->schedule;
	r->sched.step_size = (int)c->step_size;
	r->sched.warmup = c->warmup;
	r->sched.gamma = c->gamma;
	int rc;
	if (r->milestones && (rc = dl_schedule_milestones(&r->sched, r->milestones, err)))
		return rc;
	if (c->max_cost > 0 && !(c->price > 0))
		return dl_fail(err, DL_EUSAGE, "--max-cost needs --price-per-hour");
	if ((rc = run_parse_augment(c->augment, &r->aug, err)))
		return rc;
	if (r->patience && !r->val && r->val_fraction == 0)
		return dl_fail(err, DL_EUSAGE, "--early-stop needs validation data (--val or --val-fraction)");
	return 0;
}


int main(int argc, char **argv)
{
	cli c = {
		.r = { .epochs = 1, .batch = 128, .seed = 1, .lr = NAN, .weight_decay = NAN,
		       .optim = DL_OPTIM_ADAM, .norm = NORM_01, .monitor = DL_MON_VAL_LOSS },
		.device = "auto", .schedule = DL_SCHED_CONSTANT, .augment = "none", .step_size = 1,
		.gamma = 0.1,
	};
	run_settings *r = &c.r;
	const dl_opt opts[] = {
		DL_OPT_STRING('m', "model", &r->model, "MODEL",
		  "built-in model (perceptron, mlp, lenet, vgg16, resnet18, resnet50, pilotnet,\n"
		  "gtsrb-cnn) or a .spec file (format: man dl-model)"),
		DL_OPT_STRING(0, "train", &r->train, "FILE", "training dataset (dl-prep output)"),
		DL_OPT_STRING(0, "val", &r->val, "FILE", "validation dataset, scored after each epoch"),
		DL_OPT_FLOAT(0, "val-fraction", &r->val_fraction, "F",
		  "hold out a seeded fraction F of --train for validation instead",
		  DL_MIN(0), DL_BELOW(1)),
		DL_OPT_STRING('o', "output", &c.out, "DIR",
		  "run directory: model.safetensors, best.safetensors, log.jsonl"),
		DL_OPT_STRING(0, "resume", &c.resume, "DIR",
		  "continue the run in DIR exactly where its checkpoint left it (same options)"),
		DL_OPT_INT('e', "epochs", &r->epochs, "N", "passes over the training set (default 1)",
			   DL_MIN(1), DL_MAX(1000000)),
		DL_OPT_INT(0, "steps", &r->steps, "N", "run length in optimizer steps instead of epochs",
			   DL_MIN(0), DL_MAX(1L << 40)),
		DL_OPT_INT('b', "batch", &r->batch, "N", "samples per step (default 128)", DL_MIN(1),
			   DL_MAX(65536)),
		DL_OPT_FLOAT(0, "max-memory", &c.max_memory, "GIB",
		  "refuse a batch whose activations need more (default: physical memory)",
		  DL_MIN(0), DL_MAX(1e6)),
		DL_OPT_CHOICE(0, "optimizer", &r->optim, "NAME", dl_optim_choices,
			      "the update rule (default adam)"),
		DL_OPT_FLOAT(0, "lr", &r->lr, "LR",
		  "learning rate; onecycle: max_lr (default 0.001 adam/adamw, 0.01 sgd)", DL_ABOVE(0)),
		DL_OPT_FLOAT(0, "momentum", &r->momentum, "M", "SGD momentum (default 0)", DL_MIN(0),
			     DL_BELOW(1)),
		DL_OPT_FLAG(0, "nesterov", &r->nesterov, "SGD: Nesterov momentum"),
		DL_OPT_FLOAT(0, "weight-decay", &r->weight_decay, "WD",
		  "L2 for sgd and adam, decoupled for adamw (default 0; adamw 0.01)", DL_MIN(0)),
		DL_OPT_FLOAT(0, "clip-norm", &r->clip_norm, "X", "clip the gradient's global L2 norm to X",
			     DL_MIN(0)),
		DL_OPT_CHOICE(0, "schedule", &c.schedule, "NAME", dl_schedule_choices,
			      "learning-rate schedule (default constant)"),
		DL_OPT_INT(0, "step-size", &c.step_size, "EPOCHS", "step: decay every EPOCHS (default 1)",
			   DL_MIN(1), DL_MAX(1000000)),
		DL_OPT_FLOAT(0, "gamma", &c.gamma, "G", "step, multistep: decay factor (default 0.1)",
			     DL_ABOVE(0)),
		DL_OPT_STRING(0, "milestones", &r->milestones, "E1,E2,..", "multistep: epochs to decay at"),
		DL_OPT_INT(0, "warmup", &c.warmup, "STEPS",
		  "linear warmup over the first STEPS optimizer steps", DL_MIN(0)),
		DL_OPT_STRING(0, "augment", &c.augment, "SPEC",
		  "crop=N (pad N, random crop), flip (horizontal), e.g. crop=4,flip"),
		DL_OPT_CHOICE(0, "normalize", &r->norm, "MODE", run_norm_choices,
			      "0-1 (pixel/255, default), dataset (its dl.mean/dl.std) or none"),
		DL_OPT_INT(0, "checkpoint-every", &r->checkpoint_every, "N",
		  "also checkpoint every N steps (default: at epoch ends)", DL_MIN(0)),
		DL_OPT_INT(0, "early-stop", &r->patience, "PATIENCE",
		  "stop after PATIENCE epochs without improvement of --monitor", DL_MIN(0)),
		DL_OPT_CHOICE(0, "monitor", &r->monitor, "METRIC", dl_monitor_choices,
			      "what early stop and best.safetensors watch (default val_loss)"),
		DL_OPT_FLOAT(0, "time-limit", &c.time_limit, "SECONDS",
		  "stop cleanly (resumable, exit 0) after SECONDS of training", DL_MIN(0)),
		DL_OPT_FLOAT(0, "max-cost", &c.max_cost, "DOLLARS",
		  "stop cleanly once this run has cost DOLLARS at --price-per-hour", DL_MIN(0)),
		DL_OPT_FLOAT(0, "price-per-hour", &c.price, "P", "machine price in dollars per hour",
			     DL_MIN(0)),
		DL_OPT_INT(0, "seed", &r->seed, "S", "seed of initialisation, shuffling, augmentation (default 1)"),
		DL_OPT_INT('j', "threads", &c.threads, "N", "CPU threads (default: all cores)", DL_MIN(0),
			   DL_MAX(1024)),
		DL_OPT_STRING(0, "device", &c.device, "DEV", "auto (default), cpu, cuda or cuda:N"),
		DL_OPT_FLAG(0, "devices", &c.devices, "list the CPU and CUDA devices and exit"),
		DL_OPT_STRING(0, "log", &c.log_path, "FILE", "JSON-lines log (default RUNDIR/log.jsonl)"),
		DL_OPT_STRING(0, "csv-log", &c.csv_path, "FILE", "also log one CSV row per epoch"),
		DL_OPT_STRING(0, "save-init", &c.save_init, "FILE",
		  "also write the initial weights as a checkpoint (for side-by-side runs)"),
		DL_OPT_FLAG(0, "summary", &c.summary,
		  "print the model's layers and parameter counts (alone: print and exit)"),
		DL_OPT_FLAG('q', "quiet", &c.quiet, "no epoch lines on stderr"),
		DL_OPT_END,
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
		"--threads.",
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
	if (c.devices)
		return dl_backend_list(stdout, &err) ? dl_tool_fail("dl-train", &err) : 0;
	if ((rc = check_cli(&c, npos, argv, &err)))
		return dl_tool_fail("dl-train", &err);
	catch_signals();
	rc = run_session(&c, &stop_requested, &err);
	if (rc)
		return dl_tool_fail("dl-train", &err);
	if (fflush(stdout)) {
		dl_fail_errno(&err, DL_EIO, "stdout: write failed");
		return dl_tool_fail("dl-train", &err);
	}
	return 0;
}
