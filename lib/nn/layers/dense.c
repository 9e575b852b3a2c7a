/* dense: y [n, units] = x [n, in] W^T + b, W [units, in], b [units].
 * `in` is the flattened input h*w*c in NHWC order; PyTorch flattens NCHW,
 * so export permutes W's columns when the input was an image. */
#include "nn/layers/dense.h"

#include <stdio.h>

_Static_assert(sizeof(dl_dense_opts) <= DL_LAYER_OPTS_BYTES, "dense options fit");

const dl_dense_opts *dl_dense_opts_of(const dl_layer *l)
{
	return l->kind == &dl_layer_dense ? (const dl_dense_opts *)l->opts.bytes : NULL;
}

static const dl_dense_opts *O(const dl_layer *l)
{
	return (const dl_dense_opts *)l->opts.bytes;
}

static int configure(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	dl_dense_opts *o = (dl_dense_opts *)l->opts.bytes;
	int rc = dl_spec_int(sl, "units", 0, 1, 1 << 24, &o->units, err);
	if (!rc)
		rc = dl_spec_int(sl, "bias", 1, 0, 1, &o->bias, err);
	if (rc)
		return rc;
	if (l->in.h != 1 || l->in.w != 1)
		return dl_fail(err, DL_EDATA, "%s:%d: dense needs a flat input (%dx%dx%d): add 'flatten' before it",
			       sl->src, sl->lineno, l->in.h, l->in.w, l->in.c);
	l->out = (dl_shape){ 1, 1, o->units };
	int64_t ws[2] = { o->units, l->in.c }, bs[1] = { o->units };
	dl_layer_add_param(l, "weight", 2, ws);
	if (o->bias)
		dl_layer_add_param(l, "bias", 1, bs);
	return 0;
}

static void init(const dl_layer *l, float *p, dl_rng *rng)
{
	dl_init_uniform_fan_in(p, l->param[0].count, l->in.c, rng);
	if (l->nparam > 1)
		dl_init_uniform_fan_in(p + l->param[0].count, l->param[1].count, l->in.c, rng);
}

static void forward(dl_layer *l, dl_backend *be, int n, const float *x, float *y)
{
	int in = l->in.c, out = l->out.c;
	be->ops->gemm(be, 0, 1, n, out, in, 1.0f, x, in, l->p[0], in, 0.0f, y, out);
	if (l->nparam > 1)
		be->ops->bias_add(be, y, l->p[1], n, out);
}

static void backward(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
		     const float *dy, float *dx)
{
	(void)y;
	int in = l->in.c, out = l->out.c;
	/* dW [out, in] += dy^T [out, n] x [n, in] */
	be->ops->gemm(be, 1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, l->g[0], in);
	if (l->nparam > 1)
		be->ops->bias_grad(be, l->g[1], dy, n, out);
	/* dx [n, in] = dy [n, out] W [out, in] */
	if (dx)
		be->ops->gemm(be, 0, 0, n, in, out, 1.0f, dy, out, l->p[0], in, 0.0f, dx, in);
}

/* When the input was an image [h, w, c] flattened by us in NHWC order,
 * PyTorch's Flatten sees it in NCHW order: permute W's columns. */
/* Parameter i from src to dst, between our layout and PyTorch's.  Only the
 * weight of a dense layer after a flatten differs: its columns are in
 * NHWC order (y, x, ch) here and NCHW order (ch, y, x) in PyTorch;
 * to_nchw says which way it goes. */
static void copy_param(const dl_layer *l, int i, const float *src, float *dst, int to_nchw)
{
	const dl_param *p = &l->param[i];
	int h = l->unflat.h, w = l->unflat.w, c = l->unflat.c;
	if (i != 0 || h * w <= 1 || h * w * c != l->in.c) {
		for (size_t k = 0; k < p->count; k++)
			dst[k] = src[k];
		return;
	}
	size_t in = (size_t)l->in.c;
	for (int o = 0; o < l->out.c; o++)
		for (int yy = 0; yy < h; yy++)
			for (int xx = 0; xx < w; xx++)
				for (int ch = 0; ch < c; ch++) {
					size_t nhwc = ((size_t)yy * w + xx) * c + ch;
					size_t nchw = ((size_t)ch * h + yy) * w + xx;
					dst[o * in + (to_nchw ? nchw : nhwc)] =
						src[o * in + (to_nchw ? nhwc : nchw)];
				}
}

static void to_torch(const dl_layer *l, int i, const float *src, float *dst,
		     int64_t *shape, int *ndim)
{
	const dl_param *p = &l->param[i];
	*ndim = p->ndim;
	for (int d = 0; d < p->ndim; d++)
		shape[d] = p->shape[d];
	copy_param(l, i, src, dst, 1);
}

static void from_torch(const dl_layer *l, int i, const float *src, float *dst)
{
	copy_param(l, i, src, dst, 0);
}

static void describe(const dl_layer *l, char *buf, size_t n)
{
	snprintf(buf, n, "%d%s", O(l)->units, O(l)->bias ? "" : " no-bias");
}

static void torch_module(const dl_layer *l, int flat, char *buf, size_t n)
{
	(void)flat;
	snprintf(buf, n, "{\"module\": \"Linear\", \"args\": [%d, %d], \"kwargs\": "
		 "{\"bias\": %s}}", (int)dl_shape_size(l->in), O(l)->units,
		 O(l)->bias ? "true" : "false");
}

const dl_layer_kind dl_layer_dense = {
	.name = "dense", .torch = "Linear",
	.configure = configure, .init = init, .forward = forward, .backward = backward,
	.to_torch = to_torch, .from_torch = from_torch, .describe = describe, .torch_module = torch_module, .torch_flat = 1,
};
