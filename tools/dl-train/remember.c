/* Resume that remembers (dl-train --resume RUN): the options a run's
 * checkpoint recorded (dl.run) become the defaults of the resumed run; an
 * option given again must equal the recorded one, except where a change is
 * safe: --epochs/--steps longer (the run is extended; the schedule is
 * recomputed for the new length), --checkpoint-every, and the options
 * dl.run does not record (--time-limit, --max-cost, --price-per-hour,
 * logging, --threads, --device).  Also: the logs lose the epoch lines a
 * resumed run will write again (epochs after the checkpoint's, or its
 * partial epoch), so a log never holds an epoch twice. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/afile.h"
#include "core/json.h"
#include "core/readall.h"
#include "io/safetensors.h"
#include "run.h"

/* The recorded key and the option that sets it. */
static const struct { const char *key, *opt; } keys[] = {
	{ "model", "model" }, { "train", "train" }, { "val", "val" },
	{ "val_fraction", "val-fraction" }, { "epochs", "epochs" }, { "steps", "steps" },
	{ "batch", "batch" }, { "seed", "seed" }, { "optimizer", "optimizer" }, { "lr", "lr" },
	{ "momentum", "momentum" }, { "nesterov", "nesterov" }, { "weight_decay", "weight-decay" },
	{ "clip_norm", "clip-norm" }, { "schedule", "schedule" }, { "step_size", "step-size" },
	{ "gamma", "gamma" }, { "milestones", "milestones" }, { "warmup", "warmup" },
	{ "augment", "augment" }, { "normalize", "normalize" },
	{ "checkpoint_every", "checkpoint-every" }, { "early_stop", "early-stop" },
	{ "monitor", "monitor" }, { "init", "init" }, { "freeze", "freeze" },
	{ "precision", "precision" }, { "sync_bn", "sync-bn" },
};

/* A recorded value as the option's argument text ("" for a set flag);
 * NULL when the option is to be left out (null, a clear flag). */
static const char *value_text(const char *key, const dl_json *v, char *buf, size_t n)
{
	if (!strcmp(key, "augment") && v->type == DL_JSON_OBJECT) {
		const dl_json *crop = dl_json_get(v, "crop"), *flip = dl_json_get(v, "flip");
		int c = crop && crop->type == DL_JSON_NUMBER ? (int)crop->number : 0;
		int f = flip && flip->type == DL_JSON_NUMBER ? (int)flip->number : 0;
		if (!c && !f)
			snprintf(buf, n, "none");
		else
			snprintf(buf, n, "%s%.0d%s%s", c ? "crop=" : "", c, c && f ? "," : "",
				 f ? "flip" : "");
		return buf;
	}
	if (!strcmp(key, "nesterov") || !strcmp(key, "sync_bn"))
		return v->type == DL_JSON_NUMBER && v->number != 0 ? "" : NULL;
	if (v->type == DL_JSON_STRING)
		return v->str;
	if (v->type == DL_JSON_NUMBER) {
		snprintf(buf, n, "%.17g", v->number);
		return buf;
	}
	return NULL;
}

static int load_run_json(const char *ckpt, dl_json **out, dl_err *err)
{
	dl_st_file f = { 0 };
	int rc = dl_st_open(&f, ckpt, err);
	if (rc)
		return rc;
	const char *run = dl_st_meta_get(&f, "dl.run");
	if (!run)
		rc = dl_fail(err, DL_EDATA, "%s: no dl.run: this checkpoint cannot be resumed", ckpt);
	else
		rc = dl_json_parse(run, strlen(run), "dl.run", out, err);
	if (!rc && (*out)->type != DL_JSON_OBJECT)
		rc = dl_fail(err, DL_EDATA, "%s: dl.run is not a JSON object", ckpt);
	dl_st_close(&f);
	return rc;
}

int remember_args(const char *dir, int have_model, char ***out, int *nout, int *fresh,
		  dl_err *err)
{
	char ckpt[4096];
	struct stat st;
	*out = NULL;
	*nout = 0;
	*fresh = 0;
	snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", dir);
	if (stat(dir, &st))
		return dl_fail_errno(err, DL_EIO, "--resume %s: no such run directory", dir);
	if (stat(ckpt, &st)) {
		if (errno != ENOENT)
			return dl_fail_errno(err, DL_EIO, "--resume %s: cannot read %s", dir, ckpt);
		if (!have_model)
			return dl_fail(err, DL_EUSAGE, "--resume %s: no checkpoint yet (the run stopped "
				       "before its first one); start it again with its options: "
				       "dl-train --resume %s -m MODEL --train FILE ...", dir, dir);
		*fresh = 1;   /* nothing to continue: the run starts */
		return 0;
	}
	dl_json *run = NULL;
	int rc = load_run_json(ckpt, &run, err);
	if (rc)
		return rc;
	size_t nk = sizeof keys / sizeof keys[0];
	char **v = calloc(2 * nk, sizeof *v);
	int n = 0;
	for (size_t i = 0; v && i < nk; i++) {
		const dl_json *j = dl_json_get(run, keys[i].key);
		char buf[64];
		const char *t = j ? value_text(keys[i].key, j, buf, sizeof buf) : NULL;
		if (!t)
			continue;
		size_t len = strlen(keys[i].opt) + strlen(t) + 4;
		if (!(v[n] = malloc(len)))
			break;
		snprintf(v[n++], len, *t || (strcmp(keys[i].key, "nesterov") && strcmp(keys[i].key, "sync_bn")) ? "--%s=%s" : "--%s",
			 keys[i].opt, t);
	}
	dl_json_free(run);
	if (!v || (n && !v[n - 1])) {
		for (int i = 0; v && i < n; i++)
			free(v[i]);
		free(v);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	*out = v;
	*nout = n;
	return 0;
}

static void text_of(const dl_json *j, char *buf, size_t n)
{
	if (!j || j->type == DL_JSON_NULL)
		snprintf(buf, n, "(none)");
	else if (j->type == DL_JSON_STRING)
		snprintf(buf, n, "%s", j->str);
	else if (j->type == DL_JSON_NUMBER)
		snprintf(buf, n, "%.9g", j->number);
	else if (j->type == DL_JSON_OBJECT) /* augment */
		value_text("augment", j, buf, n);
	else
		snprintf(buf, n, "?");
}

static int same_value(const dl_json *a, const dl_json *b)
{
	char x[256], y[256];
	text_of(a, x, sizeof x);
	text_of(b, y, sizeof y);
	return !strcmp(x, y);
}

int remember_check(const char *dir, const char *now_json, dl_err *err)
{
	char ckpt[4096];
	snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", dir);
	dl_json *was = NULL, *now = NULL;
	int rc = load_run_json(ckpt, &was, err);
	if (!rc)
		rc = dl_json_parse(now_json, strlen(now_json), "dl.run", &now, err);
	for (size_t i = 0; !rc && i < sizeof keys / sizeof keys[0]; i++) {
		const dl_json *a = dl_json_get(was, keys[i].key), *b = dl_json_get(now, keys[i].key);
		if (same_value(a, b) || !strcmp(keys[i].key, "checkpoint_every"))
			continue;
		if (!strcmp(keys[i].key, "sync_bn") &&   /* a flag: absent is 0 */
		    (a && a->type == DL_JSON_NUMBER && a->number != 0) ==
		    (b && b->type == DL_JSON_NUMBER && b->number != 0))
			continue;
		int longer = (!strcmp(keys[i].key, "epochs") || !strcmp(keys[i].key, "steps")) && a &&
			     b && a->type == DL_JSON_NUMBER && b->type == DL_JSON_NUMBER &&
			     b->number > a->number && (!strcmp(keys[i].key, "epochs") || a->number > 0);
		if (longer)
			continue;
		char x[256], y[256];
		text_of(b, x, sizeof x);
		text_of(a, y, sizeof y);
		rc = dl_fail(err, DL_EUSAGE, "--resume %s: --%s %s differs from the run's %s (an option "
			     "given again must match; only a longer --epochs/--steps, --checkpoint-every, "
			     "--time-limit, --max-cost and logging may change)", dir, keys[i].opt, x, y);
	}
	dl_json_free(was);
	dl_json_free(now);
	return rc;
}

int remember_prune_log(const char *path, int epoch, int csv, dl_err *err)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : dl_fail_errno(err, DL_EIO, "%s: cannot read", path);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int dropped = 0, rc = 0;
	dl_afile a;
	if ((rc = dl_afile_open(&a, path, err))) {
		fclose(f);
		return rc;
	}
	int wbad = 0;
	for (long no = 0; !wbad && (len = getline(&line, &cap, f)) >= 0; no++) {
		int e = -1;
		if (csv && no > 0)
			e = atoi(line);
		else if (!csv && strstr(line, "\"event\": \"epoch\"")) {
			const char *p = strstr(line, "\"epoch\": ");
			e = p ? atoi(p + 9) : -1;
		}
		if (e > epoch) {
			dropped++;
			continue;
		}
		wbad = fwrite(line, 1, (size_t)len, a.f) != (size_t)len;
	}
	int bad = ferror(f) || wbad;
	fclose(f);
	free(line);
	if (bad) {
		dl_afile_abort(&a);
		return dl_fail_errno(err, DL_EIO, "%s: %s failed", path, wbad ? "rewrite" : "read");
	}
	if (!dropped) {
		dl_afile_abort(&a);
		return 0;
	}
	return dl_afile_commit(&a, err);
}
