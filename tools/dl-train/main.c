/* dl-train: train a model on a dataset file; writes RUNDIR/model.safetensors
 * (the checkpoint), RUNDIR/best.safetensors (best validation) and
 * RUNDIR/log.jsonl.
 *
 * Signals (core/guard.h): the first SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGUSR1/...
 * sets the guard's stop flag, which the training loop reads after each step
 * (then it checkpoints and dl-train exits 8); a second one removes the temp
 * files and ends the process by that signal. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/afile.h"
#include "core/guard.h"
#include "core/ompenv.h"
#include "core/opt.h"
#include "dist/dist.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "run.h"
#include "train/trainer.h"

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
	if (c->diverge_factor > 0 && c->diverge_factor < 1)
		return dl_fail(err, DL_EUSAGE, "--diverge-factor must be 0 (off) or a finite number >= 1");
	if (c->max_cost > 0 && !(c->price > 0))
		return dl_fail(err, DL_EUSAGE, "--max-cost needs --price-per-hour");
	if ((rc = run_parse_augment(c->augment, &r->aug, err)))
		return rc;
	if (r->patience && !r->val && r->val_fraction == 0)
		return dl_fail(err, DL_EUSAGE, "--early-stop needs validation data (--val or --val-fraction)");
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


int main(int argc, char **argv)
{
	cli c = {
		.r = { .epochs = 1, .batch = 128, .seed = 1, .lr = NAN, .weight_decay = NAN,
		       .optim = DL_OPTIM_ADAM, .norm = NORM_01, .monitor = DL_MON_VAL_LOSS },
		.device = "auto", .schedule = DL_SCHED_CONSTANT, .augment = "none", .step_size = 1,
		.gamma = 0.1, .diverge_factor = 1e4, .comm_timeout = 60, .bucket_mb = 4,
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
		  "continue the run in DIR where its checkpoint left it, with the options it\n"
		  "recorded; given again they must match, except a longer --epochs/--steps"),
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
		  "stop cleanly after SECONDS of training (resumable, exit 8)", DL_MIN(0)),
		DL_OPT_FLOAT(0, "max-cost", &c.max_cost, "DOLLARS",
		  "stop cleanly (resumable, exit 8) at DOLLARS of --price-per-hour", DL_MIN(0)),
		DL_OPT_FLOAT(0, "price-per-hour", &c.price, "P", "machine price in dollars per hour",
			     DL_MIN(0)),
		DL_OPT_FLOAT(0, "diverge-factor", &c.diverge_factor, "F",
		  "exit 9 once the loss exceeds F x max(first step's loss, 1) (default 1e4, 0: off)",
		  DL_MIN(0), DL_MAX(1e300)),
		DL_OPT_INT(0, "seed", &r->seed, "S", "seed of initialisation, shuffling, augmentation (default 1)"),
		DL_OPT_INT('j', "threads", &c.threads, "N", "CPU threads (default: all cores)", DL_MIN(0),
			   DL_MAX(1024)),
		DL_OPT_STRING(0, "device", &c.device, "DEV", "auto (default), cpu, cuda or cuda:N"),
		DL_OPT_STRING(0, "precision", &r->precision, "P",
		  "fp32 (default), tf32 (GPU) or bf16 (GPU; CPUs with AVX512-BF16) matrix/convolution arithmetic"),
		DL_OPT_FLAG(0, "devices", &c.devices,
		  "list the CPU and CUDA devices (and the ranks under mpirun/srun) and exit"),
		DL_OPT_FLAG(0, "sync-bn", &r->sync_bn,
		  "under mpirun/srun: batch-norm statistics over all ranks (as one process)"),
		DL_OPT_FLOAT(0, "comm-timeout", &c.comm_timeout, "SECONDS",
		  "under mpirun/srun: end the job when a rank is silent this long (default 60)",
		  DL_MIN(1), DL_MAX(86400)),
		DL_OPT_FLOAT(0, "bucket-mb", &c.bucket_mb, "MB",
		  "under mpirun/srun: gradient all-reduce bucket size (default 4)", DL_ABOVE(0),
		  DL_MAX(4096)),
		DL_OPT_STRING(0, "log", &c.log_path, "FILE", "JSON-lines log (default RUNDIR/log.jsonl)"),
		DL_OPT_STRING(0, "csv-log", &c.csv_path, "FILE", "also log one CSV row per epoch"),
		DL_OPT_STRING(0, "init", &r->init, "FILE",
		  "start from pretrained weights: every layer of FILE (checkpoint, dl-export\n"
		  "safetensors or a torch state dict) that matches by name and shape"),
		DL_OPT_STRING(0, "freeze", &r->freeze, "LAYERS",
		  "keep layers fixed (indices as --summary shows, e.g. 0-5,7): no update, no decay"),
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
		"--resume RUNDIR [--epochs N longer | --steps N longer] [--time-limit S] ...\n"
		"-m MODEL --summary",
		"Trains a model with the loss its spec names (softmax cross-entropy by default,\n"
		"or mse/huber on regression targets).  One line per epoch on stderr (loss,\n"
		"accuracy or mae/rmse, the same for validation, lr, seconds, images/s), a bar\n"
		"on a terminal, JSON lines in the log.  The checkpoint (weights, buffers,\n"
		"optimizer state, model spec, position in the run) is rewritten atomically\n"
		"at epoch ends, every --checkpoint-every steps and when the run stops.\n"
		"SIGINT/TERM/HUP/QUIT/USR1, --time-limit, --max-cost: finish the step,\n"
		"checkpoint, exit 8 (stopped early, resumable; exit 0 only for a finished\n"
		"run; a second signal: remove temp files, die by it); --resume continues\n"
		"bit-identically (CPU, same --threads).  Non-finite loss, or loss above\n"
		"--diverge-factor times the first step's: exit 9, the last good checkpoint\n"
		"kept.  A CPU run is bit-reproducible for a fixed --seed and --threads.  Under\n"
		"mpirun -np N or srun: one model data-parallel, --batch global, rank 0 writes;\n"
		"a signal stops every rank (exit 8; mpirun itself exits 1 on SIGTERM/INT/HUP,\n"
		"pipelines/launch mpirun ... exits 8) (man dl-train, docs/distributed.md).",
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
	dl_omp_passive(argv);   /* oneDNN's OpenMP threads sleep, not spin */
	if ((rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err)))
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-train", &err);
	char **rec = NULL, **argv2 = NULL;
	int nrec = 0;
	if (c.resume && !c.devices) {   /* the recorded options first, the command line's after */
		if ((rc = remember_args(c.resume, r->model && r->train, &rec, &nrec, &c.resume_fresh, &err)))
			goto fail;
		if (nrec) {
			int what;
			if (!(argv2 = malloc(sizeof *argv2 * (size_t)(argc + nrec + 1)))) {
				rc = dl_fail(&err, DL_EFAIL, "out of memory");
				goto fail;
			}
			argv2[0] = argv[0];
			memcpy(argv2 + 1, rec, sizeof *rec * (size_t)nrec);
			memcpy(argv2 + 1 + nrec, argv + 1, sizeof *argv * (size_t)(argc - 1));
			argv2[argc + nrec] = NULL;
			if ((rc = dl_opt_parse(&cmd, argc + nrec, argv2, &what, &npos, &err)))
				goto fail;
			argv = argv2;
		}
	}
	if (!c.devices && (rc = check_cli(&c, npos, argv, &err)))
		goto fail;
	if (nrec) {   /* what is given again must match the run, or extend it */
		dl_buf now;
		dl_buf_init(&now);
		run_json(r, &now);
		rc = now.oom ? dl_fail(&err, DL_EFAIL, "out of memory") : remember_check(c.resume, now.p, &err);
		dl_buf_release(&now);
		if (rc)
			goto fail;
	}
	/* under mpirun/srun: join the job (a world of one otherwise) */
	if ((rc = dl_dist_open(&c.dist, c.comm_timeout, &err)))
		goto fail;
	int rank = dl_dist_rank(c.dist);
	r->ranks = dl_dist_size(c.dist);
	if (c.devices) {
		if ((rc = dl_dist_list(c.dist, stdout, &err)) ||
		    (rank == 0 && (rc = dl_backend_list(stdout, &err))))
			goto dist_fail;
		dl_dist_close(c.dist);
		goto done;
	}
	if (rank != 0)
		c.quiet = 1;   /* rank 0 speaks for the job */
	if (c.resume_fresh && !c.quiet)
		fprintf(stderr, "dl-train: --resume %s: no checkpoint yet (the run stopped before its "
			"first one): starting the run\n", c.resume);
	/* every rank catches signals (mpirun forwards SIGUSR1 to all); run_io
	 * checks the files on every rank but only rank 0 guards outputs */
	dl_guard g;
	if ((rc = dl_guard_start(&g, DL_GUARD_STOP, &err)) || (rc = run_io(&c, &g, &err))) {
		dl_guard_end(&g);
		goto dist_fail;
	}
	rc = run_session(&c, &g.stop, &err);
	if (!rc && (fflush(stdout) || ferror(stdout)))
		rc = dl_fail_errno(&err, DL_EIO, "stdout: write failed");
	dl_guard_end(&g);
	if (rc)
		goto dist_fail;
	dl_dist_close(c.dist);
done:
	rc = 0;
	goto out;
dist_fail:
	rc = fail_run(c.dist, &err);
	goto out;
fail:
	rc = dl_tool_fail("dl-train", &err);
out:
	for (int i = 0; i < nrec; i++)
		free(rec[i]);
	free(rec);
	free(argv2);
	return rc;
}
