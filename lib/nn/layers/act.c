/* Activation layers, y = f(x) elementwise, any shape (out = in):
 *
 *   relu                   max(x, 0)
 *   leaky_relu [slope=S]   x > 0 ? x : S x   (S default 0.01, PyTorch's)
 *   tanh
 *   sigmoid
 *   gelu                   x Phi(x), the exact erf form (PyTorch's default)
 *   hardswish              x * min(max(x + 3, 0), 6) / 6 (PyTorch's Hardswish)
 *
 * One file serves the six kinds: configure stores the backend's
 * dl_act_kind and the slope in dl_act_opts (act.h). */
#include "nn/layers/act.h"

#include <stdio.h>

_Static_assert(sizeof(dl_act_opts) <= DL_LAYER_OPTS_BYTES, "activation options fit");

static const dl_act_opts *O(const dl_layer *l)
{
	return (const dl_act_opts *)l->opts.bytes;
}

const dl_act_opts *dl_act_opts_of(const dl_layer *l)
{
	const dl_layer_kind *k = l->kind;
	return k == &dl_layer_relu || k == &dl_layer_leaky_relu || k == &dl_layer_tanh ||
	       k == &dl_layer_sigmoid || k == &dl_layer_gelu || k == &dl_layer_hardswish ? O(l)
											     : NULL;
}

static int configure_kind(dl_layer *l, dl_act_kind k)
{
	dl_act_opts *o = (dl_act_opts *)l->opts.bytes;
	o->act = k;
	o->slope = 0;
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

static int conf_hardswish(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	(void)sl;
	(void)err;
	return configure_kind(l, DL_ACT_HARDSWISH);
}

static int conf_leaky(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	double slope;
	int rc = dl_spec_float(sl, "slope", 0.01, -1e6, 1e6, &slope, err);
	if (rc)
		return rc;
	configure_kind(l, DL_ACT_LEAKY_RELU);
	((dl_act_opts *)l->opts.bytes)->slope = (float)slope;
	return 0;
}

static void forward(dl_layer *l, dl_backend *be, int n, const float *x, float *y)
{
	be->ops->act_fwd(be, O(l)->act, O(l)->slope, (size_t)n * dl_shape_size(l->in),
			 x, y);
}

static void backward(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
		     const float *dy, float *dx)
{
	if (dx)
		be->ops->act_bwd(be, O(l)->act, O(l)->slope,
				 (size_t)n * dl_shape_size(l->in), x, y, dy, dx);
}

static void describe_leaky(const dl_layer *l, char *buf, size_t n)
{
	snprintf(buf, n, "slope %g", (double)O(l)->slope);
}

static void torch_leaky(const dl_layer *l, int flat, char *buf, size_t n)
{
	(void)flat;
	snprintf(buf, n, "{\"module\": \"LeakyReLU\", \"args\": [%.9g], \"kwargs\": {}}",
		 (double)O(l)->slope);
}

const dl_layer_kind dl_layer_relu = {
	.name = "relu", .torch = "ReLU",
	.configure = conf_relu, .forward = forward, .backward = backward,
};

const dl_layer_kind dl_layer_leaky_relu = {
	.name = "leaky_relu", .torch = "LeakyReLU",
	.configure = conf_leaky, .forward = forward, .backward = backward,
	.describe = describe_leaky, .torch_module = torch_leaky,
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

const dl_layer_kind dl_layer_hardswish = {
	.name = "hardswish", .torch = "Hardswish",
	.configure = conf_hardswish, .forward = forward, .backward = backward,
};
