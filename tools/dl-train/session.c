/* One dl-train run: data, device, a new or resumed model, logs, training,
 * and the end-of-run summary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/afile.h"
#include "dist/dist.h"
#include "run.h"
#include "train/init.h"

typedef struct session {
	cli *c;
	dl_model m;
	dl_optim o;
	dl_backend *be;
	dl_dataset tr, va;
	dl_checkpoint ck;
	uint32_t *trows, *vrows;
	int ntrows, nvrows;
	FILE *log, *csv;
	char *ckpt, *best, *logp;
	dl_buf run;
	dl_norm norm;
	dl_train_state st;
	const char *norm_note;   /* what the input normalisation is, for people */
	char *init_json;         /* --init's report for the log, or NULL */
} session;

/* --freeze: the layers' parameters stay as they are (new or resumed run). */
static int freeze(session *s, dl_err *err)
{
	const char *spec = s->c->r.freeze;
	if (!spec)
		return 0;
	unsigned char *fz = malloc((size_t)s->m.nlayers + 1);
	int rc = fz ? dl_parse_layers(&s->m, spec, fz, err) : dl_fail(err, DL_EFAIL, "out of memory");
	for (int i = 0; !rc && i < s->m.nlayers; i++)
		for (int p = 0; fz[i] && p < s->m.layers[i].nparam && !rc; p++)
			rc = dl_optim_freeze(&s->o, s->m.layers[i].param[p].offset,
					     s->m.layers[i].param[p].count, err);
	free(fz);
	return rc;
}

static int open_data(session *s, dl_err *err)
{
	run_settings *r = &s->c->r;
	int rc;
	if ((rc = dl_dataset_open(&s->tr, r->train, err)))
		return rc;
	if (r->val && (rc = dl_dataset_open(&s->va, r->val, err)))
		return rc;
	if (r->val_fraction > 0)
		return dl_dataset_split(s->tr.n, r->val_fraction, (uint64_t)r->seed, &s->trows,
					&s->ntrows, &s->vrows, &s->nvrows, err);
	s->ntrows = s->tr.n;
	return 0;
}

/* A fresh model, optimizer and state from the settings. */
static int start_new(session *s, dl_err *err)
{
	run_settings *r = &s->c->r;
	int rc;
	if ((rc = dl_model_alloc(&s->m, s->be, err)) ||
	    (rc = dl_model_init(&s->m, (uint64_t)r->seed, err)) ||
	    (rc = dl_optim_init(&s->o, r->optim, (float)r->lr, s->m.nparams, s->be, err)))
		return rc;
	s->o.momentum = (float)r->momentum;
	s->o.weight_decay = (float)r->weight_decay;
	s->o.nesterov = r->nesterov;
	s->o.clip_norm = (float)r->clip_norm;
	if ((rc = dl_optim_ready(&s->o, err)))
		return rc;
	if (r->init) {
		dl_init_report rep;
		rc = dl_init_from(&s->m, r->init, &rep, err);
		if (!rc && !s->c->quiet)
			fprintf(stderr, "dl-train: --init %s: %d layers loaded, %d skipped, %d left fresh\n%s",
				r->init, rep.loaded, rep.skipped, rep.fresh, rep.text.len ? rep.text.p : "");
		if (!rc && !(s->init_json = strdup(rep.json.p)))
			rc = dl_fail(err, DL_EFAIL, "out of memory");
		dl_init_report_release(&rep);
		if (rc)
			return rc;
	}
	run_norm(r->norm, &s->tr, &s->norm, &s->norm_note);
	s->st.seed = (uint64_t)r->seed;
	/* shuffling draws from its own stream, so changing the model's init
	 * does not change the data order */
	dl_rng_seed(&s->st.rng, (uint64_t)r->seed ^ 0x5eed5eed5eed5eedULL);
	return 0;
}

/* The model, optimizer, state and normalisation from RUNDIR's checkpoint,
 * after checking that the settings are the run's. */
static int resume(session *s, dl_err *err)
{
	int rc;
	if (access(s->ckpt, F_OK))
		return dl_fail_errno(err, DL_EIO, "--resume %s: no checkpoint %s", s->c->out, s->ckpt);
	if ((rc = dl_checkpoint_load(s->ckpt, &s->m, s->be, &s->o, &s->ck, err)))
		return rc;
	if (!s->ck.run_json || !s->ck.has_optim)
		return dl_fail(err, DL_EDATA, "%s: no dl.run or optimizer state; it cannot be resumed",
			       s->ckpt);
	/* the options were checked against dl.run in main (remember.c) */
	/* another number of ranks would sum the gradients in another order:
	 * close, not the same bits, so it is refused */
	const char *rk = strstr(s->ck.run_json, "\"ranks\": ");
	int was = rk ? atoi(rk + 9) : 1;
	if (was != s->c->r.ranks)
		return dl_fail(err, DL_EUSAGE, "--resume %s: the checkpoint was written by a run of %d "
			       "rank%s and this one has %d; resume it with the same number of ranks "
			       "(mpirun -np %d), or start a new run from its weights", s->c->out, was,
			       was == 1 ? "" : "s", s->c->r.ranks, was);
	s->norm = s->ck.norm;
	s->norm_note = "as the checkpoint records";
	s->st = s->ck.train;
	return 0;
}

static int open_logs(session *s, int *made_dir, dl_err *err)
{
	cli *c = s->c;
	int append = c->resume && !c->resume_fresh, rc;
	if (dl_dist_rank(c->dist) != 0) {   /* rank 0 alone writes the run directory */
		if (!(s->log = fopen("/dev/null", "w")))
			return dl_fail_errno(err, DL_EIO, "/dev/null: cannot open");
		return 0;
	}
	/* a resumed run writes its epochs after the checkpoint's again: drop
	 * those lines first, so no epoch appears twice */
	if (append && ((rc = remember_prune_log(c->log_path && strcmp(c->log_path, "-") ? c->log_path
								  : s->logp, s->st.epoch, 0, err)) ||
		       (c->csv_path && (rc = remember_prune_log(c->csv_path, s->st.epoch, 1, err)))))
		return rc;
	/* the run directory first (a log may live in it); go() removes it
	 * again if it made it and a log cannot be opened */
	if (!c->resume && access(c->out, F_OK)) {
		if ((rc = dl_mkdir_p(c->out, err)))
			return rc;
		*made_dir = 1;
	}
	if (c->log_path && !(s->log = !strcmp(c->log_path, "-") ? stdout : fopen(c->log_path, append ? "a" : "w")))
		return dl_fail_errno(err, DL_EIO, "%s: cannot open log", c->log_path);
	if (c->csv_path && !(s->csv = fopen(c->csv_path, append ? "a" : "w")))
		return dl_fail_errno(err, DL_EIO, "%s: cannot open CSV log", c->csv_path);
	if (s->csv && ftell(s->csv) == 0)
		dl_log_csv_header(s->csv, dl_loss_is_regression(&s->m.loss));
	if (!s->log && !(s->log = fopen(s->logp, append ? "a" : "w")))
		return dl_fail_errno(err, DL_EIO, "%s: cannot open log", s->logp);
	return 0;
}

/* "finished", "stopped at the time limit", ... */
static const char *stop_text(dl_stop_reason why)
{
	switch (why) {
	case DL_STOP_EARLY: return "stopped early (no improvement)";
	case DL_STOP_TIME: return "stopped at the time limit";
	case DL_STOP_COST: return "stopped at the cost limit";
	default: return "finished";
	}
}

static void summary(session *s, const dl_train_result *res)
{
	cli *c = s->c;
	double ips = res->seconds > 0 ? (double)res->images / res->seconds : 0;
	double cost = res->seconds / 3600.0 * c->price;
	int budget = res->why == DL_STOP_TIME || res->why == DL_STOP_COST;
	/* a budget stop is said even with -q: the run is not finished */
	if (!c->quiet || budget) {
		fprintf(stderr, "dl-train: %s after %d epochs, %ld steps: device %s (%d threads), %.1fs, "
			"%.0f img/s", stop_text(res->why), s->st.epoch, s->st.step, s->be->ops->name,
			s->be->threads, res->seconds, ips);
		if (c->price > 0)
			fprintf(stderr, ", cost $%.4f at $%g/h", cost, c->price);
		fputc('\n', stderr);
	}
	if (!budget && !c->quiet)
		fprintf(stderr, "dl-train: wrote %s\n", s->ckpt);
	fprintf(s->log, "{\"event\": \"done\", \"stop\": \"%s\", \"epochs\": %d, \"step\": %ld, "
		"\"device\": \"%s\", \"threads\": %d, \"precision\": \"%s\", \"seconds\": %.3f, "
		"\"images_per_s\": %.1f", stop_text(res->why), s->st.epoch, s->st.step, s->be->ops->name,
		s->be->threads, s->c->r.precision ? s->c->r.precision : "fp32", res->seconds, ips);
	if (c->r.ranks > 1) {
		double comm, wait;
		dl_dist_timing(c->dist, &comm, &wait);
		fprintf(s->log, ", \"ranks\": %d, \"allreduce_s\": %.3f, \"allreduce_wait_s\": %.3f",
			c->r.ranks, comm, wait);
		if (!c->quiet)
			fprintf(stderr, "dl-train: %d ranks (%s); gradient all-reduce in flight %.2fs, "
				"waited for after backward %.2fs (%.0f%% hidden behind backward)\n",
				c->r.ranks, dl_dist_engine(c->dist), comm, wait,
				comm > 0 ? 100.0 * (1.0 - wait / comm) : 0.0);
	}
	if (c->price > 0)
		fprintf(s->log, ", \"cost\": %.6f", cost);
	fputs("}\n", s->log);
}

static int go(session *s, volatile sig_atomic_t *stop, dl_err *err)
{
	cli *c = s->c;
	run_settings *r = &c->r;
	int rc, made_dir = 0;
	if (!(s->ckpt = run_join(c->out, "model.safetensors")) ||
	    !(s->best = run_join(c->out, "best.safetensors")) ||
	    !(s->logp = run_join(c->out, "log.jsonl")))
		return dl_fail(err, DL_EFAIL, "out of memory");
	run_json(r, &s->run);
	if (s->run.oom)
		return dl_fail(err, DL_EFAIL, "out of memory");
	/* one GPU per rank: plain "cuda" means the GPU of this rank's local rank */
	char dev[32];
	snprintf(dev, sizeof dev, "%s", c->device);
	if (r->ranks > 1 && !strcmp(c->device, "cuda"))
		snprintf(dev, sizeof dev, "cuda:%d", dl_dist_local_rank(c->dist));
	/* every rank must sum on the same kind of device: auto would let a
	 * node without a free GPU mix CPU and GPU ranks */
	if (r->ranks > 1 && !strcmp(c->device, "auto"))
		snprintf(dev, sizeof dev, "cpu");
	dl_backend_opts bo = { .device = dev, .threads = (int)c->threads, .precision = r->precision,
			       .log = dl_logger_stderr("dl-train") };
	if ((rc = open_data(s, err)) || (rc = dl_backend_open_opts(&s->be, &bo, err)))
		return rc;
	if ((rc = dl_dist_use_device(c->dist, s->be, err)))   /* GPUs: NCCL */
		return rc;
	if (c->resume && !c->resume_fresh)
		rc = resume(s, err);
	else if (!(rc = dl_model_load(&s->m, r->model, err)))
		rc = start_new(s, err);
	s->m.max_plan_bytes = (size_t)(c->max_memory * (1 << 30));
	if (rc || (rc = freeze(s, err)) || (rc = dl_check_fit(&s->m, &s->tr, r->train, err)) ||
	    (r->val && (rc = dl_check_fit(&s->m, &s->va, r->val, err))))
		return rc;
	if (c->summary && dl_dist_rank(c->dist) == 0)
		dl_model_summary(&s->m, stdout);
	if (r->sync_bn && r->ranks > 1) {
		/* the CUDA backend's bn_stats, bn_fwd_given, bn_bwd_given only
		 * record "not supported on CUDA" (ops.h) */
		if (strcmp(s->be->ops->name, "cpu"))
			return dl_fail(err, DL_EUSAGE, "--sync-bn: device %s has no batch-norm statistics "
				       "ops (--sync-bn runs on the CPU)", s->be->ops->name);
		s->m.run.reduce = dl_dist_sum_cb;
		s->m.run.reduce_ctx = c->dist;
	}
	dl_train_opts to = {
		.epochs = r->epochs, .steps = r->steps, .batch = (int)r->batch, .sched = r->sched,
		.aug = r->aug, .checkpoint_every = r->checkpoint_every, .checkpoint = s->ckpt,
		.best = s->best, .patience = (int)r->patience, .monitor = r->monitor,
		.time_limit = c->time_limit, .max_cost = c->max_cost, .price_per_hour = c->price,
		.stop = stop, .progress = c->quiet ? NULL : stderr,
		.bar = !c->quiet && isatty(STDERR_FILENO), .diverge_factor = c->diverge_factor,
		.log_name = c->log_path ? c->log_path : s->logp, .csv_name = c->csv_path,
		.dist = c->dist, .bucket_floats = (size_t)(c->bucket_mb * 1048576.0 / sizeof(float)),
	};
	if (s->ntrows < 1)   /* before the schedule, which would only say "no steps" */
		return dl_fail(err, DL_EDATA, "%s: no training samples%s", r->train,
			       s->tr.n ? " left after --val-fraction" : "");
	to.sched.per_epoch = (s->ntrows + r->batch - 1) / r->batch;
	to.sched.total = r->steps > 0 ? r->steps : r->epochs * to.sched.per_epoch;
	if ((rc = dl_schedule_check(&to.sched, err)))
		return rc;
	if (c->resume && !c->resume_fresh && s->st.step >= to.sched.total) {
		if (!c->quiet)
			fprintf(stderr, "dl-train: %s: the run is already finished (step %ld)\n", c->out,
				s->st.step);
		return 0;
	}
	if (c->save_init && (!c->resume || c->resume_fresh) && dl_dist_rank(c->dist) == 0 &&
	    (rc = dl_checkpoint_save(c->save_init, &s->m, &s->o, &s->st, &s->norm, s->tr.classes_json, err)))
		return rc;
	if ((rc = open_logs(s, &made_dir, err))) {
		if (made_dir)
			rmdir(c->out);   /* only if still empty: no half-made run */
		return rc;
	}
	to.log = s->log;
	to.csv = s->csv;
	if (s->init_json)
		fprintf(s->log, "{\"event\": \"init\", \"init\": %s%s%s}\n", s->init_json,
			r->freeze ? ", \"freeze\": " : "", r->freeze ? "true" : "");
	s->st.run = s->run.p;
	if (!c->quiet && r->ranks > 1)
		fprintf(stderr, "dl-train: %d ranks (%s), each takes 1/%d of every batch of %ld%s\n",
			r->ranks, dl_dist_engine(c->dist), r->ranks, r->batch,
			r->sync_bn ? "; batch norm over all ranks (--sync-bn)" : "");
	if (!c->quiet)
		fprintf(stderr, "dl-train: %s %s, %zu parameters, %d train samples, %d val, %s lr %g (%s), "
			"batch %ld, %s with %d threads, precision %s\n", c->resume && !c->resume_fresh ? "resuming" : "training",
			s->m.name, s->m.nparams, s->ntrows, r->val ? s->va.n : s->nvrows,
			dl_optim_name(s->o.kind), (double)s->o.lr, dl_schedule_name(to.sched.kind), r->batch,
			s->be->ops->name, s->be->threads, r->precision ? r->precision : "fp32");
	if (!c->quiet)
		fprintf(stderr, "dl-train: input = %s\n", s->norm_note);
	dl_data tdata = { &s->tr, s->trows, s->ntrows };
	dl_data vdata = r->val ? (dl_data){ &s->va, NULL, s->va.n } : (dl_data){ &s->tr, s->vrows, s->nvrows };
	int has_val = r->val || s->nvrows > 0;
	dl_train_result res;
	rc = dl_train(&s->m, &s->o, &s->st, &tdata, has_val ? &vdata : NULL, &s->norm,
		      s->tr.classes_json, &to, &res, err);
	if (rc)
		return rc;
	summary(s, &res);
	/* a budget stop is not a finished run: exit 8 like an interrupt, so
	 * make and scripts see it (the done event in the log says why) */
	if (res.why == DL_STOP_TIME || res.why == DL_STOP_COST)
		return dl_fail(err, DL_EINTR, "%s at step %ld, checkpoint written; continue with "
			       "dl-train --resume %s and the same options", stop_text(res.why),
			       s->st.step, c->out);
	return 0;
}

int run_session(cli *c, volatile sig_atomic_t *stop, dl_err *err)
{
	session s = { .c = c };
	dl_buf_init(&s.run);
	int rc;
	if (c->summary && !c->r.train) {
		if (!(rc = dl_model_load(&s.m, c->r.model, err)))
			dl_model_summary(&s.m, stdout);
		dl_model_release(&s.m);
		dl_buf_release(&s.run);
		return rc;
	}
	rc = go(&s, stop, err);
	/* a failed flush leaves only the error flag: check it as well as fclose */
	if (s.log && s.log != stdout && (ferror(s.log) | fclose(s.log)) && !rc)
		rc = dl_fail_errno(err, DL_EIO, "%s: write failed", c->log_path ? c->log_path : s.logp);
	if (s.log == stdout && (fflush(stdout) || ferror(stdout)) && !rc)
		rc = dl_fail_errno(err, DL_EIO, "stdout: write failed");
	if (s.csv && (ferror(s.csv) | fclose(s.csv)) && !rc)
		rc = dl_fail_errno(err, DL_EIO, "%s: write failed", c->csv_path);
	free(s.ckpt);
	free(s.best);
	free(s.logp);
	free(s.init_json);
	free(s.trows);
	free(s.vrows);
	dl_buf_release(&s.run);
	dl_checkpoint_release(&s.ck);
	dl_optim_release(&s.o);
	dl_model_release(&s.m);
	dl_dataset_close(&s.tr);
	dl_dataset_close(&s.va);
	dl_backend_close(s.be);
	return rc;
}
