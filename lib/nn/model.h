/* A model: layers built from a spec, their parameters in one allocation.
 *
 * Ownership: the model owns its layers, the spec text, and (once allocated
 * on a backend) the parameter, gradient and activation blocks; every
 * dl_layer pointer is a view into those blocks.  The backend is borrowed
 * and must outlive the model's device memory (dl_model_release frees it).
 *
 * Lifecycle: dl_model_build (spec -> shapes, parameter layout; no device
 * memory; lib/nn/graph.c), dl_model_alloc (parameters + gradients on a
 * backend; model.c), dl_model_plan (activations for a batch size; plan.c),
 * forward/backward many times, dl_model_release.
 */
#ifndef DL_NN_MODEL_H
#define DL_NN_MODEL_H

#include <stdio.h>
#include "backend/backend.h"
#include "nn/layer.h"
#include "nn/loss.h"

typedef struct dl_model {
	char *name;              /* built-in name or file name */
	char *spec_text;         /* exact text it was built from (saved in checkpoints) */
	dl_shape input;
	int nlayers;
	dl_layer *layers;
	size_t nparams;          /* floats in the parameter block */
	size_t nbuffers;         /* floats in the buffer block (running stats) */
	dl_loss loss;            /* from the spec's optional last line `loss ...` */
	dl_run run;              /* training flag, seed, step; layers point here */

	dl_backend *be;          /* set by dl_model_alloc */
	float *params, *grads;   /* device, nparams floats each */
	float *buffers;          /* device, nbuffers floats (NULL if none) */
	int batch;               /* planned batch size (0: not planned) */
	float *act, *dact;       /* activation / gradient blocks */
	float **y, **dy;         /* per layer output and its gradient (views) */
	float *x;                /* input batch [batch, input] (view) */
	int *need_dx;            /* per layer: does anything below need dx? */
	/* Gradients of an output that feeds several layers (residuals): the
	 * last consumer in line order writes the producer's dy, the others
	 * write into gsum scratch that is added to it after their backward;
	 * acc[i * DL_LAYER_MAX_IN + j] is that target for input j of layer i
	 * (NULL: dxs[j] is the target itself). */
	float *gsum;
	float **acc;
	float *ws;               /* all layers' workspaces (nws floats each) */
	/* dl_model_plan refuses a plan whose activation blocks would exceed
	 * this many bytes (0: the machine's physical memory), before
	 * allocating anything: --max-memory of dl-train and dl-eval. */
	size_t max_plan_bytes;
	/* 1: dl_model_plan fuses no layers (layer.h post_relu), so every layer
	 * runs on its own; the tests compare the two. */
	int no_fuse;
	/* Set before dl_model_plan (the trainer does): the plan also holds,
	 * per conv layer, what the backend's training pair keeps from forward
	 * to backward (ops.h conv2d_fwd_train; layer.h nsaved).  0: the layers
	 * use the plain ops, and evaluation plans no such memory. */
	int for_training;
	/* 1: no bf16 links (layer.h link) even where the backend offers them
	 * (DL_BF16_LINK=0 sets it; the tests compare the two). */
	int no_link;
	/* Called by dl_model_backward after each layer with parameters:
	 * every gradient at index >= from is final (data-parallel training
	 * starts summing those buckets while backward goes on).  May be NULL. */
	void (*grads_ready)(void *ctx, size_t from);
	void *grads_ctx;
} dl_model;

/* Layer lines a spec may hold (a model spec is a claim; 10,000 relu
 * lines once planned 8.4 GB).  ResNet-152 needs about 600. */
#define DL_MODEL_MAX_LAYERS 4096

/* Builds from spec text; `src` names it in messages ("lenet", "my.spec"). */
int dl_model_build(dl_model *m, const char *spec_text, const char *src, dl_err *err);
/* A built-in name (models/NAME.spec) or a path to a spec file. */
int dl_model_load(dl_model *m, const char *name_or_path, dl_err *err);
void dl_model_release(dl_model *m);

/* Allocates parameters and gradients on be (zeroed). */
int dl_model_alloc(dl_model *m, dl_backend *be, dl_err *err);
/* Writes seeded initial parameters (PyTorch's default init). */
int dl_model_init(dl_model *m, uint64_t seed, dl_err *err);
/* Training mode (batch norm uses batch statistics, dropout is on) or
 * evaluation mode.  A built model starts in evaluation mode. */
void dl_model_set_training(dl_model *m, int training);
/* Plans activations for up to `batch` samples; re-planning frees the old.
 * DL_EFAIL, before allocating, when they would need more than
 * max_plan_bytes (see above). */
int dl_model_plan(dl_model *m, int batch, dl_err *err);
/* Frees the plan (activations, gradients, workspaces); the model stays
 * built and allocated.  dl_model_release calls it. */
void dl_model_unplan(dl_model *m);

/* Runs the layers on m->x [n, input] (n <= batch); output in
 * dl_model_output(m) [n, classes]. */
void dl_model_forward(dl_model *m, int n);
/* Back-propagates from dl_model_doutput(m) (filled by the loss);
 * accumulates into m->grads (zero them first). */
void dl_model_backward(dl_model *m, int n);
float *dl_model_output(const dl_model *m);
float *dl_model_doutput(const dl_model *m);
dl_shape dl_model_output_shape(const dl_model *m);

/* Keras-style table: layer, output shape, params; totals. */
void dl_model_summary(const dl_model *m, FILE *out);

#endif
