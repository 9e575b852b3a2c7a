#include "train/trainlog.h"

static void human(FILE *f, const dl_epoch_report *r)
{
	const dl_metrics *t = r->train, *v = r->val;
	if (r->epochs)
		fprintf(f, "epoch %d/%ld", r->epoch, r->epochs);
	else
		fprintf(f, "epoch %d (step %ld)", r->epoch, r->step);
	fprintf(f, "%s - %.1fs - %.0f img/s - lr %.3g - loss %.4f", r->partial ? " (partial)" : "",
		r->seconds, r->images_per_s, r->lr, t->loss);
	if (t->regression)
		fprintf(f, " - mae %.4f - rmse %.4f", t->mae, t->rmse);
	else
		fprintf(f, " - accuracy %.4f", t->accuracy);
	if (v && v->regression)
		fprintf(f, " - val_loss %.4f - val_mae %.4f - val_rmse %.4f", v->loss, v->mae, v->rmse);
	else if (v)
		fprintf(f, " - val_loss %.4f - val_accuracy %.4f", v->loss, v->accuracy);
	fputc('\n', f);
	fflush(f);
}

static void metrics_json(FILE *f, const char *pre, const dl_metrics *m)
{
	fprintf(f, ", \"%sloss\": %.6f", pre, m->loss);
	if (m->regression)
		fprintf(f, ", \"%smae\": %.6f, \"%srmse\": %.6f", pre, m->mae, pre, m->rmse);
	else
		fprintf(f, ", \"%saccuracy\": %.6f", pre, m->accuracy);
}

static void json(FILE *f, const dl_epoch_report *r)
{
	fprintf(f, "{\"event\": \"epoch\", \"epoch\": %d, \"step\": %ld, \"lr\": %.9g", r->epoch,
		r->step, r->lr);
	if (r->partial)
		fputs(", \"partial\": true", f);
	metrics_json(f, "", r->train);
	if (r->val)
		metrics_json(f, "val_", r->val);
	fprintf(f, ", \"seconds\": %.3f, \"images_per_s\": %.1f}\n", r->seconds, r->images_per_s);
	fflush(f);
}

/* Columns are fixed for a run: epoch,step,lr,loss,accuracy|mae,rmse,
 * val_loss,val_accuracy|val_mae,val_rmse (empty without val),seconds. */
static void csv(FILE *f, const dl_epoch_report *r)
{
	const dl_metrics *t = r->train, *v = r->val;
	fprintf(f, "%d,%ld,%.9g,%.6f,", r->epoch, r->step, r->lr, t->loss);
	if (t->regression)
		fprintf(f, "%.6f,%.6f,", t->mae, t->rmse);
	else
		fprintf(f, "%.6f,", t->accuracy);
	if (v && v->regression)
		fprintf(f, "%.6f,%.6f,%.6f,", v->loss, v->mae, v->rmse);
	else if (v)
		fprintf(f, "%.6f,%.6f,", v->loss, v->accuracy);
	else
		fputs(t->regression ? ",,," : ",,", f);
	fprintf(f, "%.3f\n", r->seconds);
	fflush(f);
}

void dl_log_csv_header(FILE *f, int regression)
{
	fprintf(f, "epoch,step,lr,loss,%s,val_loss,%s,seconds\n", regression ? "mae,rmse" : "accuracy",
		regression ? "val_mae,val_rmse" : "val_accuracy");
}

int dl_log_epoch(const dl_train_opts *o, const dl_epoch_report *r, dl_err *err)
{
	if (o->progress) {
		if (o->bar)
			dl_log_bar_clear(o->progress);
		human(o->progress, r);
	}
	if (o->log)
		json(o->log, r);
	if (o->csv)
		csv(o->csv, r);
	/* json() and csv() flush: a full disk shows here, not at the end */
	if (o->log && ferror(o->log))
		return dl_fail(err, DL_EIO, "%s: write failed", o->log_name ? o->log_name : "log");
	if (o->csv && ferror(o->csv))
		return dl_fail(err, DL_EIO, "%s: write failed", o->csv_name ? o->csv_name : "CSV log");
	return 0;
}

void dl_log_bar(FILE *f, long pos, long per_epoch, double secs, double loss)
{
	enum { W = 30 };
	int fill = per_epoch > 0 ? (int)(W * pos / per_epoch) : 0;
	char bar[W + 1];
	for (int i = 0; i < W; i++)
		bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
	bar[W] = 0;
	fprintf(f, "\r%6ld/%ld [%s] - %.0fs", pos, per_epoch, bar, secs);
	if (loss >= 0)
		fprintf(f, " - loss %.4f", loss);
	fputs("\033[K", f);
	fflush(f);
}

void dl_log_bar_clear(FILE *f)
{
	fputs("\r\033[K", f);
}
