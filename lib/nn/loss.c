#include "nn/loss.h"

#include <string.h>

int dl_loss_parse(dl_loss *loss, dl_spec_line *sl, dl_err *err)
{
	const char *kind;
	double v;
	memset(loss, 0, sizeof *loss);
	int rc = dl_spec_str(sl, "kind", "xent", &kind, err);
	if (rc)
		return rc;
	if (!strcmp(kind, "xent")) {
		loss->kind = DL_LOSS_XENT;
		if ((rc = dl_spec_float(sl, "smoothing", 0, 0, 0.999, &v, err)))
			return rc;
		loss->smoothing = (float)v;
	} else if (!strcmp(kind, "mse")) {
		loss->kind = DL_LOSS_MSE;
	} else if (!strcmp(kind, "huber")) {
		loss->kind = DL_LOSS_HUBER;
		if ((rc = dl_spec_float(sl, "delta", 1.0, 1e-6, 1e6, &v, err)))
			return rc;
		loss->delta = (float)v;
	} else {
		return dl_fail(err, DL_EDATA, "%s:%d: loss: kind=%s: expected xent, mse or huber",
			       sl->src, sl->lineno, kind);
	}
	return dl_spec_check_used(sl, err);
}

int dl_loss_is_regression(const dl_loss *loss)
{
	return loss->kind != DL_LOSS_XENT;
}

const char *dl_loss_name(const dl_loss *loss)
{
	static const char *const names[] = { "xent", "mse", "huber" };
	return names[loss->kind];
}

void dl_loss_apply(const dl_loss *loss, dl_backend *be, int n, int k, const float *out,
		   const int32_t *labels, const float *targets, float grad_scale, float *dout,
		   float *stats)
{
	if (loss->kind == DL_LOSS_XENT) {
		be->ops->softmax_xent(be, n, k, out, labels, loss->smoothing,
				      grad_scale / (float)n, dout, stats);
		return;
	}
	be->ops->regress_loss(be, loss->kind == DL_LOSS_MSE ? DL_REG_MSE : DL_REG_HUBER, n, k, out,
			      targets, loss->delta, grad_scale / ((float)n * (float)k), dout, stats);
}
