/* Evaluation metrics from a model's outputs, computed on the host in
 * double precision.
 *
 * Classification (outputs are logits [n, k], labels in [0, k)):
 *   loss      mean softmax cross-entropy (no label smoothing)
 *   accuracy  argmax == label (ties: the lowest index, as argmax)
 *   top-k     label among the k largest logits
 *   confusion [k, k] counts, row = true class, column = predicted class
 *   per class precision = tp / predicted, recall = tp / support, F1 (0 when
 *             undefined, as scikit-learn's zero_division=0); macro averages.
 * Regression (outputs and targets [n, k]):
 *   mse, mae over all n*k values; r2 = mean over columns of
 *   1 - SS_res / SS_tot (scikit-learn's r2_score, uniform average; a
 *   constant column scores 1 if predicted exactly, else 0); loss = the
 *   model's loss (mse, or huber with its delta). */
#ifndef DL_EVAL_METRICS_H
#define DL_EVAL_METRICS_H

#include <stdint.h>
#include "core/error.h"
#include "nn/loss.h"

typedef struct dl_cls_metrics {
	long n;
	int k, topk;
	double loss, accuracy, topk_accuracy;
	double macro_precision, macro_recall, macro_f1;
	long *confusion;            /* [k * k] */
	double *precision, *recall, *f1;   /* [k] each */
	long *support;              /* [k] samples per true class */
} dl_cls_metrics;

/* topk in [1, k].  Non-finite logits are DL_EDATA (a diverged model). */
int dl_cls_metrics_compute(dl_cls_metrics *out, const float *logits, const int32_t *labels,
			   long n, int k, int topk, dl_err *err);
void dl_cls_metrics_release(dl_cls_metrics *m);

typedef struct dl_reg_metrics {
	long n;
	int k;
	double loss, mse, mae, r2;
} dl_reg_metrics;

int dl_reg_metrics_compute(dl_reg_metrics *out, const float *pred, const float *target, long n,
			   int k, const dl_loss *loss, dl_err *err);

#endif
