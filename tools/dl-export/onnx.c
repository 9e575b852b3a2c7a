/* --format onnx: the model as an ONNX graph (NCHW float32 input "input",
 * output "logits" [N, K], plus "probabilities" = softmax(logits) for
 * classifiers), weights as initializers in PyTorch's layouts, and the
 * preprocessing (dl.input), class names (dl.classes) and spec (dl.model) in
 * metadata_props.  Written with the small protobuf encoder in pb.c.
 *
 * Field numbers are those of onnx/onnx.proto (IR version 7, opset >= 13).
 * One emitter per layer kind (table `emitters`); an unknown kind is
 * refused. */
#include "export.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/afile.h"
#include "nn/layers/act.h"
#include "nn/layers/batchnorm.h"
#include "pb.h"

enum { T_FLOAT = 1, A_FLOAT = 1, A_INT = 2, A_INTS = 7 };

typedef struct octx {
	const ex_src *s;
	dl_buf nodes, inits;     /* encoded NodeProto / TensorProto fields of the graph */
	char (*name)[24];        /* output value of layer i */
	int *rank;               /* 4 (NCHW) or 2 (NC) */
	int ntmp;
	int opset;
	dl_err *err;
} octx;

/* ---- building blocks ------------------------------------------------- */

static void attr_int(dl_buf *a, const char *name, int64_t v)
{
	dl_buf t;
	dl_buf_init(&t);
	pb_str(&t, 1, name);
	pb_int(&t, 3, v);
	pb_int(&t, 20, A_INT);
	pb_msg(a, 5, &t);
	dl_buf_release(&t);
}

static void attr_float(dl_buf *a, const char *name, float v)
{
	dl_buf t;
	dl_buf_init(&t);
	pb_str(&t, 1, name);
	pb_float(&t, 2, v);
	pb_int(&t, 20, A_FLOAT);
	pb_msg(a, 5, &t);
	dl_buf_release(&t);
}

static void attr_ints(dl_buf *a, const char *name, const int64_t *v, int n)
{
	dl_buf t;
	dl_buf_init(&t);
	pb_str(&t, 1, name);
	for (int i = 0; i < n; i++)
		pb_int(&t, 8, v[i]);
	pb_int(&t, 20, A_INTS);
	pb_msg(a, 5, &t);
	dl_buf_release(&t);
}

/* A NodeProto: op(ins) -> out, with encoded attributes `attrs` (may be NULL). */
static void node(octx *c, const char *op, const char *const *ins, int nin, const char *out,
		 const dl_buf *attrs)
{
	dl_buf t;
	dl_buf_init(&t);
	for (int i = 0; i < nin; i++)
		pb_str(&t, 1, ins[i]);
	pb_str(&t, 2, out);
	char nm[40];
	snprintf(nm, sizeof nm, "%s_%d", op, c->ntmp++);
	pb_str(&t, 3, nm);
	pb_str(&t, 4, op);
	if (attrs) {
		dl_buf_append(&t, attrs->p, attrs->len);
		t.oom |= attrs->oom;
	}
	pb_msg(&c->nodes, 1, &t);
	dl_buf_release(&t);
}

/* A float initializer (TensorProto, little-endian raw_data). */
static void init_tensor(octx *c, const char *name, const float *v, const int64_t *dims, int ndim)
{
	size_t n = 1;
	dl_buf t;
	dl_buf_init(&t);
	for (int i = 0; i < ndim; i++) {
		pb_int(&t, 1, dims[i]);
		n *= (size_t)dims[i];
	}
	pb_int(&t, 2, T_FLOAT);
	pb_str(&t, 8, name);
	uint8_t *raw = malloc(n * 4 + 1);
	if (!raw) {
		t.oom = 1;
	} else {
		for (size_t i = 0; i < n; i++) {
			uint32_t u;
			memcpy(&u, &v[i], 4);
			for (int k = 0; k < 4; k++)
				raw[4 * i + k] = (uint8_t)(u >> (8 * k));
		}
		pb_bytes(&t, 9, raw, n * 4);
		free(raw);
	}
	pb_msg(&c->inits, 5, &t);
	dl_buf_release(&t);
}

/* Layer i's parameter `pname` in PyTorch's layout as initializer "l<i>.<pname>". */
static int param_init(octx *c, const dl_layer *l, const char *pname, char *out, size_t n)
{
	for (int p = 0; p < l->nparam; p++) {
		if (strcmp(l->param[p].name, pname))
			continue;
		float *dst = malloc(l->param[p].count * sizeof(float) + 1);
		if (!dst)
			return dl_fail(c->err, DL_EFAIL, "out of memory");
		int64_t shape[4];
		int ndim;
		ex_torch_param(c->s, l, p, dst, shape, &ndim);
		snprintf(out, n, "l%d.%s", l->index, pname);
		init_tensor(c, out, dst, shape, ndim);
		free(dst);
		return 0;
	}
	return dl_fail(c->err, DL_EDATA, "layer %d (%s): no parameter '%s'", l->index,
		       l->kind->name, pname);
}

static const char *input_of(const octx *c, const dl_layer *l, int j)
{
	return l->in_from[j] < 0 ? "input" : c->name[l->in_from[j]];
}

static int input_rank(const octx *c, const dl_layer *l, int j)
{
	return l->in_from[j] < 0 ? 4 : c->rank[l->in_from[j]];
}

/* ---- emitters: one per layer kind ------------------------------------ */

static int emit_conv2d(octx *c, const dl_layer *l, const char *out)
{
	ex_conv g;
	char w[32], b[32];
	int rc = ex_conv_geom(l, &g, c->err);
	if (!rc) rc = param_init(c, l, "weight", w, sizeof w);
	if (!rc && g.bias) rc = param_init(c, l, "bias", b, sizeof b);
	if (rc)
		return rc;
	const char *ins[3] = { input_of(c, l, 0), w, b };
	int64_t ks[2] = { g.kh, g.kw }, st[2] = { g.stride, g.stride };
	int64_t pads[4] = { g.pad, g.pad, g.pad, g.pad }, dil[2] = { g.dil, g.dil };
	dl_buf a;
	dl_buf_init(&a);
	attr_ints(&a, "kernel_shape", ks, 2);
	attr_ints(&a, "strides", st, 2);
	attr_ints(&a, "pads", pads, 4);
	attr_ints(&a, "dilations", dil, 2);
	attr_int(&a, "group", g.groups);
	node(c, "Conv", ins, g.bias ? 3 : 2, out, &a);
	dl_buf_release(&a);
	return 0;
}

static int emit_dense(octx *c, const dl_layer *l, const char *out)
{
	char w[32], b[32], flat[32];
	const char *x = input_of(c, l, 0);
	int bias = l->nparam > 1;
	int rc = param_init(c, l, "weight", w, sizeof w);
	if (!rc && bias) rc = param_init(c, l, "bias", b, sizeof b);
	if (rc)
		return rc;
	if (input_rank(c, l, 0) != 2) {   /* NCHW -> [N, C*H*W], torch's flatten order */
		snprintf(flat, sizeof flat, "l%d.flat", l->index);
		dl_buf a;
		dl_buf_init(&a);
		attr_int(&a, "axis", 1);
		node(c, "Flatten", &x, 1, flat, &a);
		dl_buf_release(&a);
		x = flat;
	}
	const char *ins[3] = { x, w, b };
	dl_buf a;
	dl_buf_init(&a);
	attr_int(&a, "transB", 1);
	node(c, "Gemm", ins, bias ? 3 : 2, out, &a);
	dl_buf_release(&a);
	return 0;
}

/* maxpool: padding never wins (ONNX pads MaxPool with -inf, as PyTorch);
 * avgpool: padded zeros count in the mean (count_include_pad, PyTorch's
 * default and ours). */
static int emit_pool(octx *c, const dl_layer *l, const char *op, const char *out)
{
	ex_pool g;
	int rc = ex_pool_geom(l, &g, c->err);
	if (rc)
		return rc;
	const char *x = input_of(c, l, 0);
	int64_t ks[2] = { g.size, g.size }, st[2] = { g.stride, g.stride };
	int64_t pads[4] = { g.pad, g.pad, g.pad, g.pad };
	dl_buf a;
	dl_buf_init(&a);
	attr_ints(&a, "kernel_shape", ks, 2);
	attr_ints(&a, "strides", st, 2);
	attr_ints(&a, "pads", pads, 4);
	if (!strcmp(op, "AveragePool"))
		attr_int(&a, "count_include_pad", 1);
	node(c, op, &x, 1, out, &a);
	dl_buf_release(&a);
	return 0;
}

static int emit_maxpool(octx *c, const dl_layer *l, const char *out)
{
	return emit_pool(c, l, "MaxPool", out);
}

static int emit_avgpool(octx *c, const dl_layer *l, const char *out)
{
	return emit_pool(c, l, "AveragePool", out);
}

/* batchnorm in evaluation mode: BatchNormalization with the running
 * statistics (buffers running_mean, running_var) and eps (dl_batchnorm_opts);
 * works on NCHW and on [N, C]. */
static int emit_batchnorm(octx *c, const dl_layer *l, const char *out)
{
	char w[32], b[32], st[2][32];
	int rc = param_init(c, l, "weight", w, sizeof w);
	if (!rc) rc = param_init(c, l, "bias", b, sizeof b);
	if (rc)
		return rc;
	if (l->nbuf != 2 || !c->s->bufs)
		return dl_fail(c->err, DL_EDATA, "layer %d (batchnorm): no running statistics",
			       l->index);
	for (int j = 0; j < 2; j++) {
		snprintf(st[j], sizeof st[j], "l%d.%s", l->index, l->buf[j].name);
		init_tensor(c, st[j], c->s->bufs + l->buf[j].offset, l->buf[j].shape, l->buf[j].ndim);
	}
	const char *ins[5] = { input_of(c, l, 0), w, b, st[0], st[1] };
	dl_buf a;
	dl_buf_init(&a);
	attr_float(&a, "epsilon", dl_batchnorm_opts_of(l)->eps);
	node(c, "BatchNormalization", ins, 5, out, &a);
	dl_buf_release(&a);
	return 0;
}

/* leaky_relu: the slope (dl_act_opts) */
static int emit_leaky_relu(octx *c, const dl_layer *l, const char *out)
{
	const char *x = input_of(c, l, 0);
	dl_buf a;
	dl_buf_init(&a);
	attr_float(&a, "alpha", dl_act_opts_of(l)->slope);
	node(c, "LeakyRelu", &x, 1, out, &a);
	dl_buf_release(&a);
	return 0;
}

static int emit_flatten(octx *c, const dl_layer *l, const char *out)
{
	const char *x = input_of(c, l, 0);
	dl_buf a;
	dl_buf_init(&a);
	attr_int(&a, "axis", 1);
	node(c, "Flatten", &x, 1, out, &a);
	dl_buf_release(&a);
	return 0;
}

static int emit_unary(octx *c, const dl_layer *l, const char *op, const char *out)
{
	const char *x = input_of(c, l, 0);
	node(c, op, &x, 1, out, NULL);
	return 0;
}

static int emit_relu(octx *c, const dl_layer *l, const char *out)
{
	return emit_unary(c, l, "Relu", out);
}

/* The kinds below follow lib/backend/backend.h's semantics; they have no
 * options an exporter needs (dropout is the identity at inference). */
static int emit_tanh(octx *c, const dl_layer *l, const char *out)
{
	return emit_unary(c, l, "Tanh", out);
}

static int emit_sigmoid(octx *c, const dl_layer *l, const char *out)
{
	return emit_unary(c, l, "Sigmoid", out);
}

static int emit_dropout(octx *c, const dl_layer *l, const char *out)
{
	return emit_unary(c, l, "Identity", out);
}

static int emit_gap(octx *c, const dl_layer *l, const char *out)
{
	return emit_unary(c, l, "GlobalAveragePool", out);
}

/* exact GELU (opset < 20 has no Gelu): 0.5 x (1 + erf(x / sqrt 2)) */
static int emit_gelu(octx *c, const dl_layer *l, const char *out)
{
	char k[3][32], t[4][32];
	const float v[3] = { 1.41421356237309504880f, 1.0f, 0.5f };
	for (int i = 0; i < 3; i++) {
		snprintf(k[i], sizeof k[i], "l%d.c%d", l->index, i);
		init_tensor(c, k[i], &v[i], NULL, 0);
	}
	for (int i = 0; i < 4; i++)
		snprintf(t[i], sizeof t[i], "l%d.t%d", l->index, i);
	const char *x = input_of(c, l, 0);
	const char *div[2] = { x, k[0] }, *erf = t[0], *add[2] = { t[1], k[1] },
		   *mul[2] = { x, t[2] }, *half[2] = { t[3], k[2] };
	node(c, "Div", div, 2, t[0], NULL);
	node(c, "Erf", &erf, 1, t[1], NULL);
	node(c, "Add", add, 2, t[2], NULL);
	node(c, "Mul", mul, 2, t[3], NULL);
	node(c, "Mul", half, 2, out, NULL);
	return 0;
}

/* hardswish: HardSwish from opset 14; before, x * HardSigmoid(x) with
 * alpha = 1/6, beta = 1/2 (= x * clamp(x + 3, 0, 6) / 6) */
static int emit_hardswish(octx *c, const dl_layer *l, const char *out)
{
	const char *x = input_of(c, l, 0);
	if (c->opset >= 14)
		return emit_unary(c, l, "HardSwish", out);
	char hs[32];
	snprintf(hs, sizeof hs, "l%d.hsig", l->index);
	dl_buf a;
	dl_buf_init(&a);
	attr_float(&a, "alpha", 1.0f / 6.0f);
	attr_float(&a, "beta", 0.5f);
	node(c, "HardSigmoid", &x, 1, hs, &a);
	dl_buf_release(&a);
	const char *mul[2] = { x, hs };
	node(c, "Mul", mul, 2, out, NULL);
	return 0;
}

/* add: elementwise sum of the inputs; concat: along channels (axis 1 in NCHW) */
static int emit_add(octx *c, const dl_layer *l, const char *out)
{
	const char *ins[DL_LAYER_MAX_IN];
	for (int j = 0; j < l->nin; j++)
		ins[j] = input_of(c, l, j);
	node(c, l->nin == 2 ? "Add" : "Sum", ins, l->nin, out, NULL);
	return 0;
}

static int emit_concat(octx *c, const dl_layer *l, const char *out)
{
	const char *ins[DL_LAYER_MAX_IN];
	for (int j = 0; j < l->nin; j++) {
		ins[j] = input_of(c, l, j);
		if (input_rank(c, l, j) != input_rank(c, l, 0))
			return dl_fail(c->err, DL_EDATA, "layer %d (concat): inputs of different rank",
				       l->index);
	}
	dl_buf a;
	dl_buf_init(&a);
	attr_int(&a, "axis", 1);
	node(c, "Concat", ins, l->nin, out, &a);
	dl_buf_release(&a);
	return 0;
}

static const struct {
	const dl_layer_kind *kind;
	int (*emit)(octx *c, const dl_layer *l, const char *out);
	int rank;   /* output rank: 4, 2, or 0 = the input's */
} emitters[] = {
	{ &dl_layer_conv2d, emit_conv2d, 4 },
	{ &dl_layer_dense, emit_dense, 2 },
	{ &dl_layer_maxpool, emit_maxpool, 4 },
	{ &dl_layer_flatten, emit_flatten, 2 },
	{ &dl_layer_relu, emit_relu, 0 },
	{ &dl_layer_tanh, emit_tanh, 0 },
	{ &dl_layer_sigmoid, emit_sigmoid, 0 },
	{ &dl_layer_gelu, emit_gelu, 0 },
	{ &dl_layer_dropout, emit_dropout, 0 },
	{ &dl_layer_gap, emit_gap, 4 },
	{ &dl_layer_add, emit_add, 0 },
	{ &dl_layer_concat, emit_concat, 0 },
	{ &dl_layer_avgpool, emit_avgpool, 4 },
	{ &dl_layer_batchnorm, emit_batchnorm, 0 },
	{ &dl_layer_leaky_relu, emit_leaky_relu, 0 },
	{ &dl_layer_hardswish, emit_hardswish, 0 },
};

/* ---- the model ------------------------------------------------------- */

static void value_info(dl_buf *g, int field, const char *name, const int64_t *dims, int ndim)
{
	dl_buf shape, tt, type, vi;
	dl_buf_init(&shape);
	dl_buf_init(&tt);
	dl_buf_init(&type);
	dl_buf_init(&vi);
	for (int i = 0; i < ndim; i++) {
		dl_buf d;
		dl_buf_init(&d);
		if (dims[i] < 0)
			pb_str(&d, 2, "N");
		else
			pb_int(&d, 1, dims[i]);
		pb_msg(&shape, 1, &d);
		dl_buf_release(&d);
	}
	pb_int(&tt, 1, T_FLOAT);
	pb_msg(&tt, 2, &shape);
	pb_msg(&type, 1, &tt);
	pb_str(&vi, 1, name);
	pb_msg(&vi, 2, &type);
	pb_msg(g, field, &vi);
	dl_buf_release(&shape);
	dl_buf_release(&tt);
	dl_buf_release(&type);
	dl_buf_release(&vi);
}

static void meta(dl_buf *mp, const char *key, const char *value)
{
	dl_buf t;
	dl_buf_init(&t);
	pb_str(&t, 1, key);
	pb_str(&t, 2, value);
	pb_msg(mp, 14, &t);
	dl_buf_release(&t);
}

static int build_graph(octx *c)
{
	const dl_model *m = c->s->m;
	for (int i = 0; i < m->nlayers; i++) {
		const dl_layer *l = &m->layers[i];
		int e = -1;
		for (size_t k = 0; k < sizeof emitters / sizeof emitters[0]; k++)
			if (emitters[k].kind == l->kind)
				e = (int)k;
		if (e < 0)
			return dl_fail(c->err, DL_EDATA, "layer %d: no ONNX export for layer kind '%s' yet",
				       i, l->kind->name);
		snprintf(c->name[i], sizeof c->name[i], "l%d", i);
		int rc = emitters[e].emit(c, l, c->name[i]);
		if (rc)
			return rc;
		c->rank[i] = emitters[e].rank ? emitters[e].rank : input_rank(c, l, 0);
	}
	const char *last = m->nlayers ? c->name[m->nlayers - 1] : "input";
	int last_rank = m->nlayers ? c->rank[m->nlayers - 1] : 4;
	dl_buf a;
	dl_buf_init(&a);
	attr_int(&a, "axis", 1);
	node(c, last_rank == 2 ? "Identity" : "Flatten", &last, 1, "logits", last_rank == 2 ? NULL : &a);
	int regression = dl_loss_is_regression(&m->loss);
	if (!regression) {
		const char *lg = "logits";
		node(c, "Softmax", &lg, 1, "probabilities", &a);
	}
	dl_buf_release(&a);
	return 0;
}

int ex_write_onnx(const ex_src *s, int opset, const char *out, dl_err *err)
{
	const dl_model *m = s->m;
	octx c = { .s = s, .opset = opset, .err = err };
	dl_buf_init(&c.nodes);
	dl_buf_init(&c.inits);
	c.name = calloc((size_t)m->nlayers + 1, sizeof *c.name);
	c.rank = calloc((size_t)m->nlayers + 1, sizeof *c.rank);
	dl_buf g, mp, in;
	dl_buf_init(&g);
	dl_buf_init(&mp);
	dl_buf_init(&in);
	int rc = c.name && c.rank ? 0 : dl_fail(err, DL_EFAIL, "out of memory");
	if (!rc)
		rc = build_graph(&c);
	if (!rc) {
		/* GraphProto: c.nodes and c.inits hold encoded repeated fields 1 and 5 */
		dl_buf_append(&g, c.nodes.p, c.nodes.len);
		pb_str(&g, 2, m->name);
		dl_buf_append(&g, c.inits.p, c.inits.len);
		g.oom |= c.nodes.oom | c.inits.oom;
		int64_t idims[4] = { -1, m->input.c, m->input.h, m->input.w };
		value_info(&g, 11, "input", idims, 4);
		int64_t odims[2] = { -1, dl_model_output_shape(m).c };
		value_info(&g, 12, "logits", odims, 2);
		if (!dl_loss_is_regression(&m->loss))
			value_info(&g, 12, "probabilities", odims, 2);

		pb_int(&mp, 1, 7);                        /* ir_version */
		pb_str(&mp, 2, "dl-tools");               /* producer_name */
		pb_str(&mp, 3, DL_VERSION);               /* producer_version */
		pb_msg(&mp, 7, &g);                       /* graph */
		dl_buf os;
		dl_buf_init(&os);
		pb_str(&os, 1, "");
		pb_int(&os, 2, opset);
		pb_msg(&mp, 8, &os);                      /* opset_import */
		dl_buf_release(&os);
		ex_input_json(s, "NCHW float32", &in);
		meta(&mp, "dl.format", "dl-tools export onnx 1");
		meta(&mp, "dl.input", in.oom ? "" : in.p);
		meta(&mp, "dl.model_name", m->name);
		meta(&mp, "dl.model", m->spec_text);
		if (s->ck->classes_json)
			meta(&mp, "dl.classes", s->ck->classes_json);
		if (mp.oom || in.oom)
			rc = dl_fail(err, DL_EFAIL, "out of memory");
	}
	if (!rc) {
		dl_afile f;
		if (!(rc = dl_afile_open(&f, out, err))) {
			if (fwrite(mp.p, 1, mp.len, f.f) != mp.len) {
				rc = dl_fail_errno(err, DL_EIO, "%s: write failed", out);
				dl_afile_abort(&f);
			} else {
				rc = dl_afile_commit(&f, err);
			}
		}
	}
	dl_buf_release(&c.nodes);
	dl_buf_release(&c.inits);
	dl_buf_release(&g);
	dl_buf_release(&mp);
	dl_buf_release(&in);
	free(c.name);
	free(c.rank);
	return rc;
}
