/* dl-eval: how good is a checkpoint, and what does it say about new images.
 *   dl-eval CKPT DATASET     metrics (classification: loss, accuracy, top-k,
 *                            confusion matrix, per-class precision/recall/F1;
 *                            regression: loss, MSE, MAE, R²) and quality
 *                            gates for CI and cron (exit 7)
 *   dl-eval predict CKPT IMG...   classes of image files (predict.c)
 *   dl-eval plot LOG -o PNG       training curves (plot.c)
 *   dl-eval serve CKPT            HTTP prediction service (serve*.c)
 * The subcommands are entries of the option table (DL_OPT_SUBCMD). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/buf.h"
#include "core/guard.h"
#include "core/ompenv.h"
#include "core/opt.h"
#include "eval.h"
#include "eval/infer.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

static int write_logits(const char *path, const float *logits, int n, int k, dl_err *err)
{
	dl_st_writer w;
	dl_st_writer_init(&w);
	int64_t shape[2] = { n, k };
	int rc = dl_st_add(&w, "logits", DL_F32, 2, shape, logits, err);
	if (!rc)
		rc = dl_st_write(&w, path, err);
	dl_st_writer_release(&w);
	return rc;
}

/* NaN/Inf outputs (a broken checkpoint): exit 9, never "nan" in JSON. */
static int check_finite(const char *ckpt, const float *out, size_t n, dl_err *err)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(out[i]))
			return dl_fail(err, DL_EDIVERGED, "%s: the model's outputs are not finite (NaN/Inf) "
				       "(output %zu)", ckpt, i);
	return 0;
}

static void json_cls(dl_buf *b, const dl_cls_metrics *c)
{
	dl_buf_printf(b, ", \"loss\": %.6f, \"accuracy\": %.6f, \"top_k\": %d, \"top_k_accuracy\": %.6f"
		      ", \"macro_precision\": %.6f, \"macro_recall\": %.6f, \"macro_f1\": %.6f",
		      c->loss, c->accuracy, c->topk, c->topk_accuracy, c->macro_precision,
		      c->macro_recall, c->macro_f1);
	dl_buf_puts(b, ", \"per_class\": [");
	for (int i = 0; i < c->k; i++)
		dl_buf_printf(b, "%s{\"class\": %d, \"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, "
			      "\"support\": %ld}", i ? ", " : "", i, c->precision[i], c->recall[i],
			      c->f1[i], c->support[i]);
	dl_buf_puts(b, "], \"confusion\": [");
	for (int i = 0; i < c->k; i++) {
		dl_buf_puts(b, i ? ", [" : "[");
		for (int j = 0; j < c->k; j++)
			dl_buf_printf(b, "%s%ld", j ? ", " : "", c->confusion[(size_t)i * c->k + j]);
		dl_buf_puts(b, "]");
	}
	dl_buf_puts(b, "]");
}

static void text_per_class(dl_buf *b, const dl_cls_metrics *c)
{
	dl_buf_printf(b, "top-%d accuracy %.4f; macro precision %.4f, recall %.4f, F1 %.4f\n",
		      c->topk, c->topk_accuracy, c->macro_precision, c->macro_recall, c->macro_f1);
	dl_buf_puts(b, "class  precision  recall      f1  support\n");
	for (int i = 0; i < c->k; i++)
		dl_buf_printf(b, "%5d  %9.4f  %6.4f  %6.4f  %7ld\n", i, c->precision[i], c->recall[i],
			      c->f1[i], c->support[i]);
	dl_buf_puts(b, "confusion (rows: true class, columns: predicted)\n");
	for (int i = 0; i < c->k; i++) {
		for (int j = 0; j < c->k; j++)
			dl_buf_printf(b, "%s%6ld", j ? " " : "", c->confusion[(size_t)i * c->k + j]);
		dl_buf_puts(b, "\n");
	}
}

int main(int argc, char **argv)
{
	dl_omp_passive(argv);   /* oneDNN's OpenMP threads sleep, not spin */
	const char *device = "auto", *logits_path = NULL, *plot_path = NULL, *precision = "fp32";
	long batch = 256, threads = 0, topk = 5;
	const double unset = -1e300;   /* gates not given */
	double min_acc = unset, max_loss = unset, max_mae = unset, max_memory = 0;
	int json = 0, per_class = 0;
	const dl_opt opts[] = {
		DL_OPT_FLAG(0, "json", &json,
		  "print one JSON object (every metric, per class, confusion) on stdout"),
		DL_OPT_FLAG(0, "per-class", &per_class,
		  "text: also top-k, per-class precision/recall/F1 and the confusion matrix"),
		DL_OPT_INT('k', "top-k", &topk, "K", "top-K accuracy (default 5, at most classes)",
			   DL_MIN(1)),
		DL_OPT_STRING(0, "plot", &plot_path, "FILE", "confusion heat map as PNG to FILE"),
		DL_OPT_FLOAT(0, "min-accuracy", &min_acc, "X", "gate: exit 7 if accuracy < X (0..1)",
			     DL_MIN(0), DL_MAX(1)),
		DL_OPT_FLOAT(0, "max-loss", &max_loss, "X", "gate: exit 7 if loss > X", DL_MIN(0)),
		DL_OPT_FLOAT(0, "max-mae", &max_mae, "X",
		  "gate (regression): exit 7 if mean absolute error > X", DL_MIN(0)),
		DL_OPT_STRING(0, "logits", &logits_path, "FILE",
		  "also write the model's outputs, F32 [N, outputs], to FILE"),
		DL_OPT_INT('b', "batch", &batch, "N",
			   "samples per forward pass (default 256, at most the dataset's N)",
			   DL_MIN(1), DL_MAX(65536)),
		DL_OPT_FLOAT(0, "max-memory", &max_memory, "GIB",
			     "refuse a batch whose activations need more (default: physical memory)",
			     DL_MIN(0), DL_MAX(1e6)),
		DL_OPT_INT('j', "threads", &threads, "N", "CPU threads (default: all cores)", DL_MIN(0),
			   DL_MAX(1024)),
		DL_OPT_STRING(0, "device", &device, "DEV", "auto (default: a GPU when one answers) or cpu"),
		DL_OPT_STRING(0, "precision", &precision, "P",
		  "fp32 (default), tf32 (GPU) or bf16 arithmetic (GPU; CPUs with AVX512-BF16)"),
		DL_OPT_SUBCMD("predict", predict_main, NULL, "CHECKPOINT [IMAGE...]",
			      "classes of image files, TSV or JSON"),
		DL_OPT_SUBCMD("plot", plot_main, NULL, "LOG.jsonl -o PNG", "training curves from a dl-train log"),
		DL_OPT_SUBCMD("serve", serve_main, NULL, "CHECKPOINT",
			      "HTTP prediction service (POST /predict, /healthz, /metadata, /metrics)"),
		DL_OPT_END,
	};
	const dl_cmd cmd = {
		"dl-eval", "CHECKPOINT DATASET [--json] [gates]\n"
		"predict CHECKPOINT [IMAGE...]\nplot LOG.jsonl -o FILE.png\nserve CHECKPOINT [--listen ADDR:PORT]",
		"Scores a checkpoint (dl-train's model.safetensors) on a dataset file.\n"
		"Classifiers: mean softmax cross-entropy loss, accuracy, top-k accuracy,\n"
		"per-class precision/recall/F1 and the confusion matrix.  Regression models\n"
		"(spec line 'loss kind=mse|huber', dataset 'targets'): loss, MSE, MAE, R^2.\n"
		"Gates exit 7 ('gate failed', the failing figure in the message) after the\n"
		"results are printed.",
		opts,
		"examples:\n"
		"  dl-eval runs/lenet/model.safetensors data/test.safetensors --per-class\n"
		"  dl-eval runs/lenet/model.safetensors data/test.safetensors --json --min-accuracy 0.85\n"
		"  dl-eval runs/lenet/model.safetensors data/test.safetensors --plot confusion.png\n",
	};
	dl_err err = { 0 };
	int npos, rc = 0;
	dl_backend *be = NULL;
	dl_model m = { 0 };
	dl_checkpoint ck = { 0 };
	dl_dataset d = { 0 };
	dl_cls_metrics cm = { 0 };
	dl_reg_metrics rm = { 0 };
	float *out = NULL;
	dl_buf b;
	dl_guard g = { 0 };
	dl_buf_init(&b);
	if (dl_opt_subcmd(&cmd, argc, argv, &rc))
		return rc;
	if ((rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err)))
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-eval", &err);
	if (npos != 2) {
		rc = dl_fail(&err, DL_EUSAGE, "expected CHECKPOINT and DATASET, got %d arguments", npos);
		goto fail;
	}
	const char *ckpt = argv[1], *data = argv[2];
	const dl_iofile ins[] = { { "CHECKPOINT", ckpt }, { "DATASET", data } };
	const dl_iofile outs[] = { { "--logits", logits_path }, { "--plot", plot_path } };
	if ((rc = dl_guard_begin(&g, DL_GUARD_DIE, ins, 2, outs, 2, &err)))
		goto fail;
	dl_backend_opts bo = { .device = device, .threads = (int)threads, .precision = precision,
			       .log = dl_logger_stderr("dl-eval") };
	if ((rc = dl_backend_open_opts(&be, &bo, &err)) ||
	    (rc = dl_checkpoint_load(ckpt, &m, be, NULL, &ck, &err)) ||
	    (rc = dl_dataset_open(&d, data, &err)))
		goto fail;
	int k = dl_model_output_shape(&m).c, reg = dl_loss_is_regression(&m.loss);
	if (reg && (min_acc >= 0 || plot_path))
		rc = dl_fail(&err, DL_EUSAGE, "%s is a regression model: --min-accuracy and --plot "
			     "are for classifiers (use --max-mae, --max-loss)", ckpt);
	else if (!reg && max_mae >= 0)
		rc = dl_fail(&err, DL_EUSAGE, "%s is a classifier: --max-mae is for regression models",
			     ckpt);
	else if (reg && (d.h != m.input.h || d.w != m.input.w || d.c != m.input.c))
		rc = dl_fail(&err, DL_EDATA, "%s: images are %dx%dx%d but model %s expects %dx%dx%d",
			     data, d.h, d.w, d.c, m.name, m.input.h, m.input.w, m.input.c);
	else if (reg && (!d.targets || d.ntargets != k))
		rc = dl_fail(&err, DL_EDATA, "%s: needs 'targets' F32 [N, %d] for regression model %s",
			     data, k, m.name);
	else if (!reg && !(rc = dl_check_fit(&m, &d, data, &err)) && !d.labels)
		rc = dl_fail(&err, DL_EDATA, "%s: no 'labels' to score classifier %s against", data,
			     m.name);
	if (rc)
		goto fail;
	if (!(out = malloc(sizeof(float) * (size_t)k * (size_t)(d.n ? d.n : 1)))) {
		rc = dl_fail(&err, DL_EFAIL, "out of memory");
		goto fail;
	}
	m.max_plan_bytes = (size_t)(max_memory * (1 << 30));
	if ((rc = dl_infer(&m, d.images, d.n, &ck.norm, (int)batch, out, &err)) ||
	    (rc = check_finite(ckpt, out, (size_t)d.n * (size_t)k, &err)) ||
	    (reg ? (rc = dl_reg_metrics_compute(&rm, out, d.targets, d.n, k, &m.loss, &err))
		 : (rc = dl_cls_metrics_compute(&cm, out, d.labels, d.n, k,
						(int)(topk < k ? topk : k), &err))))
		goto fail;
	if (logits_path && (rc = write_logits(logits_path, out, d.n, k, &err)))
		goto fail;
	if (plot_path && (rc = plot_confusion(&cm, d.classes_json ? d.classes_json : ck.classes_json,
					      m.name, plot_path, &err)))
		goto fail;
	double loss = reg ? rm.loss : cm.loss;
	if (json) {
		dl_buf_puts(&b, "{\"checkpoint\": ");
		dl_buf_json_string(&b, ckpt);
		dl_buf_puts(&b, ", \"dataset\": ");
		dl_buf_json_string(&b, data);
		dl_buf_puts(&b, ", \"model\": ");
		dl_buf_json_string(&b, m.name);
		dl_buf_printf(&b, ", \"task\": \"%s\", \"n\": %d", reg ? "regression" : "classification", d.n);
		dl_buf_printf(&b, ", \"device\": \"%s\", \"precision\": ", be->ops->name);
		dl_buf_json_string(&b, precision);
		if (reg)
			dl_buf_printf(&b, ", \"loss\": %.6f, \"mse\": %.6f, \"mae\": %.6f, \"r2\": %.6f",
				      rm.loss, rm.mse, rm.mae, rm.r2);
		else
			json_cls(&b, &cm);
		dl_buf_puts(&b, "}\n");
	} else if (reg) {
		dl_buf_printf(&b, "%s on %s: %d samples, loss %.4f, mse %.4f, mae %.4f, r2 %.4f\n", m.name,
			      data, d.n, rm.loss, rm.mse, rm.mae, rm.r2);
	} else {
		dl_buf_printf(&b, "%s on %s: %d samples, loss %.4f, accuracy %.4f\n", m.name, data, d.n,
			      cm.loss, cm.accuracy);
		if (per_class)
			text_per_class(&b, &cm);
	}
	if (b.oom) {
		rc = dl_fail(&err, DL_EFAIL, "out of memory");
		goto fail;
	}
	fputs(b.p, stdout);
	if (fflush(stdout) || ferror(stdout)) {
		rc = dl_fail_errno(&err, DL_EIO, "stdout: write failed");
		goto fail;
	}
	/* gates, after the results are out */
	if (min_acc >= 0 && cm.accuracy < min_acc)
		rc = dl_fail(&err, DL_EGATE, "gate failed: accuracy %.4f < --min-accuracy %.4f on %s",
			     cm.accuracy, min_acc, data);
	else if (max_loss >= 0 && loss > max_loss)
		rc = dl_fail(&err, DL_EGATE, "gate failed: loss %.4f > --max-loss %.4f on %s", loss,
			     max_loss, data);
	else if (max_mae >= 0 && rm.mae > max_mae)
		rc = dl_fail(&err, DL_EGATE, "gate failed: mae %.4f > --max-mae %.4f on %s", rm.mae,
			     max_mae, data);
	if (rc)
		goto fail;
	goto done;
fail:
	rc = dl_tool_fail("dl-eval", &err);
done:
	dl_buf_release(&b);
	free(out);
	dl_cls_metrics_release(&cm);
	dl_dataset_close(&d);
	dl_checkpoint_release(&ck);
	dl_model_release(&m);
	dl_backend_close(be);
	dl_guard_end(&g);
	return rc;
}
