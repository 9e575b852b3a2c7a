#include "eval/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int dl_cls_metrics_compute(dl_cls_metrics *out, const float *logits, const int32_t *labels,
			   long n, int k, int topk, dl_err *err)
{
	memset(out, 0, sizeof *out);
	if (k < 1 || topk < 1 || topk > k)
		return dl_fail(err, DL_EUSAGE, "top-k must be in [1, %d]", k);
	out->n = n, out->k = k, out->topk = topk;
	out->confusion = calloc((size_t)k * (size_t)k, sizeof(long));
	out->support = calloc((size_t)k, sizeof(long));
	out->precision = calloc((size_t)k, sizeof(double));
	out->recall = calloc((size_t)k, sizeof(double));
	out->f1 = calloc((size_t)k, sizeof(double));
	if (!out->confusion || !out->support || !out->precision || !out->recall || !out->f1) {
		dl_cls_metrics_release(out);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	double loss = 0;
	long correct = 0, topk_hits = 0;
	for (long i = 0; i < n; i++) {
		const float *z = logits + (size_t)i * (size_t)k;
		int y = labels[i], best = 0;
		if (y < 0 || y >= k) {
			dl_cls_metrics_release(out);
			return dl_fail(err, DL_EDATA, "sample %ld: label %d outside [0, %d)", i, y, k);
		}
		double mx = z[0];
		for (int j = 0; j < k; j++) {
			if (!isfinite(z[j])) {
				dl_cls_metrics_release(out);
				return dl_fail(err, DL_EDATA, "sample %ld: model output is %g (diverged model?)",
					       i, (double)z[j]);
			}
			if (z[j] > z[best])
				best = j;
			if (z[j] > mx)
				mx = z[j];
		}
		double se = 0;
		int above = 0;   /* classes ranked before y (ties: lower index first) */
		for (int j = 0; j < k; j++) {
			se += exp((double)z[j] - mx);
			if (z[j] > z[y] || (z[j] == z[y] && j < y))
				above++;
		}
		loss += log(se) + mx - (double)z[y];
		correct += best == y;
		topk_hits += above < topk;
		out->confusion[(size_t)y * (size_t)k + (size_t)best]++;
		out->support[y]++;
	}
	out->loss = n ? loss / (double)n : 0;
	out->accuracy = n ? (double)correct / (double)n : 0;
	out->topk_accuracy = n ? (double)topk_hits / (double)n : 0;
	for (int c = 0; c < k; c++) {
		long tp = out->confusion[(size_t)c * (size_t)k + (size_t)c], pred = 0;
		for (int r = 0; r < k; r++)
			pred += out->confusion[(size_t)r * (size_t)k + (size_t)c];
		double p = pred ? (double)tp / (double)pred : 0;
		double r = out->support[c] ? (double)tp / (double)out->support[c] : 0;
		out->precision[c] = p;
		out->recall[c] = r;
		out->f1[c] = p + r > 0 ? 2 * p * r / (p + r) : 0;
		out->macro_precision += p / k;
		out->macro_recall += r / k;
		out->macro_f1 += out->f1[c] / k;
	}
	return 0;
}

void dl_cls_metrics_release(dl_cls_metrics *m)
{
	free(m->confusion);
	free(m->support);
	free(m->precision);
	free(m->recall);
	free(m->f1);
	memset(m, 0, sizeof *m);
}

int dl_reg_metrics_compute(dl_reg_metrics *out, const float *pred, const float *target, long n,
			   int k, const dl_loss *loss, dl_err *err)
{
	memset(out, 0, sizeof *out);
	out->n = n, out->k = k;
	if (n < 1 || k < 1)
		return 0;
	double se = 0, ae = 0, l = 0, r2 = 0;
	for (size_t i = 0; i < (size_t)n * (size_t)k; i++) {
		if (!isfinite(pred[i]))
			return dl_fail(err, DL_EDATA, "sample %zu: model output is %g (diverged model?)",
				       i / (size_t)k, (double)pred[i]);
		double e = (double)pred[i] - (double)target[i], a = fabs(e);
		se += e * e;
		ae += a;
		if (loss && loss->kind == DL_LOSS_HUBER)
			l += a < loss->delta ? 0.5 * e * e : loss->delta * (a - 0.5 * loss->delta);
		else
			l += e * e;
	}
	for (int j = 0; j < k; j++) {
		double mean = 0, res = 0, tot = 0;
		for (long i = 0; i < n; i++)
			mean += target[(size_t)i * (size_t)k + (size_t)j];
		mean /= (double)n;
		for (long i = 0; i < n; i++) {
			size_t o = (size_t)i * (size_t)k + (size_t)j;
			double e = (double)pred[o] - (double)target[o], d = (double)target[o] - mean;
			res += e * e;
			tot += d * d;
		}
		r2 += tot > 0 ? 1 - res / tot : (res == 0 ? 1 : 0);
	}
	double cnt = (double)n * (double)k;
	out->mse = se / cnt;
	out->mae = ae / cnt;
	out->loss = l / cnt;
	out->r2 = r2 / k;
	return 0;
}
