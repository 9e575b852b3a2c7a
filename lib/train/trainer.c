/* The training loop: steps, epochs, checkpoints, stops. */
#include "train/pass.h"
#include "train/trainlog.h"
#include "dist/dist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const dl_opt_choice dl_monitor_choices[] = {
	{ "val_loss", DL_MON_VAL_LOSS }, { "val_accuracy", DL_MON_VAL_ACCURACY },
	{ "val_mae", DL_MON_VAL_MAE }, { NULL, 0 },
};

const char *dl_monitor_name(dl_monitor m)
{
	return dl_opt_choice_name(dl_monitor_choices, (int)m);
}

/* Everything one dl_train call holds. */
typedef struct loop {
	dl_model *m;
	dl_optim *o;
	dl_train_state *st;
	const dl_train_opts *opts;
	const dl_norm *norm;
	const char *classes_json;
	dl_device_data tdd, vdd;
	int has_val;
	dl_scratch s;
	uint32_t *order;          /* host, the epoch's order */
	dl_rng next_rng;          /* rng after this epoch's draws */
	uint64_t aug_key;         /* this epoch's augmentation key */
	long per_epoch, total;
	double t_start, t_epoch;
	long images;
	long seen0;               /* st->seen when this epoch (or its resumed part) began */
	int k;
} loop;

/* The epoch's order and augmentation key from the rng state at its start. */
static void epoch_begin(loop *L)
{
	dl_backend *be = L->m->be;
	int n = L->tdd.n;
	L->next_rng = L->st->rng;
	for (int i = 0; i < n; i++)
		L->order[i] = (uint32_t)i;
	dl_rng_shuffle_u32(&L->next_rng, L->order, (uint32_t)n);
	L->aug_key = dl_rng_u64(&L->next_rng);
	be->ops->to_device(be, L->s.idx, L->order, (size_t)n * sizeof *L->order);
	/* stats so far (zero at a fresh epoch; a resumed one continues); with
	 * several ranks the device holds this rank's part since the last sum */
	if (dl_par_size(L->opts) > 1)
		be->ops->zero(be, L->s.stats, sizeof L->st->stats);
	else
		be->ops->to_device(be, L->s.stats, L->st->stats, sizeof L->st->stats);
	L->t_epoch = now();
	L->seen0 = L->st->seen;
}

/* Forward and backward of the step's batch, or of this rank's slice of it
 * [lo, lo + count) (the gradient sums over ranks start during backward);
 * returns the batch size. */
static int train_step(loop *L)
{
	dl_model *m = L->m;
	dl_backend *be = m->be;
	dl_train_state *st = L->st;
	long first = st->pos * L->opts->batch;
	int n = (int)(L->tdd.n - first < L->opts->batch ? L->tdd.n - first : L->opts->batch), lo, count;
	dl_par_slice(L->opts, n, &lo, &count);
	dl_aug aug = L->opts->aug;
	aug.seed = dl_hash_skip(dl_hash_u64(L->aug_key, (uint64_t)st->pos), 3 * (uint64_t)lo);
	int augment = aug.pad > 0 || aug.flip;
	m->run.seed = st->seed;
	m->run.step = (uint64_t)st->step;
	m->run.sample0 = (uint64_t)lo;
	m->run.batch_total = n;
	dl_batch_load(m, &L->tdd, L->s.idx + first + lo, count, L->norm, augment ? &aug : NULL, &L->s);
	dl_model_forward(m, count);
	be->ops->zero(be, m->grads, m->nparams * sizeof(float));
	/* each rank's loss gradient is its share of the batch mean */
	dl_batch_loss(m, &L->tdd, count, &L->s, count == n ? 1.0f : (float)count / (float)n,
		      dl_model_doutput(m));
	dl_par_backward_begin(m, L->opts);
	dl_model_backward(m, count);
	return n;
}

/* The optimizer update once the gradients are summed. */
static void train_update(loop *L, int n)
{
	dl_train_state *st = L->st;
	dl_optim_step(L->o, L->m->params, L->m->grads,
		      (float)dl_schedule_lr(&L->opts->sched, st->step));
	st->step++;
	st->pos++;
	st->seen += n;
	L->images += n;
}

/* Reads the epoch's stats to the host (summed over ranks); *bad when the
 * loss or the weights are no longer finite (then on every rank: the sums
 * and the weights are the same everywhere). */
static int sync_stats(loop *L, int *bad, dl_err *err)
{
	dl_backend *be = L->m->be;
	int rc;
	if (dl_par_size(L->opts) > 1) {
		if ((rc = dl_par_stats(L->opts, be, L->s.stats, L->st->stats, L->st->step, err)))
			return rc;
	} else {
		be->ops->to_host(be, L->st->stats, L->s.stats, sizeof L->st->stats);
	}
	float w;
	be->ops->sumsq(be, L->m->nparams, L->m->params, L->o->scratch);
	be->ops->to_host(be, &w, L->o->scratch, sizeof w);
	*bad = !isfinite(L->st->stats[0]) || !isfinite(w);
	return 0;
}

static int diverged(loop *L, dl_err *err)
{
	/* a device error poisons the stats with NaN: report it, not divergence */
	int rc = L->m->be->ops->error(L->m->be, err);
	if (rc)
		return rc;
	return dl_fail(err, DL_EDIVERGED, "training diverged at step %ld (epoch %d): the loss or the "
		       "weights are not finite; the last good checkpoint is kept", L->st->step,
		       L->st->epoch + 1);
}

/* The divergence rule (dl_train_opts.diverge_factor), after sync_stats. */
static int too_large(loop *L, dl_err *err)
{
	const dl_train_opts *o = L->opts;
	dl_train_state *st = L->st;
	if (!(o->diverge_factor > 0) || !st->seen)
		return 0;
	dl_metrics t;
	dl_metrics_from(st->stats, st->seen, L->k, L->tdd.targets != NULL, &t);
	if (st->loss0 == 0 && st->step == 1)
		st->loss0 = t.loss;
	double bound = o->diverge_factor * (st->loss0 > 1 ? st->loss0 : 1);
	if (st->loss0 == 0 || t.loss <= bound)
		return 0;
	return dl_fail(err, DL_EDIVERGED, "training diverged at step %ld (epoch %d): loss %.4g is over "
		       "--diverge-factor %g times the first step's %.4g; the last good checkpoint is kept",
		       st->step, st->epoch + 1, t.loss, o->diverge_factor, st->loss0);
}

static int save(loop *L, const char *path, dl_err *err)
{
	if (!path || dl_par_rank(L->opts) != 0)
		return 0;
	return dl_checkpoint_save(path, L->m, L->o, L->st, L->norm, L->classes_json, err);
}

/* Is `v` better than the best so far for the monitored metric? */
static int improves(const dl_train_state *st, dl_monitor mon, double v)
{
	if (!isfinite(v))
		return 0;
	if (!st->best_epoch)
		return 1;
	return mon == DL_MON_VAL_ACCURACY ? v > st->best : v < st->best;
}

static double monitored(dl_monitor mon, const dl_metrics *va)
{
	return mon == DL_MON_VAL_LOSS ? va->loss : mon == DL_MON_VAL_ACCURACY ? va->accuracy : va->mae;
}

/* Reports the epoch that ends (or the part of it the run did): train
 * metrics from the epoch's stats, validation, logs.  *va_out gets the
 * validation metrics when there are any. */
static int epoch_report(loop *L, int partial, dl_metrics *va, dl_err *err)
{
	dl_train_state *st = L->st;
	const dl_train_opts *o = L->opts;
	dl_metrics tr;
	dl_metrics_from(st->stats, st->seen, L->k, L->tdd.targets != NULL, &tr);
	double secs = now() - L->t_epoch;
	int rc;
	if (L->has_val && (rc = dl_eval_device(L->m, &L->vdd, L->norm, L->m->batch, va, NULL, err)))
		return rc;
	dl_epoch_report r = {
		.epoch = st->epoch + (partial ? 1 : 0), .epochs = o->steps > 0 ? 0 : o->epochs,
		.step = st->step, .lr = dl_schedule_lr(&o->sched, st->step > 0 ? st->step - 1 : 0),
		.train = &tr, .val = L->has_val ? va : NULL, .seconds = secs,
		.images_per_s = secs > 0 ? (double)(st->seen - L->seen0) / secs : 0, .partial = partial,
	};
	return dl_log_epoch(o, &r, err);
}

/* After a full epoch with validation: best model and early stopping. */
static int track_best(loop *L, const dl_metrics *va, int *early, dl_err *err)
{
	dl_train_state *st = L->st;
	const dl_train_opts *o = L->opts;
	double v = monitored(o->monitor, va);
	if (improves(st, o->monitor, v)) {
		st->best = v;
		st->best_epoch = st->epoch;
		st->bad_epochs = 0;
		return save(L, o->best, err);
	}
	st->bad_epochs++;
	*early = o->patience > 0 && st->bad_epochs >= o->patience;
	return 0;
}

/* Budget stops: this invocation's wall time and its cost. */
static dl_stop_reason budget(const loop *L)
{
	const dl_train_opts *o = L->opts;
	double secs = now() - L->t_start;
	if (o->time_limit > 0 && secs >= o->time_limit)
		return DL_STOP_TIME;
	if (o->max_cost > 0 && secs / 3600.0 * o->price_per_hour >= o->max_cost)
		return DL_STOP_COST;
	return DL_STOP_DONE;
}

static int setup(loop *L, const dl_data *train, const dl_data *val, dl_err *err)
{
	dl_model *m = L->m;
	dl_backend *be = m->be;
	int reg = dl_loss_is_regression(&m->loss), rc;
	if (reg && !be->ops->regress_loss)
		return dl_fail(err, DL_EFAIL, "backend %s has no regression loss", be->ops->name);
	L->k = dl_model_output_shape(m).c;
	L->has_val = val != NULL;
	/* a step never holds more than the N training samples, whatever
	 * --batch says (--batch 65536 on 1,800 samples plans 1,800) */
	int plan = L->opts->batch < train->n ? L->opts->batch : (int)train->n;
	m->for_training = 1;
	if ((rc = dl_model_plan(m, plan, err)) ||
	    (rc = dl_device_data_upload(&L->tdd, be, train, reg, err)) ||
	    (val && (rc = dl_device_data_upload(&L->vdd, be, val, reg, err))) ||
	    (rc = dl_scratch_alloc(&L->s, be, train->n, plan, reg ? L->k : 0, err)))
		return rc;
	if (!(L->order = malloc((size_t)(train->n ? train->n : 1) * sizeof *L->order)))
		return dl_fail(err, DL_EFAIL, "out of memory");
	return 0;
}

static int run(loop *L, dl_stop_reason *why, dl_err *err)
{
	dl_train_state *st = L->st;
	const dl_train_opts *o = L->opts;
	int rc = 0, began = 0;
	*why = DL_STOP_DONE;
	while (st->step < L->total) {
		if (!began || st->pos == 0) {
			epoch_begin(L);
			began = 1;
		}
		int n = train_step(L), flags;
		/* the stop flags of every rank (bit 0 a signal, bits 1-2 a budget),
		 * agreed on while the gradient sums are in flight */
		dl_stop_reason b = budget(L);
		flags = (o->stop && *o->stop) | (b == DL_STOP_TIME) << 1 | (b == DL_STOP_COST) << 2;
		if ((o->dist && (rc = dl_dist_agree(o->dist, st->step, flags, &flags, err))) ||
		    (rc = dl_par_backward_end(L->m, o, st->step, err)))
			return rc;
		train_update(L, n);
		if (o->bar && o->progress && (st->pos % 10 == 0 || st->pos == L->per_epoch))
			dl_log_bar(o->progress, st->pos, L->per_epoch, now() - L->t_epoch, -1);
		int at_end = st->pos == L->per_epoch, early = 0, bad;
		int interrupted = flags & 1;
		b = flags & 2 ? DL_STOP_TIME : flags & 4 ? DL_STOP_COST : DL_STOP_DONE;
		int last = st->step == L->total;
		int every = o->checkpoint_every > 0 && st->step % o->checkpoint_every == 0;
		/* step 1 always syncs: its loss is the divergence rule's reference */
		int first = st->step == 1 && st->loss0 == 0 && o->diverge_factor > 0;
		if (!(at_end || interrupted || b || last || every || first))
			continue;
		if ((rc = sync_stats(L, &bad, err)))
			return rc;
		if (bad)
			return diverged(L, err);
		if ((rc = too_large(L, err)))
			return rc;
		if (!(at_end || interrupted || b || last || every))
			continue;
		if ((rc = dl_par_share_state(o, L->m, L->o, st->step, err)))
			return rc;
		dl_metrics va;
		if (at_end) {
			st->epoch++;
			if ((rc = epoch_report(L, 0, &va, err)))
				return rc;
			st->pos = 0;
			st->seen = 0;
			memset(st->stats, 0, sizeof st->stats);
			st->rng = L->next_rng;
			if (L->has_val && (rc = track_best(L, &va, &early, err)))
				return rc;
		} else if (last && (rc = epoch_report(L, 1, &va, err))) {
			return rc;
		}
		if ((rc = save(L, o->checkpoint, err)))
			return rc;
		if (interrupted && !last)
			return dl_fail(err, DL_EINTR, "interrupted at step %ld, checkpoint written; "
				       "continue with --resume", st->step);
		if (early) {
			*why = DL_STOP_EARLY;
			return 0;
		}
		if (b && !last) {
			*why = b;
			return 0;
		}
	}
	return 0;
}

int dl_train(dl_model *m, dl_optim *o, dl_train_state *st, const dl_data *train,
	     const dl_data *val, const dl_norm *norm, const char *classes_json,
	     const dl_train_opts *opts, dl_train_result *res, dl_err *err)
{
	dl_stop_reason *why = &res->why;
	memset(res, 0, sizeof *res);
	loop L = { .m = m, .o = o, .st = st, .opts = opts, .norm = norm,
		   .classes_json = classes_json };
	*why = DL_STOP_DONE;
	if (train->n < 1)
		return dl_fail(err, DL_EDATA, "no training samples");
	L.per_epoch = (train->n + opts->batch - 1) / opts->batch;
	L.total = opts->steps > 0 ? opts->steps : opts->epochs * L.per_epoch;
	st->batch = opts->batch;
	if (opts->patience > 0 && st->bad_epochs >= opts->patience) {
		*why = DL_STOP_EARLY;    /* an early-stopped run stays stopped */
		return 0;
	}
	int rc = dl_par_check(opts, train->n, err);
	if (rc)
		return rc;
	rc = setup(&L, train, val, err);
	if (!rc) {
		dl_model_set_training(m, 1);
		L.t_start = now();
		rc = run(&L, why, err);
		res->seconds = now() - L.t_start;
		res->images = L.images;
		dl_model_set_training(m, 0);
		if (opts->bar && opts->progress)
			dl_log_bar_clear(opts->progress);
	}
	free(L.order);
	dl_scratch_free(&L.s, m->be);
	dl_device_data_release(&L.tdd);
	dl_device_data_release(&L.vdd);
	return rc;
}
