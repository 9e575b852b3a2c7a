#include "train/schedule.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const dl_opt_choice dl_schedule_choices[] = {
	{ "constant", DL_SCHED_CONSTANT }, { "step", DL_SCHED_STEP }, { "multistep", DL_SCHED_MULTISTEP },
	{ "cosine", DL_SCHED_COSINE }, { "onecycle", DL_SCHED_ONECYCLE }, { NULL, 0 },
};

void dl_schedule_init(dl_schedule *s, double lr)
{
	memset(s, 0, sizeof *s);
	s->kind = DL_SCHED_CONSTANT;
	s->lr = lr;
	s->step_size = 1;
	s->gamma = 0.1;
	s->pct_start = 0.3;
	s->div_factor = 25.0;
	s->final_div_factor = 1e4;
	s->per_epoch = 1;
}

const char *dl_schedule_name(dl_sched_kind k)
{
	return dl_opt_choice_name(dl_schedule_choices, (int)k);
}

int dl_schedule_milestones(dl_schedule *s, const char *list, dl_err *err)
{
	const char *p = list;
	s->nmilestones = 0;
	while (*p) {
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		int prev = s->nmilestones ? s->milestones[s->nmilestones - 1] : 0;
		if (end == p || errno || v <= prev || v > 1000000 || (*end && *end != ','))
			return dl_fail(err, DL_EUSAGE, "--milestones '%s': expected increasing epochs > 0 separated by commas",
				       list);
		if (s->nmilestones == DL_SCHED_MAX_MILESTONES)
			return dl_fail(err, DL_EUSAGE, "--milestones: at most %d", DL_SCHED_MAX_MILESTONES);
		s->milestones[s->nmilestones++] = (int)v;
		p = *end ? end + 1 : end;
		if (*end && !*p)
			return dl_fail(err, DL_EUSAGE, "--milestones '%s': trailing comma", list);
	}
	if (!s->nmilestones)
		return dl_fail(err, DL_EUSAGE, "--milestones is empty");
	return 0;
}

int dl_schedule_check(const dl_schedule *s, dl_err *err)
{
	if (!(s->lr > 0) || !isfinite(s->lr))
		return dl_fail(err, DL_EUSAGE, "--lr must be > 0");
	if (s->per_epoch < 1)
		return dl_fail(err, DL_EFAIL, "schedule: no steps per epoch");
	if (s->kind == DL_SCHED_STEP && s->step_size < 1)
		return dl_fail(err, DL_EUSAGE, "--step-size must be >= 1");
	if ((s->kind == DL_SCHED_STEP || s->kind == DL_SCHED_MULTISTEP) && !(s->gamma > 0))
		return dl_fail(err, DL_EUSAGE, "--gamma must be > 0");
	if (s->kind == DL_SCHED_MULTISTEP && !s->nmilestones)
		return dl_fail(err, DL_EUSAGE, "--schedule multistep needs --milestones");
	if ((s->kind == DL_SCHED_COSINE || s->kind == DL_SCHED_ONECYCLE) && s->total < 1)
		return dl_fail(err, DL_EUSAGE, "--schedule %s needs a known length (--epochs or --steps)",
			       dl_schedule_name(s->kind));
	if (s->kind == DL_SCHED_ONECYCLE && s->warmup)
		return dl_fail(err, DL_EUSAGE, "--warmup does not combine with onecycle (it warms up by itself)");
	if (s->kind == DL_SCHED_ONECYCLE && s->pct_start * (double)s->total - 1 <= 0)
		return dl_fail(err, DL_EUSAGE, "--schedule onecycle needs at least %d steps",
			       (int)ceil(2.0 / s->pct_start));
	if (s->warmup < 0 || !(s->min_lr >= 0))
		return dl_fail(err, DL_EUSAGE, "--warmup and the minimum rate must be >= 0");
	return 0;
}

/* OneCycleLR's _annealing_cos: from start (pct 0) to end (pct 1). */
static double anneal_cos(double start, double end, double pct)
{
	return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1.0);
}

static double onecycle(const dl_schedule *s, long step)
{
	double initial = s->lr / s->div_factor;
	double min_lr = initial / s->final_div_factor;
	/* phase ends as PyTorch has them: pct_start * total_steps - 1, total_steps - 1 */
	double end1 = s->pct_start * (double)s->total - 1.0;
	double end2 = (double)s->total - 1.0;
	double t = (double)step;
	if (t <= end1)
		return anneal_cos(initial, s->lr, t / end1);
	return anneal_cos(s->lr, min_lr, (t - end1) / (end2 - end1));
}

double dl_schedule_lr(const dl_schedule *s, long step)
{
	long epoch = step / (s->per_epoch > 0 ? s->per_epoch : 1);
	double lr = s->lr;
	switch (s->kind) {
	case DL_SCHED_CONSTANT:
		break;
	case DL_SCHED_STEP:
		lr *= pow(s->gamma, (double)(epoch / s->step_size));
		break;
	case DL_SCHED_MULTISTEP: {
		int k = 0;
		while (k < s->nmilestones && s->milestones[k] <= epoch)
			k++;
		lr *= pow(s->gamma, k);
		break;
	}
	case DL_SCHED_COSINE: {
		long t = step < s->total ? step : s->total;
		lr = s->min_lr + (s->lr - s->min_lr) * (1.0 + cos(M_PI * (double)t / (double)s->total)) / 2.0;
		break;
	}
	case DL_SCHED_ONECYCLE:
		lr = onecycle(s, step < s->total ? step : s->total - 1);
		break;
	}
	if (s->warmup > 0 && step < s->warmup)
		lr *= (double)(step + 1) / (double)s->warmup;
	return lr;
}
