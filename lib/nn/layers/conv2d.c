/* conv2d: y [n, oh, ow, k] = x [n, h, w, c] * W [k, kh, kw, c/groups] + b [k].
 *
 *   conv2d filters=K size=S [stride=1] [pad=valid|same|N] [dilation=1]
 *          [groups=1] [bias=1]
 *
 * pad=same (odd kernels, stride 1: output size = input size, also with
 * dilation), pad=valid or pad=N (N cells on every side).  groups=G splits
 * the channels into G independent convolutions (c and K divisible by G);
 * groups=c is a depthwise convolution.  Export permutes W to PyTorch's
 * [k, c/groups, kh, kw].  Options: dl_conv2d_opts (conv2d.h). */
#include "nn/layers/conv2d.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(dl_conv2d_opts) <= DL_LAYER_OPTS_BYTES, "conv2d options fit");

const dl_conv2d_opts *dl_conv2d_opts_of(const dl_layer *l)
{
	return l->kind == &dl_layer_conv2d ? (const dl_conv2d_opts *)l->opts.bytes : NULL;
}

static const dl_conv2d_opts *O(const dl_layer *l)
{
	return (const dl_conv2d_opts *)l->opts.bytes;
}

static dl_conv_geom geom(const dl_layer *l, int n)
{
	const dl_conv2d_opts *o = O(l);
	int s = o->size, p = o->pad;
	return (dl_conv_geom){
		.n = n, .h = l->in.h, .w = l->in.w, .c = l->in.c,
		.k = o->filters, .kh = s, .kw = s,
		.sh = o->stride, .sw = o->stride,
		.pt = p, .pl = p, .pb = p, .pr = p,
		.oh = l->out.h, .ow = l->out.w,
		.dh = o->dilation, .dw = o->dilation, .groups = o->groups,
	};
}

static int configure(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	dl_conv2d_opts *o = (dl_conv2d_opts *)l->opts.bytes;
	const char *pad;
	int rc = dl_spec_int(sl, "filters", 0, 1, 1 << 16, &o->filters, err);
	if (!rc)
		rc = dl_spec_int(sl, "size", 0, 1, 64, &o->size, err);
	if (!rc)
		rc = dl_spec_int(sl, "stride", 1, 1, 64, &o->stride, err);
	if (!rc)
		rc = dl_spec_str(sl, "pad", "valid", &pad, err);
	if (!rc)
		rc = dl_spec_int(sl, "bias", 1, 0, 1, &o->bias, err);
	if (!rc)
		rc = dl_spec_int(sl, "dilation", 1, 1, 64, &o->dilation, err);
	if (!rc)
		rc = dl_spec_int(sl, "groups", 1, 1, 1 << 16, &o->groups, err);
	if (rc)
		return rc;
	int s = o->size, d = o->dilation, G = o->groups;
	if (l->in.c % G || o->filters % G)
		return dl_fail(err, DL_EDATA, "%s:%d: conv2d: groups=%d must divide the %d input channels and filters=%d",
			       sl->src, sl->lineno, G, l->in.c, o->filters);
	if (!strcmp(pad, "same")) {
		if (s % 2 == 0 || o->stride != 1)
			return dl_fail(err, DL_EDATA, "%s:%d: conv2d: pad=same needs an odd size and stride 1 (use pad=N)",
				       sl->src, sl->lineno);
		o->pad = d * (s / 2);
	} else if (!strcmp(pad, "valid")) {
		o->pad = 0;
	} else {
		char *end;
		long v = strtol(pad, &end, 10);
		if (*end || v < 0 || v > 64)
			return dl_fail(err, DL_EDATA, "%s:%d: conv2d: pad=%s: expected same, valid or 0..64",
				       sl->src, sl->lineno, pad);
		o->pad = (int)v;
	}
	/* the dilated kernel spans d*(s-1)+1 cells */
	int p = o->pad, st = o->stride, span = d * (s - 1) + 1;
	int oh = dl_conv_out(l->in.h, p, p, span, st), ow = dl_conv_out(l->in.w, p, p, span, st);
	if (l->in.h + 2 * p < span || l->in.w + 2 * p < span || oh < 1 || ow < 1)
		return dl_fail(err, DL_EDATA, "%s:%d: conv2d: %dx%d kernel (dilation %d) does not fit the %dx%d input",
			       sl->src, sl->lineno, s, s, d, l->in.h, l->in.w);
	l->out = (dl_shape){ oh, ow, o->filters };
	int64_t ws[4] = { o->filters, s, s, l->in.c / G }, bs[1] = { o->filters };
	dl_layer_add_param(l, "weight", 4, ws);
	if (o->bias)
		dl_layer_add_param(l, "bias", 1, bs);
	return 0;
}

static void init(const dl_layer *l, float *p, dl_rng *rng)
{
	const dl_conv2d_opts *o = O(l);
	int fan_in = o->size * o->size * (l->in.c / o->groups);
	dl_init_uniform_fan_in(p, l->param[0].count, fan_in, rng);
	if (l->nparam > 1)
		dl_init_uniform_fan_in(p + l->param[0].count, l->param[1].count, fan_in, rng);
}

static int reserve(dl_layer *l, dl_backend *be, int batch, int training, dl_err *err)
{
	dl_conv_geom g = geom(l, batch);
	int rc = be->ops->conv2d_reserve(be, &g, err);
	if (!rc && training)
		l->nsaved = be->ops->conv2d_saved_floats(be, &g, l->nparam > 1);
	/* dl_model_plan's bf16 link candidate mark stays where the backend
	 * runs the link */
	if (l->link && (rc || !training || !be->ops->conv2d_bf16_link(be, &g, l->nparam > 1)))
		l->link = 0;
	return rc;
}

/* Training runs the training pair (ops.h): the forward may keep its
 * converted input in l->saved for the backward, which also converts dy
 * once for both of its passes.  An evaluation forward leaves saved alone
 * and marks it stale for a backward that would follow it.  With the bf16
 * link on (layer.h), x and dx (DL_LINK_X: from and to the batch norm
 * before) or y and dy (DL_LINK_Y: to and from the batch norm after) hold
 * bf16; the buffers have room for floats, as the link's ops want. */
static void forward(dl_layer *l, dl_backend *be, int n, const float *x, float *y)
{
	dl_conv_geom g = geom(l, n);
	const float *b = l->nparam > 1 ? l->p[1] : NULL;
	l->saved_fresh = l->saved && l->run->training;
	l->link_now = dl_layer_link_on(l);
	if (l->link_now)
		be->ops->conv2d_fwd_train_h(be, &g, x, l->p[0], b, y, l->saved, l->link);
	else if (l->saved_fresh)
		be->ops->conv2d_fwd_train(be, &g, x, l->p[0], b, y, l->saved);
	else
		be->ops->conv2d_fwd(be, &g, x, l->p[0], b, y);
}

static void backward(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
		     const float *dy, float *dx)
{
	(void)y;
	dl_conv_geom g = geom(l, n);
	const float *saved = l->saved_fresh ? l->saved : NULL;
	float *db = l->nparam > 1 ? l->g[1] : NULL;
	/* dy is this layer's own gradient buffer, which conv2d_bwd_h may
	 * overwrite (ops.h) */
	if (l->link_now)
		be->ops->conv2d_bwd_h(be, &g, x, (void *)dy, l->p[0], saved, l->g[0], db, dx,
				      l->link);
	else
		be->ops->conv2d_bwd(be, &g, x, dy, l->p[0], saved, l->g[0], db, dx);
}

static void to_torch(const dl_layer *l, int i, const float *src, float *dst,
		     int64_t *shape, int *ndim)
{
	const dl_param *p = &l->param[i];
	const dl_conv2d_opts *o = O(l);
	if (i != 0) {
		*ndim = 1;
		shape[0] = p->shape[0];
		for (size_t k = 0; k < p->count; k++)
			dst[k] = src[k];
		return;
	}
	int K = o->filters, S = o->size, C = l->in.c / o->groups;
	*ndim = 4;
	shape[0] = K; shape[1] = C; shape[2] = S; shape[3] = S;
	/* [k, kh, kw, c/G] -> [k, c/G, kh, kw] */
	for (int k = 0; k < K; k++)
		for (int a = 0; a < S; a++)
			for (int b = 0; b < S; b++)
				for (int c = 0; c < C; c++)
					dst[(((size_t)k * C + c) * S + a) * S + b] =
						src[(((size_t)k * S + a) * S + b) * C + c];
}

static void from_torch(const dl_layer *l, int i, const float *src, float *dst)
{
	const dl_param *p = &l->param[i];
	if (i != 0) {
		for (size_t k = 0; k < p->count; k++)
			dst[k] = src[k];
		return;
	}
	const dl_conv2d_opts *o = O(l);
	int K = o->filters, S = o->size, C = l->in.c / o->groups;
	/* [k, c/G, kh, kw] -> [k, kh, kw, c/G] */
	for (int k = 0; k < K; k++)
		for (int a = 0; a < S; a++)
			for (int b = 0; b < S; b++)
				for (int c = 0; c < C; c++)
					dst[(((size_t)k * S + a) * S + b) * C + c] =
						src[(((size_t)k * C + c) * S + a) * S + b];
}

static void describe(const dl_layer *l, char *buf, size_t n)
{
	const dl_conv2d_opts *o = O(l);
	char extra[48] = "", gr[24] = "";
	if (o->groups > 1)
		snprintf(gr, sizeof gr, " g%d", o->groups);
	if (o->dilation > 1)
		snprintf(extra, sizeof extra, " d%d%s", o->dilation, gr);
	else
		snprintf(extra, sizeof extra, "%s", gr);
	snprintf(buf, n, "%d@%dx%d s%d p%d%s%s", o->filters, o->size, o->size,
		 o->stride, o->pad, extra, o->bias ? "" : " no-bias");
}

static void torch_module(const dl_layer *l, int flat, char *buf, size_t n)
{
	(void)flat;
	const dl_conv2d_opts *o = O(l);
	snprintf(buf, n, "{\"module\": \"Conv2d\", \"args\": [%d, %d, %d], \"kwargs\": "
		 "{\"stride\": %d, \"padding\": %d, \"dilation\": %d, \"groups\": %d, "
		 "\"bias\": %s}}", l->in.c, o->filters, o->size, o->stride, o->pad, o->dilation,
		 o->groups, o->bias ? "true" : "false");
}

const dl_layer_kind dl_layer_conv2d = {
	.name = "conv2d", .torch = "Conv2d",
	.configure = configure, .init = init, .reserve = reserve, .forward = forward,
	.backward = backward,
	.to_torch = to_torch, .from_torch = from_torch, .describe = describe, .torch_module = torch_module,
};
