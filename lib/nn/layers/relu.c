/* relu: y = max(x, 0), any shape. */
#include "nn/layer.h"

static int configure(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	(void)sl;
	(void)err;
	l->out = l->in;
	return 0;
}

static void forward(dl_layer *l, dl_backend *be, int n, const float *x, float *y)
{
	be->ops->act_fwd(be, DL_ACT_RELU, 0, (size_t)n * dl_shape_size(l->in), x, y);
}

static void backward(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
		     const float *dy, float *dx)
{
	if (dx)
		be->ops->act_bwd(be, DL_ACT_RELU, 0, (size_t)n * dl_shape_size(l->in), x, y, dy, dx);
}

const dl_layer_kind dl_layer_relu = {
	.name = "relu", .torch = "ReLU",
	.configure = configure, .forward = forward, .backward = backward,
};
