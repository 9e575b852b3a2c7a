/* Activation layers, y = f(x) elementwise, any shape (out = in):
 *
 *   relu                   max(x, 0)
 *   leaky_relu [slope=S]   x > 0 ? x : S x   (S default 0.01, PyTorch's)
 *   tanh
 *   sigmoid
 *   gelu                   x Phi(x), the exact erf form (PyTorch's default)
 *
 * One file serves the five kinds: configure stores the backend's
 * dl_act_kind in opt[0] and the slope in fopt[0]. */
#include "nn/layer.h"

#include <stdio.h>

static int configure_kind(dl_layer *l, dl_act_kind k)
{
	l->opt[0] = (int)k;
	l->fopt[0] = 0;
	l->out = l->in;
	return 0;
}

static int conf_relu(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	(void)sl;
	(void)err;
	return configure_kind(l, DL_ACT_RELU);
}

static int conf_tanh(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	(void)sl;
	(void)err;
	return configure_kind(l, DL_ACT_TANH);
}

static int conf_sigmoid(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	(void)sl;
	(void)err;
	return configure_kind(l, DL_ACT_SIGMOID);
}

static int conf_gelu(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	(void)sl;
	(void)err;
	return configure_kind(l, DL_ACT_GELU);
}

static int conf_leaky(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	double slope;
	int rc = dl_spec_float(sl, "slope", 0.01, -1e6, 1e6, &slope, err);
	if (rc)
		return rc;
	configure_kind(l, DL_ACT_LEAKY_RELU);
	l->fopt[0] = (float)slope;
	return 0;
}

static void forward(dl_layer *l, dl_backend *be, int n, const float *x, float *y)
{
	be->ops->act_fwd(be, (dl_act_kind)l->opt[0], l->fopt[0], (size_t)n * dl_shape_size(l->in),
			 x, y);
}

static void backward(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
		     const float *dy, float *dx)
{
	if (dx)
		be->ops->act_bwd(be, (dl_act_kind)l->opt[0], l->fopt[0],
				 (size_t)n * dl_shape_size(l->in), x, y, dy, dx);
}

static void describe_leaky(const dl_layer *l, char *buf, size_t n)
{
	snprintf(buf, n, "slope %g", (double)l->fopt[0]);
}

const dl_layer_kind dl_layer_relu = {
	.name = "relu", .torch = "ReLU",
	.configure = conf_relu, .forward = forward, .backward = backward,
};

const dl_layer_kind dl_layer_leaky_relu = {
	.name = "leaky_relu", .torch = "LeakyReLU",
	.configure = conf_leaky, .forward = forward, .backward = backward,
	.describe = describe_leaky,
};

const dl_layer_kind dl_layer_tanh = {
	.name = "tanh", .torch = "Tanh",
	.configure = conf_tanh, .forward = forward, .backward = backward,
};

const dl_layer_kind dl_layer_sigmoid = {
	.name = "sigmoid", .torch = "Sigmoid",
	.configure = conf_sigmoid, .forward = forward, .backward = backward,
};

const dl_layer_kind dl_layer_gelu = {
	.name = "gelu", .torch = "GELU",
	.configure = conf_gelu, .forward = forward, .backward = backward,
};
