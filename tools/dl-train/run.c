#include "run.h"

#include <stdlib.h>
#include <string.h>

int run_parse_augment(const char *s, dl_aug *aug, dl_err *err)
{
	memset(aug, 0, sizeof *aug);
	if (!strcmp(s, "none"))
		return 0;
	const char *p = s;
	while (*p) {
		size_t len = strcspn(p, ",");
		if (len == 4 && !strncmp(p, "flip", 4)) {
			aug->flip = 1;
		} else if (len > 5 && !strncmp(p, "crop=", 5)) {
			char *end;
			long v = strtol(p + 5, &end, 10);
			if (end != p + len || v < 0 || v > 64)
				return dl_fail(err, DL_EUSAGE, "--augment '%s': crop=N needs 0 <= N <= 64", s);
			aug->pad = (int)v;
		} else {
			return dl_fail(err, DL_EUSAGE, "--augment '%s': expected crop=N and/or flip, comma-separated, or none",
				       s);
		}
		p += len;
		if (*p == ',' && !*++p)
			return dl_fail(err, DL_EUSAGE, "--augment '%s': trailing comma", s);
	}
	return 0;
}

const dl_opt_choice run_norm_choices[] = {
	{ "dataset", NORM_DATASET }, { "none", NORM_NONE }, { "0-1", NORM_01 }, { NULL, 0 },
};

const char *run_norm_name(norm_mode m)
{
	return dl_opt_choice_name(run_norm_choices, (int)m);
}

void run_norm(norm_mode mode, const dl_dataset *d, dl_norm *norm, const char **note)
{
	dl_norm_default(norm, d->c);
	*note = "pixel / 255";
	if (mode == NORM_NONE) {
		norm->scale = 1.0f;
		*note = "raw pixel values";
	} else if (mode == NORM_DATASET && d->has_stats) {
		for (int i = 0; i < d->c; i++) {
			norm->mean[i] = d->mean[i];
			norm->std[i] = d->std[i];
		}
		*note = "(pixel / 255 - dataset mean) / dataset std";
	} else if (mode == NORM_DATASET) {
		*note = "pixel / 255 (the dataset has no dl.mean/dl.std)";
	}
}

static void jstr(dl_buf *b, const char *key, const char *v)
{
	dl_buf_printf(b, ", \"%s\": ", key);
	if (!v) {
		dl_buf_puts(b, "null");
		return;
	}
	dl_buf_puts(b, "\"");
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			dl_buf_printf(b, "\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			dl_buf_printf(b, "\\u%04x", (unsigned char)*p);
		else
			dl_buf_printf(b, "%c", *p);
	}
	dl_buf_puts(b, "\"");
}

void run_json(const run_settings *r, dl_buf *b)
{
	dl_buf_puts(b, "{\"format\": 1");
	jstr(b, "model", r->model);
	jstr(b, "train", r->train);
	jstr(b, "val", r->val);
	dl_buf_printf(b, ", \"val_fraction\": %.9g, \"epochs\": %ld, \"steps\": %ld, \"batch\": %ld, "
		      "\"seed\": %ld", r->val_fraction, r->epochs, r->steps, r->batch, r->seed);
	dl_buf_printf(b, ", \"optimizer\": \"%s\", \"lr\": %.9g, \"momentum\": %.9g, \"nesterov\": %d, "
		      "\"weight_decay\": %.9g, \"clip_norm\": %.9g", dl_optim_name(r->optim), r->lr,
		      r->momentum, r->nesterov, r->weight_decay, r->clip_norm);
	dl_buf_printf(b, ", \"schedule\": \"%s\", \"step_size\": %d, \"gamma\": %.9g",
		      dl_schedule_name(r->sched.kind), r->sched.step_size, r->sched.gamma);
	jstr(b, "milestones", r->milestones);
	dl_buf_printf(b, ", \"warmup\": %ld, \"augment\": {\"crop\": %d, \"flip\": %d}, "
		      "\"normalize\": \"%s\", \"checkpoint_every\": %ld, \"early_stop\": %ld, "
		      "\"monitor\": \"%s\"", r->sched.warmup, r->aug.pad, r->aug.flip,
		      run_norm_name(r->norm), r->checkpoint_every, r->patience,
		      dl_monitor_name(r->monitor));
	jstr(b, "precision", r->precision ? r->precision : "fp32");
	if (r->ranks > 1 || r->sync_bn)
		dl_buf_printf(b, ", \"ranks\": %d, \"sync_bn\": %d", r->ranks, r->sync_bn);
	dl_buf_puts(b, "}");
	if (r->init || r->freeze) {   /* only when given: older runs keep their dl.run */
		b->len--;   /* reopen the object */
		jstr(b, "init", r->init);
		jstr(b, "freeze", r->freeze);
		dl_buf_puts(b, "}");
	}
}
