/* flatten: [h, w, c] -> [1, 1, h*w*c].  NHWC memory is already flat, so the
 * output aliases the input and there is no work; only export cares about
 * the order (the next dense layer permutes its weights for PyTorch). */
#include "nn/layer.h"

static int configure(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	(void)sl;
	(void)err;
	l->out = (dl_shape){ 1, 1, (int)dl_shape_size(l->in) };
	return 0;
}

const dl_layer_kind dl_layer_flatten = {
	.name = "flatten", .torch = "Flatten", .alias = 1, .torch_flat = 1,
	.configure = configure,
};
