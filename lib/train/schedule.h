/* Learning-rate schedules: the learning rate of update number `step`
 * (0-based) as a pure function of the step, so a resumed run needs no
 * schedule state beyond the step count.
 *
 *   constant   lr
 *   step       lr * gamma^floor(epoch / step_size)         (PyTorch StepLR, stepped per epoch)
 *   multistep  lr * gamma^(milestones <= epoch)            (MultiStepLR, per epoch)
 *   cosine     min_lr + (lr - min_lr) (1 + cos(pi t / T)) / 2, t = step, T = total
 *                                                          (CosineAnnealingLR per step, T_max = T)
 *   onecycle   PyTorch OneCycleLR per step (max_lr = lr, total_steps = T,
 *              pct_start, anneal_strategy='cos', div_factor, final_div_factor,
 *              three_phase=False); momentum is not cycled (cycle_momentum=False).
 *
 * where epoch = step / per_epoch.  warmup W > 0 (not with onecycle, which
 * warms up by itself) multiplies the rate by (step + 1) / W for step < W:
 * linear warmup counted in optimizer steps (PyTorch LinearLR with
 * start_factor 1/W, total_iters W - 1, chained with the schedule). */
#ifndef DL_TRAIN_SCHEDULE_H
#define DL_TRAIN_SCHEDULE_H

#include "core/error.h"
#include "core/opt.h"

typedef enum {
	DL_SCHED_CONSTANT = 0,
	DL_SCHED_STEP,
	DL_SCHED_MULTISTEP,
	DL_SCHED_COSINE,
	DL_SCHED_ONECYCLE,
} dl_sched_kind;

#define DL_SCHED_MAX_MILESTONES 16

typedef struct dl_schedule {
	dl_sched_kind kind;
	double lr;                  /* base rate; max_lr of onecycle */
	long total;                 /* steps in the whole run (cosine, onecycle) */
	long per_epoch;             /* steps per epoch (step, multistep) */
	int step_size;              /* epochs (step) */
	double gamma;               /* decay factor (step, multistep) */
	int nmilestones;
	int milestones[DL_SCHED_MAX_MILESTONES];   /* epochs, increasing */
	double min_lr;              /* cosine eta_min (default 0) */
	double pct_start, div_factor, final_div_factor;   /* onecycle */
	long warmup;                /* linear warmup steps, 0: none */
} dl_schedule;

/* Defaults: constant, gamma 0.1, step_size 1, onecycle 0.3 / 25 / 1e4. */
void dl_schedule_init(dl_schedule *s, double lr);
/* The names "constant", "step", ... (an option's choices). */
extern const dl_opt_choice dl_schedule_choices[];
const char *dl_schedule_name(dl_sched_kind k);
/* Parses "--milestones 10,20,30" (increasing epochs > 0); DL_EUSAGE. */
int dl_schedule_milestones(dl_schedule *s, const char *list, dl_err *err);
/* Checks the settings against each other (total > 0 where needed, no
 * warmup with onecycle, ...); DL_EUSAGE naming the option. */
int dl_schedule_check(const dl_schedule *s, dl_err *err);
/* Learning rate of update `step` (0-based). */
double dl_schedule_lr(const dl_schedule *s, long step);

#endif
