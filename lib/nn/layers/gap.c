/* gap: global average pooling, y [n, 1, 1, c] = mean over h, w of x [n, h, w, c].
 *
 *   gap
 *
 * The output is flat (h = w = 1), so a dense layer can follow without
 * flatten.  The PyTorch equivalent is AdaptiveAvgPool2d(1) followed by
 * Flatten (an exporter must emit both); no parameters. */
#include "nn/layer.h"

#include <stdio.h>

static dl_pool_geom geom(const dl_layer *l, int n)
{
	return (dl_pool_geom){
		.n = n, .h = l->in.h, .w = l->in.w, .c = l->in.c,
		.kh = l->in.h, .kw = l->in.w, .sh = l->in.h, .sw = l->in.w,
		.pt = 0, .pl = 0, .oh = 1, .ow = 1,
	};
}

static int configure(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	(void)sl;
	(void)err;
	l->out = (dl_shape){ 1, 1, l->in.c };
	return 0;
}

static void forward(dl_layer *l, dl_backend *be, int n, const float *x, float *y)
{
	dl_pool_geom g = geom(l, n);
	be->ops->avgpool_fwd(be, &g, x, y);
}

static void backward(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
		     const float *dy, float *dx)
{
	(void)x;
	(void)y;
	dl_pool_geom g = geom(l, n);
	if (dx)
		be->ops->avgpool_bwd(be, &g, dy, dx);
}

static void describe(const dl_layer *l, char *buf, size_t n)
{
	snprintf(buf, n, "%dx%d -> 1x1", l->in.h, l->in.w);
}

static void torch_module(const dl_layer *l, int flat, char *buf, size_t n)
{
	(void)l;
	(void)flat;
	snprintf(buf, n, "{\"module\": \"Sequential\", \"layers\": ["
		 "{\"module\": \"AdaptiveAvgPool2d\", \"args\": [1], \"kwargs\": {}}, "
		 "{\"module\": \"Flatten\", \"args\": [], \"kwargs\": {}}]}");
}

const dl_layer_kind dl_layer_gap = {
	.name = "gap", .torch = "AdaptiveAvgPool2d",
	.configure = configure, .forward = forward, .backward = backward,
	.describe = describe, .torch_module = torch_module, .torch_flat = 1,
};
