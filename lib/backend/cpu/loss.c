/* Softmax and softmax cross-entropy over rows of logits [n, k], and the
 * regression losses (MSE, Huber) over pred/target [n, k].
 * Numerically stable: the row max is subtracted before exp, so logits of
 * any magnitude give finite results.  Rows are independent; the loss and
 * statistic sums are taken on the calling thread in row order (in double),
 * so they do not depend on the thread count. */
#include "backend/cpu/cpu.h"

#include <math.h>

/* probs[j] = exp(z[j] - max) / sum; returns log(sum) (of the shifted row)
 * and stores the first argmax. */
static double softmax_row(int k, const float *z, float *probs, int *argmax)
{
	int am = 0;
	for (int j = 1; j < k; j++)
		if (z[j] > z[am])
			am = j;
	float mx = z[am];
	double sum = 0;
	for (int j = 0; j < k; j++) {
		float e = expf(z[j] - mx);
		if (probs)
			probs[j] = e;
		sum += e;
	}
	if (probs) {
		float inv = (float)(1.0 / sum);
		for (int j = 0; j < k; j++)
			probs[j] *= inv;
	}
	*argmax = am;
	return log(sum);
}

void cpu_softmax_xent(dl_backend *be, int n, int k, const float *logits,
		      const int32_t *labels, float smoothing, float grad_scale,
		      float *dlogits, float *stats)
{
	(void)be;
	double loss = 0;
	/* target = (1 - s) onehot + s / k: loss = (1 - s) nll[y] + s mean_j nll[j] */
	double s = smoothing, off = s / k;
	int correct = 0;
	for (int i = 0; i < n; i++) {
		const float *z = logits + (size_t)i * k;
		float *d = dlogits ? dlogits + (size_t)i * k : NULL;
		int am, y = labels[i];
		double lse = softmax_row(k, z, d, &am);
		/* -log softmax[j] = log(sum exp(z - max)) - (z[j] - max) */
		loss += (1 - s) * (lse - ((double)z[y] - (double)z[am]));
		if (s != 0) {
			double mean = 0;
			for (int j = 0; j < k; j++)
				mean += lse - ((double)z[j] - (double)z[am]);
			loss += s * mean / k;
		}
		correct += am == y;
		if (d) {
			for (int j = 0; j < k; j++)
				d[j] = (float)((d[j] - off - (j == y ? 1 - s : 0)) * grad_scale);
		}
	}
	stats[0] += (float)loss;
	stats[1] += (float)correct;
}

void cpu_softmax(dl_backend *be, int n, int k, const float *logits, float *probs)
{
	(void)be;
	for (int i = 0; i < n; i++) {
		int am;
		softmax_row(k, logits + (size_t)i * k, probs + (size_t)i * k, &am);
	}
}

void cpu_regress_loss(dl_backend *be, dl_reg_kind kind, int n, int k, const float *pred,
		      const float *target, float delta, float grad_scale, float *dpred,
		      float *stats)
{
	(void)be;
	double loss = 0, abs_sum = 0, sq_sum = 0;
	size_t cnt = (size_t)n * (size_t)k;
	for (size_t i = 0; i < cnt; i++) {
		float e = pred[i] - target[i], ae = fabsf(e), d;
		double l;
		if (kind == DL_REG_MSE) {
			l = (double)e * e;
			d = 2.0f * e;
		} else if (ae < delta) {   /* Huber, quadratic part */
			l = 0.5 * (double)e * e;
			d = e;
		} else {                   /* Huber, linear part */
			l = (double)delta * (ae - 0.5 * (double)delta);
			d = e > 0 ? delta : -delta;
		}
		loss += l;
		abs_sum += ae;
		sq_sum += (double)e * e;
		if (dpred)
			dpred[i] = d * grad_scale;
	}
	stats[0] += (float)loss;
	stats[1] += (float)abs_sum;
	stats[2] += (float)sq_sum;
}
