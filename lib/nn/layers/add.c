/* add: the elementwise sum of two or more inputs of equal shape (residual
 * connections).  y = x0 + x1 + ...; every input's gradient is dy.  A relu
 * after it that dl_model_plan fused (l->post_relu) is applied here: y =
 * max(sum, 0), and each input's gradient is dy where y > 0, else 0.
 *   add from=A,B[,C...] */
#include "nn/layer.h"

static int configure(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	(void)sl;
	for (int j = 1; j < l->nin; j++) {
		dl_shape a = l->ins[0], b = l->ins[j];
		if (a.h != b.h || a.w != b.w || a.c != b.c)
			return dl_fail(err, DL_EDATA, "%s:%d: add: input %d is %dx%dx%d but input 1 is %dx%dx%d (add needs equal shapes)",
				       sl->src, sl->lineno, j + 1, b.h, b.w, b.c, a.h, a.w, a.c);
	}
	l->out = l->ins[0];
	return 0;
}

/* y = ((x0 + x1) + x2) + ..., in one pass per input after the first */
static void forward(dl_layer *l, dl_backend *be, int n, const float *x, float *y)
{
	size_t cnt = (size_t)n * dl_shape_size(l->out);
	be->ops->add2(be, cnt, x, l->xs[1], l->post_relu && l->nin == 2, y);
	for (int j = 2; j < l->nin; j++)
		be->ops->add2(be, cnt, y, l->xs[j], l->post_relu && j == l->nin - 1, y);
}

static void backward(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
		     const float *dy, float *dx)
{
	(void)x;
	(void)dx;   /* = l->dxs[0] */
	size_t cnt = (size_t)n * dl_shape_size(l->out);
	const float *g = dy;   /* the gradient every input gets */
	for (int j = 0; j < l->nin; j++) {
		if (!l->dxs[j])
			continue;
		if (l->post_relu && g == dy) {
			be->ops->act_bwd(be, DL_ACT_RELU, 0.0f, cnt, NULL, y, dy, l->dxs[j]);
			g = l->dxs[j];
		} else {
			be->ops->axpby(be, cnt, 1.0f, g, 0.0f, l->dxs[j]);
		}
	}
}

const dl_layer_kind dl_layer_add = {
	.name = "add", .torch = "add", .multi_input = 1,
	.configure = configure, .forward = forward, .backward = backward,
};
