/* concat: channel concatenation of two or more inputs with equal height
 * and width (torch.cat(dim=1) in NCHW).  In NHWC each pixel's row of the
 * output holds the inputs' channel rows one after another, so forward and
 * backward are strided 2-D copies.
 *   concat from=A,B[,C...] */
#include "nn/layer.h"

static int configure(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	long c = 0;
	for (int j = 0; j < l->nin; j++) {
		dl_shape a = l->ins[0], b = l->ins[j];
		if (a.h != b.h || a.w != b.w)
			return dl_fail(err, DL_EDATA, "%s:%d: concat: input %d is %dx%d but input 1 is %dx%d (concat needs equal height and width)",
				       sl->src, sl->lineno, j + 1, b.h, b.w, a.h, a.w);
		c += b.c;
	}
	if (c > (1 << 20))
		return dl_fail(err, DL_EDATA, "%s:%d: concat: %ld channels is too many", sl->src,
			       sl->lineno, c);
	l->out = (dl_shape){ l->ins[0].h, l->ins[0].w, (int)c };
	return 0;
}

static void forward(dl_layer *l, dl_backend *be, int n, const float *x, float *y)
{
	(void)x;
	int rows = n * l->out.h * l->out.w, C = l->out.c, off = 0;
	for (int j = 0; j < l->nin; j++) {
		int cj = l->ins[j].c;
		be->ops->copy2d(be, rows, cj, l->xs[j], cj, y + off, C, 0);
		off += cj;
	}
}

static void backward(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
		     const float *dy, float *dx)
{
	(void)x;
	(void)y;
	(void)dx;   /* = l->dxs[0] */
	int rows = n * l->out.h * l->out.w, C = l->out.c, off = 0;
	for (int j = 0; j < l->nin; j++) {
		int cj = l->ins[j].c;
		if (l->dxs[j])
			be->ops->copy2d(be, rows, cj, dy + off, C, l->dxs[j], cj, 0);
		off += cj;
	}
}

const dl_layer_kind dl_layer_concat = {
	.name = "concat", .torch = "cat", .multi_input = 1,
	.configure = configure, .forward = forward, .backward = backward,
};
