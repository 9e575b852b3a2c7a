/* A layer: one small struct, one file per kind (lib/nn/layers/KIND.c).
 *
 * Ownership: a dl_layer borrows everything it points to; the model owns the
 * parameter, gradient and activation blocks the views point into.
 *
 * Shapes are per sample (h, w, c), NHWC; the batch size n is an argument of
 * forward/backward.  A dense output is h = w = 1, c = units.
 */
#ifndef DL_NN_LAYER_H
#define DL_NN_LAYER_H

#include <stddef.h>
#include <stdint.h>
#include "backend/backend.h"
#include "core/rng.h"
#include "nn/spec.h"

typedef struct dl_shape {
	int h, w, c;
} dl_shape;

static inline size_t dl_shape_size(dl_shape s)
{
	return (size_t)s.h * (size_t)s.w * (size_t)s.c;
}

#define DL_LAYER_MAX_PARAMS 2
#define DL_LAYER_MAX_BUFS 2
#define DL_LAYER_MAX_IN 4

/* State a model shares with its layers while running. */
typedef struct dl_run {
	int training;            /* 1: training (batch-norm batch stats, dropout on) */
	uint64_t seed;           /* run seed (dropout masks: hash of seed, step, layer) */
	uint64_t step;           /* optimizer steps taken so far */
	/* Data-parallel training (lib/dist): this process holds samples
	 * [sample0, sample0 + n) of a global batch of batch_total samples
	 * (0 and n alone).  Random choices use the global sample index, so
	 * they do not depend on how samples are spread over ranks.  reduce,
	 * when set, sums x[0..n) (device memory) over the ranks in place:
	 * batch norm uses it for global statistics (--sync-bn). */
	uint64_t sample0;
	long batch_total;
	void (*reduce)(void *ctx, float *x, size_t n);
	void *reduce_ctx;
} dl_run;

typedef struct dl_param {
	const char *name;        /* "weight", "bias" */
	int ndim;
	int64_t shape[4];        /* our layout */
	size_t offset;           /* into the model's parameter block, in floats */
	size_t count;
} dl_param;

typedef struct dl_layer dl_layer;

typedef struct dl_layer_kind {
	const char *name;        /* spec keyword */
	const char *torch;       /* PyTorch module, for summaries and export */
	/* Output aliases the input (flatten): no buffer, no work. */
	int alias;
	/* Takes two or more inputs (add, concat): reads l->nin, l->ins[] in
	 * configure and l->xs[], l->dxs[] in forward/backward, whose x and dx
	 * arguments are then only the first input's.  Others have nin = 1. */
	int multi_input;
	/* Reads options from the spec line, checks l->in, sets l->out and
	 * declares parameters (name, ndim, shape, count). */
	int (*configure)(dl_layer *l, dl_spec_line *sl, dl_err *err);
	/* Writes initial values of the layer's parameters, laid out one after
	 * another from p (host memory). */
	void (*init)(const dl_layer *l, float *p, dl_rng *rng);
	/* Writes the initial values of the layer's buffers (running_var = 1),
	 * laid out one after another from b (host memory).  NULL: zeros. */
	void (*init_buffers)(const dl_layer *l, float *b);
	/* y [n, out] = f(x [n, in]) */
	void (*forward)(dl_layer *l, dl_backend *be, int n, const float *x, float *y);
	/* dx [n, in] (written; NULL when no one needs it) and parameter
	 * gradients (accumulated) from dy [n, out]. */
	void (*backward)(dl_layer *l, dl_backend *be, int n, const float *x, const float *y,
			 const float *dy, float *dx);
	/* Parameter i in PyTorch's layout: dst gets the values, shape/ndim the
	 * torch shape.  NULL: same layout as ours. */
	void (*to_torch)(const dl_layer *l, int i, const float *src, float *dst,
			 int64_t *shape, int *ndim);
	/* Reserves the backend workspace the layer's ops need for up to
	 * `batch` samples (conv2d_reserve), at dl_model_plan time, so that
	 * forward and backward never allocate; with `training`, also sets
	 * l->nsaved.  NULL: nothing to reserve. */
	int (*reserve)(dl_layer *l, dl_backend *be, int batch, int training, dl_err *err);
	/* The inverse: parameter i from PyTorch's layout (src, the shape
	 * to_torch gives) into ours (dst).  NULL: same layout. */
	void (*from_torch)(const dl_layer *l, int i, const float *src, float *dst);
	/* Options line for --summary, e.g. "20@5x5 s1 same". */
	void (*describe)(const dl_layer *l, char *buf, size_t n);
	/* The equivalent torch.nn module as a JSON object (dl-export's
	 * dl.torch_layers: data, never code), e.g. {"module": "Conv2d",
	 * "args": [1, 20, 5], "kwargs": {"stride": 1, ...}}; `flat` says the
	 * input is [N, C] (after a layer with torch_flat).  NULL: the module
	 * named `torch` with no arguments. */
	void (*torch_module)(const dl_layer *l, int flat, char *buf, size_t n);
	/* PyTorch's module gives [N, C] (Linear, Flatten, gap's Flatten). */
	int torch_flat;
} dl_layer_kind;

/* Every layer kind, one line each in lib/nn/layers/kinds.h (the
 * registration): dl_layer_<name> is the kind whose spec keyword is <name>. */
#define DL_LAYER_KIND(name) extern const dl_layer_kind dl_layer_##name;
#include "nn/layers/kinds.h"
#undef DL_LAYER_KIND

/* Room for a layer's typed options (lib/nn/layers/KIND.h declares the
 * struct and its accessor; the kind's file checks it fits). */
#define DL_LAYER_OPTS_BYTES 64

struct dl_layer {
	const dl_layer_kind *kind;
	int index;               /* position among layers (= PyTorch Sequential index) */
	int lineno;
	dl_shape in, out;
	dl_shape unflat;         /* `in` before any flatten (what PyTorch flattens, NCHW) */
	/* The kind's typed options, written by its configure and read only
	 * through its accessor (dl_conv2d_opts_of ...). */
	union {
		double align_d;
		void *align_p;
		unsigned char bytes[DL_LAYER_OPTS_BYTES];
	} opts;
	int nparam;
	dl_param param[DL_LAYER_MAX_PARAMS];
	float *p[DL_LAYER_MAX_PARAMS];    /* device views into the parameter block */
	float *g[DL_LAYER_MAX_PARAMS];    /* device views into the gradient block */
	/* Non-trainable state saved in checkpoints (batch-norm running_mean,
	 * running_var): offsets into the model's buffer block; no gradient,
	 * not touched by optimizers, not counted as parameters. */
	int nbuf;
	dl_param buf[DL_LAYER_MAX_BUFS];
	float *b[DL_LAYER_MAX_BUFS];      /* device views into the buffer block */
	/* Inputs: in_from[j] is the index of the layer whose output is input
	 * j, -1 for the model input.  Single-input layers have nin = 1 and
	 * in_from[0] = the previous layer (set by the model builder; a spec
	 * line names others with from=NAME). */
	int nin;
	int in_from[DL_LAYER_MAX_IN];
	dl_shape ins[DL_LAYER_MAX_IN];
	/* Input views and where each input's gradient goes, set by
	 * dl_model_plan: xs[j] is input j's activation, dxs[j] its gradient
	 * target (written, NULL when nothing upstream needs it).  Single-input
	 * layers get xs[0], dxs[0] as their x, dx arguments. */
	const float *xs[DL_LAYER_MAX_IN];
	float *dxs[DL_LAYER_MAX_IN];
	/* Per-layer device workspace kept from forward to backward (batch-norm
	 * batch mean and inverse std): configure sets nws (floats), the model
	 * allocates ws with the activations. */
	size_t nws;
	float *ws;
	/* What the backend keeps from a training forward to the backward
	 * (conv2d: ops.h conv2d_fwd_train): nsaved floats at saved, set by
	 * the kind's reserve when dl_model.for_training (0 / NULL: none), in
	 * the workspace block; saved_fresh: the last forward filled it. */
	size_t nsaved;
	float *saved;
	int saved_fresh;
	const dl_run *run;       /* the model's run state (training flag, step) */
	/* Fusion, set by dl_model_plan (plan.c): a relu whose input is a batch
	 * norm's or an add's output read by nothing else is done by that layer
	 * (bn_fwd_train's relu_coef, add2's relu): it has post_relu set and
	 * the relu `fused`, which then works as an alias (no buffer, no work;
	 * its output and gradient are the producer's). */
	int post_relu;
	int fused;
	/* The bf16 link (ops.h conv2d_bf16_link), set by dl_model_plan for a
	 * training plan: the tensor between a conv and a batch norm that is its
	 * only reader, either way round (the batch norm's through a fused
	 * relu), where the backend runs the link for the conv's geometry,
	 * travels in bf16 with its gradient.  `link` holds the ops' flags
	 * (backend.h DL_LINK_X: this layer's input and its gradient are bf16;
	 * DL_LINK_Y: its output and that gradient), used in a pass where
	 * dl_layer_link_on holds.  link_now: the last forward ran it (its
	 * backward does the same). */
	int link;
	int link_now;
};

/* The bf16 link runs in this pass: planned, training, and no --sync-bn
 * reduction (whose batch-norm ops read float x). */
static inline int dl_layer_link_on(const dl_layer *l)
{
	return l->link && l->run && l->run->training && !l->run->reduce;
}

/* No buffer and no work of its own: flatten, or a layer fused into its
 * producer. */
static inline int dl_layer_alias(const dl_layer *l)
{
	return l->kind->alias || l->fused;
}

/* The kind named `name`, or NULL. */
const dl_layer_kind *dl_layer_kind_find(const char *name);
/* Comma-separated list of known kinds in registration order, for
 * messages: written to buf (truncated to n - 1 characters); returns buf. */
const char *dl_layer_kind_names(char *buf, size_t n);
/* The i-th registered kind, NULL past the last (for tests and tables). */
const dl_layer_kind *dl_layer_kind_at(int i);

/* Adds parameter `name` with the given shape; returns its index. */
int dl_layer_add_param(dl_layer *l, const char *name, int ndim, const int64_t *shape);

/* Adds buffer `name` (non-trainable state) with the given shape; returns
 * its index. */
int dl_layer_add_buf(dl_layer *l, const char *name, int ndim, const int64_t *shape);

/* PyTorch's default init for Linear/Conv2d (kaiming_uniform a=sqrt(5)):
 * weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
void dl_init_uniform_fan_in(float *p, size_t count, int fan_in, dl_rng *rng);

#endif
