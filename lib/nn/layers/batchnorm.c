/* batchnorm: per-channel batch normalisation over NHWC (PyTorch's
 * BatchNorm2d; BatchNorm1d on a flat input).  Parameters weight (gamma,
 * init 1) and bias (beta, init 0) [c]; buffers running_mean (0) and
 * running_var (1) [c].  Training mode (l->run->training) normalises with
 * the batch statistics and updates the running ones; evaluation mode uses
 * the running statistics.  The workspace keeps the batch mean and inverse
 * std from forward for backward, so backward follows a training forward.
 * A relu after it that dl_model_plan fused (l->post_relu) is applied here,
 * its per-channel coefficients kept in the workspace too.
 *   batchnorm [eps=1e-5] [momentum=0.1] */
#include "nn/layers/batchnorm.h"

#include <stdio.h>

_Static_assert(sizeof(dl_batchnorm_opts) <= DL_LAYER_OPTS_BYTES, "batchnorm options fit");

const dl_batchnorm_opts *dl_batchnorm_opts_of(const dl_layer *l)
{
	return l->kind == &dl_layer_batchnorm ? (const dl_batchnorm_opts *)l->opts.bytes : NULL;
}

static const dl_batchnorm_opts *O(const dl_layer *l)
{
	return (const dl_batchnorm_opts *)l->opts.bytes;
}

static int configure(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	double eps, mom;
	int rc = dl_spec_float(sl, "eps", 1e-5, 1e-12, 1.0, &eps, err);
	if (!rc)
		rc = dl_spec_float(sl, "momentum", 0.1, 0.0, 1.0, &mom, err);
	if (rc)
		return rc;
	dl_batchnorm_opts *o = (dl_batchnorm_opts *)l->opts.bytes;
	o->eps = (float)eps;
	o->momentum = (float)mom;
	l->out = l->in;
	int64_t cs[1] = { l->in.c };
	dl_layer_add_param(l, "weight", 1, cs);
	dl_layer_add_param(l, "bias", 1, cs);
	dl_layer_add_buf(l, "running_mean", 1, cs);
	dl_layer_add_buf(l, "running_var", 1, cs);
	/* mean, invstd; 2c scratch for --sync-bn; 2c for a fused relu */
	l->nws = 6 * (size_t)l->in.c;
	return 0;
}

static void init(const dl_layer *l, float *p, dl_rng *rng)
{
	(void)rng;
	int c = l->in.c;
	for (int i = 0; i < c; i++) {
		p[i] = 1.0f;
		p[c + i] = 0.0f;
	}
}

static void init_buffers(const dl_layer *l, float *b)
{
	int c = l->in.c;
	for (int i = 0; i < c; i++) {
		b[i] = 0.0f;
		b[c + i] = 1.0f;
	}
}

/* --sync-bn (l->run->reduce set): statistics over every rank's slice of
 * the batch, two passes as one process would (sum, mean, squared
 * deviations), each partial sum added up over the ranks. */
static int synced(const dl_layer *l, const dl_backend *be)
{
	return l->run && l->run->training && l->run->reduce && be->ops->bn_stats;
}

/* The fused relu's coefficients (ops.h relu_coef), or NULL */
static float *relu_coef(const dl_layer *l)
{
	return l->post_relu ? l->ws + 4 * (size_t)l->in.c : NULL;
}

static long global_rows(const dl_layer *l)
{
	return l->run->batch_total * (long)l->in.h * (long)l->in.w;
}

static void forward_sync(dl_layer *l, dl_backend *be, int rows, const float *x, float *y)
{
	int c = l->in.c;
	long count = global_rows(l);
	float *mean = l->ws, *invstd = l->ws + c, *t = l->ws + 2 * c;
	be->ops->bn_stats(be, rows, c, x, NULL, t);
	l->run->reduce(l->run->reduce_ctx, t, (size_t)c);
	be->ops->axpby(be, (size_t)c, 1.0f / (float)count, t, 0.0f, mean);
	be->ops->bn_stats(be, rows, c, x, mean, t);
	l->run->reduce(l->run->reduce_ctx, t, (size_t)c);
	be->ops->bn_fwd_given(be, rows, c, count, x, l->p[0], l->p[1], O(l)->eps,
			      O(l)->momentum, mean, t, l->b[0], l->b[1], invstd, relu_coef(l), y);
}

/* The parameter gradients are this rank's part (the gradient sum over
 * ranks adds them up); dx needs the global dgamma and dbeta. */
static void backward_sync(dl_layer *l, dl_backend *be, int rows, const float *x,
			  const float *dy, float *dx)
{
	int c = l->in.c;
	float *t = l->ws + 2 * c;
	be->ops->zero(be, t, 2 * (size_t)c * sizeof(float));
	be->ops->bn_bwd(be, rows, c, x, dy, l->p[0], l->ws, l->ws + c, relu_coef(l), NULL, t,
			t + c);
	be->ops->axpby(be, (size_t)c, 1.0f, t, 1.0f, l->g[0]);
	be->ops->axpby(be, (size_t)c, 1.0f, t + c, 1.0f, l->g[1]);
	if (!dx)
		return;
	l->run->reduce(l->run->reduce_ctx, t, 2 * (size_t)c);
	be->ops->bn_bwd_given(be, rows, c, global_rows(l), x, dy, l->p[0], l->ws, l->ws + c,
			      relu_coef(l), t, t + c, dx);
}

/* With the bf16 link on (layer.h), x and dx (DL_LINK_X: from and to the
 * conv before) or y and dy (DL_LINK_Y: to and from the conv after, through
 * a fused relu) are bf16. */
static void forward(dl_layer *l, dl_backend *be, int n, const float *x, float *y)
{
	int c = l->in.c, rows = n * l->in.h * l->in.w;
	l->link_now = dl_layer_link_on(l);
	if (l->link_now)
		be->ops->bn_fwd_train_h(be, rows, c, x, l->p[0], l->p[1], O(l)->eps, O(l)->momentum,
					l->b[0], l->b[1], l->ws, l->ws + c, relu_coef(l), y, l->link);
	else if (synced(l, be))
		forward_sync(l, be, rows, x, y);
	else if (l->run && l->run->training)
		be->ops->bn_fwd_train(be, rows, c, x, l->p[0], l->p[1], O(l)->eps,
				      O(l)->momentum, l->b[0], l->b[1], l->ws, l->ws + c, relu_coef(l),
				      y);
	else
		be->ops->bn_fwd_infer(be, rows, c, x, l->p[0], l->p[1], l->b[0], l->b[1],
				      O(l)->eps, l->post_relu, y);
}

static void backward(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
		     const float *dy, float *dx)
{
	(void)y;
	int c = l->in.c, rows = n * l->in.h * l->in.w;
	if (l->link_now)
		be->ops->bn_bwd_h(be, rows, c, x, dy, l->p[0], l->ws, l->ws + c, relu_coef(l), dx,
				  l->g[0], l->g[1], l->link);
	else if (synced(l, be))
		backward_sync(l, be, rows, x, dy, dx);
	else
		be->ops->bn_bwd(be, rows, c, x, dy, l->p[0], l->ws, l->ws + c, relu_coef(l), dx,
				l->g[0], l->g[1]);
}

static void describe(const dl_layer *l, char *buf, size_t n)
{
	snprintf(buf, n, "eps=%g m=%g", O(l)->eps, O(l)->momentum);
}

static void torch_module(const dl_layer *l, int flat, char *buf, size_t n)
{
	snprintf(buf, n, "{\"module\": \"BatchNorm%dd\", \"args\": [%d], \"kwargs\": "
		 "{\"eps\": %.9g, \"momentum\": %.9g}}", flat ? 1 : 2, l->in.c,
		 (double)O(l)->eps, (double)O(l)->momentum);
}

const dl_layer_kind dl_layer_batchnorm = {
	.name = "batchnorm", .torch = "BatchNorm2d",
	.configure = configure, .init = init, .init_buffers = init_buffers,
	.forward = forward, .backward = backward, .describe = describe,
	.torch_module = torch_module,
};
