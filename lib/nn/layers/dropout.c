/* dropout: inverted dropout (PyTorch's Dropout), any shape.  In training
 * mode an element is zeroed with probability p and the others scaled by
 * 1 / (1 - p); in evaluation mode y = x.  The mask is the counter hash of
 * backend.h seeded with dl_hash_u64(run seed ^ layer index, step), so it
 * differs per layer and per step, is the same on every backend, and
 * backward recomputes it (forward and backward of one step share it).
 *   dropout p=P          0 <= P < 1 */
#include "nn/layers/dropout.h"

#include <stdio.h>

_Static_assert(sizeof(dl_dropout_opts) <= DL_LAYER_OPTS_BYTES, "dropout options fit");

const dl_dropout_opts *dl_dropout_opts_of(const dl_layer *l)
{
	return l->kind == &dl_layer_dropout ? (const dl_dropout_opts *)l->opts.bytes : NULL;
}

static float P(const dl_layer *l)
{
	return ((const dl_dropout_opts *)l->opts.bytes)->p;
}

static int configure(dl_layer *l, dl_spec_line *sl, dl_err *err)
{
	double p;
	int rc = dl_spec_float(sl, "p", 0.5, 0.0, 0.999, &p, err);
	if (rc)
		return rc;
	((dl_dropout_opts *)l->opts.bytes)->p = (float)p;
	l->out = l->in;
	return 0;
}

static int active(const dl_layer *l)
{
	return l->run && l->run->training && P(l) > 0;
}

/* element i of this call is element sample0 * size + i of the whole batch */
static uint64_t mask_seed(const dl_layer *l)
{
	return dl_hash_skip(dl_hash_u64(l->run->seed ^ (uint64_t)l->index, l->run->step),
			    l->run->sample0 * dl_shape_size(l->in));
}

static void forward(dl_layer *l, dl_backend *be, int n, const float *x, float *y)
{
	size_t cnt = (size_t)n * dl_shape_size(l->in);
	if (active(l))
		be->ops->dropout(be, cnt, x, y, P(l), mask_seed(l));
	else
		be->ops->axpby(be, cnt, 1.0f, x, 0.0f, y);
}

static void backward(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
		     const float *dy, float *dx)
{
	(void)x;
	(void)y;
	if (!dx)
		return;
	size_t cnt = (size_t)n * dl_shape_size(l->in);
	if (active(l))
		be->ops->dropout(be, cnt, dy, dx, P(l), mask_seed(l));
	else
		be->ops->axpby(be, cnt, 1.0f, dy, 0.0f, dx);
}

static void describe(const dl_layer *l, char *buf, size_t n)
{
	snprintf(buf, n, "p=%g", P(l));
}

static void torch_module(const dl_layer *l, int flat, char *buf, size_t n)
{
	(void)flat;
	snprintf(buf, n, "{\"module\": \"Dropout\", \"args\": [%.9g], \"kwargs\": {}}",
		 (double)P(l));
}

const dl_layer_kind dl_layer_dropout = {
	.name = "dropout", .torch = "Dropout",
	.configure = configure, .forward = forward, .backward = backward, .describe = describe,
	.torch_module = torch_module,
};
