/* conv2d: y [n, oh, ow, k] = x [n, h, w, c] * W [k, kh, kw, c] + b [k].
 * pad=same (odd kernels, stride 1: output size = input size), pad=valid or
 * pad=N (N cells on every side).  Export permutes W to [k, c, kh, kw]. */
#include "nn/layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FILTERS, SIZE, STRIDE, PAD, BIAS };

static dl_conv_geom geom(const dl_layer *l, int n)
{
	int s = l->opt[SIZE], p = l->opt[PAD];
	return (dl_conv_geom){
		.n = n, .h = l->in.h, .w = l->in.w, .c = l->in.c,
		.k = l->opt[FILTERS], .kh = s, .kw = s,
		.sh = l->opt[STRIDE], .sw = l->opt[STRIDE],
		.pt = p, .pl = p, .pb = p, .pr = p,
		.oh = l->out.h, .ow = l->out.w,
	};
}

static int configure(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	const char *pad;
	int rc = dl_spec_int(sl, "filters", 0, 1, 1 << 16, &l->opt[FILTERS], err);
	if (!rc)
		rc = dl_spec_int(sl, "size", 0, 1, 64, &l->opt[SIZE], err);
	if (!rc)
		rc = dl_spec_int(sl, "stride", 1, 1, 64, &l->opt[STRIDE], err);
	if (!rc)
		rc = dl_spec_str(sl, "pad", "valid", &pad, err);
	if (!rc)
		rc = dl_spec_int(sl, "bias", 1, 0, 1, &l->opt[BIAS], err);
	if (rc)
		return rc;
	int s = l->opt[SIZE];
	if (!strcmp(pad, "same")) {
		if (s % 2 == 0 || l->opt[STRIDE] != 1)
			return dl_fail(err, DL_EDATA, "%s:%d: conv2d: pad=same needs an odd size and stride 1 (use pad=N)",
				       sl->src, sl->lineno);
		l->opt[PAD] = s / 2;
	} else if (!strcmp(pad, "valid")) {
		l->opt[PAD] = 0;
	} else {
		char *end;
		long v = strtol(pad, &end, 10);
		if (*end || v < 0 || v > 64)
			return dl_fail(err, DL_EDATA, "%s:%d: conv2d: pad=%s: expected same, valid or 0..64",
				       sl->src, sl->lineno, pad);
		l->opt[PAD] = (int)v;
	}
	int p = l->opt[PAD], st = l->opt[STRIDE];
	int oh = dl_conv_out(l->in.h, p, p, s, st), ow = dl_conv_out(l->in.w, p, p, s, st);
	if (l->in.h + 2 * p < s || l->in.w + 2 * p < s || oh < 1 || ow < 1)
		return dl_fail(err, DL_EDATA, "%s:%d: conv2d: %dx%d kernel does not fit the %dx%d input",
			       sl->src, sl->lineno, s, s, l->in.h, l->in.w);
	l->out = (dl_shape){ oh, ow, l->opt[FILTERS] };
	int64_t ws[4] = { l->opt[FILTERS], s, s, l->in.c }, bs[1] = { l->opt[FILTERS] };
	dl_layer_add_param(l, "weight", 4, ws);
	if (l->opt[BIAS])
		dl_layer_add_param(l, "bias", 1, bs);
	return 0;
}

static void init(const dl_layer *l, float *p, dl_rng *rng)
{
	int fan_in = l->opt[SIZE] * l->opt[SIZE] * l->in.c;
	dl_init_uniform_fan_in(p, l->param[0].count, fan_in, rng);
	if (l->nparam > 1)
		dl_init_uniform_fan_in(p + l->param[0].count, l->param[1].count, fan_in, rng);
}

static void forward(dl_layer *l, dl_backend *be, int n, const float *x, float *y)
{
	dl_conv_geom g = geom(l, n);
	be->ops->conv2d_fwd(be, &g, x, l->p[0], l->nparam > 1 ? l->p[1] : NULL, y);
}

static void backward(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
		     const float *dy, float *dx)
{
	(void)y;
	dl_conv_geom g = geom(l, n);
	be->ops->conv2d_bwd_filter(be, &g, x, dy, l->g[0], l->nparam > 1 ? l->g[1] : NULL);
	if (dx)
		be->ops->conv2d_bwd_data(be, &g, dy, l->p[0], dx);
}

static void to_torch(const dl_layer *l, int i, const float *src, float *dst,
		     int64_t *shape, int *ndim)
{
	const dl_param *p = &l->param[i];
	if (i != 0) {
		*ndim = 1;
		shape[0] = p->shape[0];
		for (size_t k = 0; k < p->count; k++)
			dst[k] = src[k];
		return;
	}
	int K = l->opt[FILTERS], S = l->opt[SIZE], C = l->in.c;
	*ndim = 4;
	shape[0] = K; shape[1] = C; shape[2] = S; shape[3] = S;
	/* [k, kh, kw, c] -> [k, c, kh, kw] */
	for (int k = 0; k < K; k++)
		for (int a = 0; a < S; a++)
			for (int b = 0; b < S; b++)
				for (int c = 0; c < C; c++)
					dst[(((size_t)k * C + c) * S + a) * S + b] =
						src[(((size_t)k * S + a) * S + b) * C + c];
}

static void describe(const dl_layer *l, char *buf, size_t n)
{
	snprintf(buf, n, "%d@%dx%d s%d p%d%s", l->opt[FILTERS], l->opt[SIZE], l->opt[SIZE],
		 l->opt[STRIDE], l->opt[PAD], l->opt[BIAS] ? "" : " no-bias");
}

const dl_layer_kind dl_layer_conv2d = {
	.name = "conv2d", .torch = "Conv2d",
	.configure = configure, .init = init, .forward = forward, .backward = backward,
	.to_torch = to_torch, .describe = describe,
};
