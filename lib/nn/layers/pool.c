/* Window pooling: maxpool and avgpool share their options and geometry.
 *
 *   maxpool [size=2] [stride=size] [pad=0]
 *   avgpool [size=2] [stride=size] [pad=0]
 *
 * y [n, oh, ow, c] = max (maxpool) or mean (avgpool) over size x size
 * windows of x [n, h, w, c]; floor mode, as PyTorch's default.  pad <= size/2
 * (as PyTorch requires) cells on every side: for maxpool they never win
 * (PyTorch's -inf padding), for avgpool they count as zeros in the mean
 * (divisor size*size, AvgPool2d's default count_include_pad=True).
 * Options: dl_pool_opts (pool.h). */
#include "nn/layers/pool.h"

#include <stdio.h>

_Static_assert(sizeof(dl_pool_opts) <= DL_LAYER_OPTS_BYTES, "pool options fit");

const dl_pool_opts *dl_pool_opts_of(const dl_layer *l)
{
	return l->kind == &dl_layer_maxpool || l->kind == &dl_layer_avgpool
		       ? (const dl_pool_opts *)l->opts.bytes : NULL;
}

static const dl_pool_opts *O(const dl_layer *l)
{
	return (const dl_pool_opts *)l->opts.bytes;
}

static dl_pool_geom geom(const dl_layer *l, int n)
{
	const dl_pool_opts *o = O(l);
	return (dl_pool_geom){
		.n = n, .h = l->in.h, .w = l->in.w, .c = l->in.c,
		.kh = o->size, .kw = o->size, .sh = o->stride, .sw = o->stride,
		.pt = o->pad, .pl = o->pad, .oh = l->out.h, .ow = l->out.w,
	};
}

static int configure(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	dl_pool_opts *o = (dl_pool_opts *)l->opts.bytes;
	int rc = dl_spec_int(sl, "size", 2, 1, 64, &o->size, err);
	if (!rc)
		rc = dl_spec_int(sl, "stride", o->size, 1, 64, &o->stride, err);
	if (!rc)
		rc = dl_spec_int(sl, "pad", 0, 0, o->size / 2, &o->pad, err);
	if (rc)
		return rc;
	int s = o->size, st = o->stride, p = o->pad;
	if (l->in.h + 2 * p < s || l->in.w + 2 * p < s)
		return dl_fail(err, DL_EDATA, "%s:%d: %s: %dx%d window does not fit the %dx%d input",
			       sl->src, sl->lineno, l->kind->name, s, s, l->in.h, l->in.w);
	l->out = (dl_shape){ dl_conv_out(l->in.h, p, p, s, st), dl_conv_out(l->in.w, p, p, s, st),
			     l->in.c };
	return 0;
}

static void max_forward(dl_layer *l, dl_backend *be, int n, const float *x, float *y)
{
	dl_pool_geom g = geom(l, n);
	be->ops->maxpool_fwd(be, &g, x, y);
}

static void max_backward(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
			 const float *dy, float *dx)
{
	dl_pool_geom g = geom(l, n);
	if (dx)
		be->ops->maxpool_bwd(be, &g, x, y, dy, dx);
}

static void avg_forward(dl_layer *l, dl_backend *be, int n, const float *x, float *y)
{
	dl_pool_geom g = geom(l, n);
	be->ops->avgpool_fwd(be, &g, x, y);
}

static void avg_backward(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
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
	const dl_pool_opts *o = O(l);
	snprintf(buf, n, "%dx%d s%d p%d", o->size, o->size, o->stride, o->pad);
}

static void torch_module(const dl_layer *l, int flat, char *buf, size_t n)
{
	(void)flat;
	const dl_pool_opts *o = O(l);
	snprintf(buf, n, "{\"module\": \"%s\", \"args\": [%d], \"kwargs\": "
		 "{\"stride\": %d, \"padding\": %d}}", l->kind->torch, o->size, o->stride, o->pad);
}

const dl_layer_kind dl_layer_maxpool = {
	.name = "maxpool", .torch = "MaxPool2d",
	.configure = configure, .forward = max_forward, .backward = max_backward,
	.describe = describe, .torch_module = torch_module,
};

const dl_layer_kind dl_layer_avgpool = {
	.name = "avgpool", .torch = "AvgPool2d",
	.configure = configure, .forward = avg_forward, .backward = avg_backward,
	.describe = describe, .torch_module = torch_module,
};
