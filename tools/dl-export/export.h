/* dl-export's writers and what they share.
 *
 * Each writer walks the model's layers and looks up the layer's kind
 * (&dl_layer_<name>, lib/nn/layers/kinds.h) in its own table (ONNX node
 * emitters in onnx.c, C forward code in c_emit.c); a kind missing from the
 * table is refused with an error naming the layer, so a new layer kind is
 * never exported wrongly, only not yet.  Options are read through the
 * kind's accessor (dl_conv2d_opts_of ..., lib/nn/layers/KIND.h); the
 * PyTorch text comes from the kind itself (torch_module).
 * Graph models: a layer's inputs are l->in_from[0..nin) (-1: the model
 * input). */
#ifndef DL_EXPORT_H
#define DL_EXPORT_H

#include "core/buf.h"
#include "nn/model.h"
#include "train/checkpoint.h"

typedef struct ex_src {
	const dl_model *m;
	const dl_checkpoint *ck;
	const float *params;     /* host copy of m->params, our layouts */
	const float *bufs;       /* host copy of m->buffers (NULL if none) */
} ex_src;

/* Convolution / pooling geometry as the exporters understand it; refuses
 * (DL_EDATA) a layer whose output size it cannot reproduce. */
typedef struct ex_conv {
	int k, kh, kw, cg, groups;   /* weights [k, kh, kw, cg], cg = c / groups */
	int stride, pad, dil;
	int bias;                    /* has a bias */
} ex_conv;
typedef struct ex_pool {
	int size, stride, pad;       /* maxpool and avgpool: dl_pool_opts */
} ex_pool;
int ex_conv_geom(const dl_layer *l, ex_conv *g, dl_err *err);
int ex_pool_geom(const dl_layer *l, ex_pool *g, dl_err *err);

/* Parameter `name` of l ("weight", "bias") in our layout, or NULL. */
const float *ex_param(const ex_src *s, const dl_layer *l, const char *name, const dl_param **p);
/* Parameter i of l in PyTorch's layout: dst (p->count floats), shape, ndim. */
void ex_torch_param(const ex_src *s, const dl_layer *l, int i, float *dst, int64_t *shape,
		    int *ndim);
/* dl.input metadata: preprocessing JSON with the input layout named. */
void ex_input_json(const ex_src *s, const char *layout, dl_buf *b);
/* The torch.nn.Sequential a safetensors export loads into, as data (JSON,
 * metadata dl.torch_layers): a list of {"module", "args", "kwargs"}, or
 * {"module": "Sequential", "layers": [...]}; never code to evaluate.
 * DL_EDATA for models that are not a plain chain. */
int ex_torch_text(const dl_model *m, dl_buf *b, dl_err *err);
/* Index of the model's output layer input chain: 1 if every layer reads
 * only the previous one. */
int ex_is_chain(const dl_model *m);

int ex_write_safetensors(const ex_src *s, const char *out, dl_err *err);
int ex_write_onnx(const ex_src *s, int opset, const char *out, dl_err *err);
/* out is the .c file; the header is the same path with .h; `prefix` names
 * the C symbols (NAME_forward ...). */
int ex_write_c(const ex_src *s, const char *out, const char *prefix, dl_err *err);

#endif
