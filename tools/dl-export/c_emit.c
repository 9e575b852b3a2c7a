/* --format c: one self-contained C99 source and header for embedding.
 *
 * The source holds the weights (our NHWC layouts, bit-exact: hex float
 * literals, or byte strings for big models, see array()), one small kernel
 * per layer kind used (c_kernels.c), and
 *   void NAME_preprocess(const unsigned char *px, float *x);  u8 HWC -> input
 *   void NAME_forward(const float *x, float *y, float *work);  one sample
 *   int NAME_argmax(const float *y);
 * Work memory: NAME_WORK_FLOATS floats from the caller (no globals written,
 * so calls on different work buffers may run in parallel), laid out by
 * plan_work() so that outputs no longer read are reused.  One table entry
 * per layer kind (`kinds`): its kernel text and the call it emits; an
 * unknown kind is refused. */
#include "export.h"
#include "c_kernels.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/afile.h"
#include "core/json.h"
#include "nn/layers/act.h"
#include "nn/layers/batchnorm.h"

typedef struct cctx {
	const ex_src *s;
	FILE *f;
	const char *px;          /* symbol prefix */
	char (*var)[32];         /* C expression for layer i's output */
	int bytes;               /* weights as byte strings (big models) */
	dl_err *err;
} cctx;

/* ---- weights ---------------------------------------------------------- */

/* Models above this many parameters get their weights as byte strings:
 * GCC parses a float initializer list at ~0.4 M elements/s with ~300 bytes
 * each (resnet50: 73 s, 5 GB at -O1), a string literal about 10x faster
 * with a fifth of the memory. */
#define C_BYTES_ABOVE ((size_t)1 << 20)

/* Emits `n` floats as the array `sym` and writes the C expression to use
 * (`ref`): a `static const float` list of hex float literals, or (c->bytes)
 * a union whose first member, a string of the IEEE-754 little-endian
 * bytes, initialises the float array it is read through.  Both bit-exact. */
static void array(cctx *c, const char *sym, const float *v, size_t n, char *ref, size_t rn)
{
	FILE *f = c->f;
	if (!c->bytes) {
		snprintf(ref, rn, "%s", sym);
		fprintf(f, "static const float %s[%zu] = {\n", sym, n);
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%a,%s", (double)v[i], i % 8 == 7 || i + 1 == n ? "\n" : " ");
		fputs("};\n\n", f);
		return;
	}
	snprintf(ref, rn, "%s.f", sym);
	fprintf(f, "static const union { unsigned char b[%zu]; float f[%zu]; } %s = {\n\"", 4 * n,
		n, sym);
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &v[i], 4);
		for (int k = 0; k < 4; k++) {
			unsigned ch = (u >> (8 * k)) & 0xff;
			/* 3-digit octal escapes: a following digit is never taken in */
			if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' && ch != '?')
				fputc((int)ch, f);
			else
				fprintf(f, "\\%03o", ch);
		}
		if (i % 16 == 15 && i + 1 < n)
			fputs("\"\n\"", f);
	}
	fputs("\" };\n\n", f);
}

/* Emits layer l's parameter `name` as NAME_l<i>_<name>; writes the C
 * expression for it (or "0" when absent) into ref. */
static void weight(cctx *c, const dl_layer *l, const char *name, char *ref, size_t n)
{
	const dl_param *p;
	const float *v = ex_param(c->s, l, name, &p);
	char sym[96];
	if (!v) {
		snprintf(ref, n, "0");
		return;
	}
	snprintf(sym, sizeof sym, "%s_l%d_%s", c->px, l->index, name);
	array(c, sym, v, p->count, ref, n);
}

static const char *in_var(const cctx *c, const dl_layer *l, int j)
{
	return l->in_from[j] < 0 ? "x" : c->var[l->in_from[j]];
}

/* ---- emitters: each writes its weights now and returns its call ------- */

static int e_conv2d(cctx *c, const dl_layer *l, dl_buf *call)
{
	ex_conv g;
	char w[128], b[128];
	int rc = ex_conv_geom(l, &g, c->err);
	if (rc)
		return rc;
	weight(c, l, "weight", w, sizeof w);
	weight(c, l, "bias", b, sizeof b);
	dl_buf_printf(call, "\tdlx_conv2d(%s, %d, %d, %d, %s, %s, %d, %d, %d, %d, %d, %d, %d, %s, %d, %d);\n",
		      in_var(c, l, 0), l->in.h, l->in.w, l->in.c, w, b, g.k, g.kh, g.kw, g.stride,
		      g.pad, g.dil, g.groups, c->var[l->index], l->out.h, l->out.w);
	return 0;
}

static int e_dense(cctx *c, const dl_layer *l, dl_buf *call)
{
	char w[128], b[128];
	weight(c, l, "weight", w, sizeof w);
	weight(c, l, "bias", b, sizeof b);
	/* NHWC flatten order is our weight column order: no permutation here */
	dl_buf_printf(call, "\tdlx_dense(%s, %zu, %s, %s, %d, %s);\n", in_var(c, l, 0),
		      dl_shape_size(l->in), w, b, l->out.c, c->var[l->index]);
	return 0;
}

static int e_maxpool(cctx *c, const dl_layer *l, dl_buf *call)
{
	ex_pool g;
	int rc = ex_pool_geom(l, &g, c->err);
	if (!rc)
		dl_buf_printf(call, "\tdlx_maxpool(%s, %d, %d, %d, %d, %d, %d, %s, %d, %d);\n",
			      in_var(c, l, 0), l->in.h, l->in.w, l->in.c, g.size, g.stride, g.pad,
			      c->var[l->index], l->out.h, l->out.w);
	return rc;
}

/* Elementwise one-input kinds: dlx_<kind>(x, n, [slope,] y). */
static int e_act(cctx *c, const dl_layer *l, dl_buf *call)
{
	char slope[48] = "";
	if (l->kind == &dl_layer_leaky_relu)
		snprintf(slope, sizeof slope, " %af,", (double)dl_act_opts_of(l)->slope);
	dl_buf_printf(call, "\tdlx_%s(%s, %zu,%s %s);\n", l->kind->name, in_var(c, l, 0),
		      dl_shape_size(l->out), slope, c->var[l->index]);
	return 0;
}

/* batchnorm in evaluation mode: y = x * scale + shift per channel, with
 * scale = gamma / sqrt(running_var + eps) and shift = beta - mean * scale
 * computed here in double, as lib/backend/cpu/bn.c does (dl_batchnorm_opts). */
static int e_batchnorm(cctx *c, const dl_layer *l, dl_buf *call)
{
	const float *g = ex_param(c->s, l, "weight", NULL), *b = ex_param(c->s, l, "bias", NULL);
	int ch = l->in.c;
	if (!g || !b || l->nbuf != 2 || !c->s->bufs || l->out.c != ch)
		return dl_fail(c->err, DL_EDATA, "layer %d (batchnorm): no parameters or running "
			       "statistics", l->index);
	const float *mean = c->s->bufs + l->buf[0].offset, *var = c->s->bufs + l->buf[1].offset;
	float *ss = malloc(sizeof(float) * 2 * (size_t)ch);
	if (!ss)
		return dl_fail(c->err, DL_EFAIL, "out of memory");
	for (int i = 0; i < ch; i++) {
		double sc = g[i] / sqrt((double)var[i] + dl_batchnorm_opts_of(l)->eps);
		ss[i] = (float)sc;
		ss[ch + i] = (float)(b[i] - mean[i] * sc);
	}
	char sym[2][96], ref[2][96];
	for (int j = 0; j < 2; j++) {
		snprintf(sym[j], sizeof sym[j], "%s_l%d_%s", c->px, l->index, j ? "shift" : "scale");
		array(c, sym[j], ss + (size_t)j * ch, (size_t)ch, ref[j], sizeof ref[j]);
	}
	free(ss);
	dl_buf_printf(call, "\tdlx_batchnorm(%s, %zu, %d, %s, %s, %s);\n", in_var(c, l, 0),
		      (size_t)l->in.h * l->in.w, ch, ref[0], ref[1], c->var[l->index]);
	return 0;
}

static int e_avgpool(cctx *c, const dl_layer *l, dl_buf *call)
{
	ex_pool g;
	int rc = ex_pool_geom(l, &g, c->err);
	if (!rc)
		dl_buf_printf(call, "\tdlx_avgpool(%s, %d, %d, %d, %d, %d, %d, %s, %d, %d);\n",
			      in_var(c, l, 0), l->in.h, l->in.w, l->in.c, g.size, g.stride, g.pad,
			      c->var[l->index], l->out.h, l->out.w);
	return rc;
}

static int e_gap(cctx *c, const dl_layer *l, dl_buf *call)
{
	if (l->out.c != l->in.c || l->out.h != 1 || l->out.w != 1)
		return dl_fail(c->err, DL_EDATA, "layer %d (gap): output is not 1x1xC", l->index);
	dl_buf_printf(call, "\tdlx_gap(%s, %zu, %d, %s);\n", in_var(c, l, 0),
		      (size_t)l->in.h * l->in.w, l->in.c, c->var[l->index]);
	return 0;
}

/* add: ((x0 + x1) + x2) + ..., the reference backend's order */
static int e_add(cctx *c, const dl_layer *l, dl_buf *call)
{
	size_t n = dl_shape_size(l->out);
	const char *y = c->var[l->index];
	if (l->nin < 2)
		return dl_fail(c->err, DL_EDATA, "layer %d (add): fewer than 2 inputs", l->index);
	for (int j = 0; j < l->nin; j++)
		if (dl_shape_size(l->ins[j]) != n)
			return dl_fail(c->err, DL_EDATA, "layer %d (add): input shapes differ",
				       l->index);
	dl_buf_printf(call, "\tdlx_add(%s, %s, %zu, %s);\n", in_var(c, l, 0), in_var(c, l, 1), n, y);
	for (int j = 2; j < l->nin; j++)
		dl_buf_printf(call, "\tdlx_add(%s, %s, %zu, %s);\n", y, in_var(c, l, j), n, y);
	return 0;
}

static int e_concat(cctx *c, const dl_layer *l, dl_buf *call)
{
	size_t rows = (size_t)l->out.h * l->out.w;
	int off = 0;
	for (int j = 0; j < l->nin; j++) {
		if ((size_t)l->ins[j].h * l->ins[j].w != rows)
			return dl_fail(c->err, DL_EDATA, "layer %d (concat): input sizes differ",
				       l->index);
		dl_buf_printf(call, "\tdlx_concat(%s, %zu, %d, %s, %d, %d);\n", in_var(c, l, j),
			      rows, l->ins[j].c, c->var[l->index], off, l->out.c);
		off += l->ins[j].c;
	}
	return off == l->out.c ? 0 : dl_fail(c->err, DL_EDATA, "layer %d (concat): channels do "
					      "not add up", l->index);
}

static int e_alias(cctx *c, const dl_layer *l, dl_buf *call)
{
	/* flatten (same memory, NHWC order kept) and dropout (identity at
	 * inference): the output is the input's buffer */
	(void)c, (void)l, (void)call;
	return 0;
}

static const struct {
	const dl_layer_kind *kind;
	int (*emit)(cctx *c, const dl_layer *l, dl_buf *call);
	const char *kernel;     /* emitted once if any layer uses the kind */
	int alias;              /* output is the input's memory */
} kinds[] = {
	{ &dl_layer_conv2d, e_conv2d, k_conv2d, 0 },
	{ &dl_layer_dense, e_dense, k_dense, 0 },
	{ &dl_layer_maxpool, e_maxpool, k_maxpool, 0 },
	{ &dl_layer_avgpool, e_avgpool, k_avgpool, 0 },
	{ &dl_layer_gap, e_gap, k_gap, 0 },
	{ &dl_layer_batchnorm, e_batchnorm, k_batchnorm, 0 },
	{ &dl_layer_relu, e_act, k_relu, 0 },
	{ &dl_layer_leaky_relu, e_act, k_leaky_relu, 0 },
	{ &dl_layer_tanh, e_act, k_tanh, 0 },
	{ &dl_layer_sigmoid, e_act, k_sigmoid, 0 },
	{ &dl_layer_gelu, e_act, k_gelu, 0 },
	{ &dl_layer_hardswish, e_act, k_hardswish, 0 },
	{ &dl_layer_add, e_add, k_add, 0 },
	{ &dl_layer_concat, e_concat, k_concat, 0 },
	{ &dl_layer_flatten, e_alias, NULL, 1 },
	{ &dl_layer_dropout, e_alias, NULL, 1 },
};
#define NKINDS (int)(sizeof kinds / sizeof kinds[0])

static int kind_of(const dl_layer *l)
{
	for (int k = 0; k < NKINDS; k++)
		if (kinds[k].kind == l->kind)
			return k;
	return -1;
}

/* A C string literal for s (octal escapes for anything not plain ASCII). */
static void c_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' && *p != '?')
			fputc(*p, f);
		else
			fprintf(f, "\\%03o", *p);
	fputc('"', f);
}

/* Work memory plan: layer i's output lives at off[i] floats into work
 * from the layer that writes it until its last reader has run (the output
 * layer: to the end), then its floats are reused.  Aliasing layers
 * (flatten, dropout) share their input's memory and extend its life.
 * First fit over the buffers live at each step; *work = the high mark. */
static int plan_work(const dl_model *m, size_t *off, size_t *work, dl_err *err)
{
	int n = m->nlayers;
	int *root = calloc((size_t)n + 1, sizeof(int)), *last = calloc((size_t)n + 1, sizeof(int));
	if (!root || !last) {
		free(root);
		free(last);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	for (int i = 0; i < n; i++) {
		const dl_layer *l = &m->layers[i];
		int a = kinds[kind_of(l)].alias, f0 = l->in_from[0];
		root[i] = !a ? i : f0 < 0 ? -1 : root[f0];
		last[i] = i;
		for (int j = 0; j < l->nin; j++)
			if (l->in_from[j] >= 0 && root[l->in_from[j]] >= 0 &&
			    last[root[l->in_from[j]]] < i)
				last[root[l->in_from[j]]] = i;
	}
	if (n && root[n - 1] >= 0)
		last[root[n - 1]] = n;
	*work = 0;
	for (int i = 0; i < n; i++) {
		if (root[i] != i)
			continue;
		size_t sz = dl_shape_size(m->layers[i].out), best = (size_t)-1;
		/* candidates: 0 and the end of every live buffer */
		for (int k = -1; k < i; k++) {
			if (k >= 0 && (root[k] != k || last[k] < i))
				continue;
			size_t o = k < 0 ? 0 : off[k] + dl_shape_size(m->layers[k].out);
			int fits = o < best;
			for (int q = 0; fits && q < i; q++)
				if (root[q] == q && last[q] >= i && o < off[q] + dl_shape_size(m->layers[q].out) &&
				    off[q] < o + sz)
					fits = 0;
			if (fits)
				best = o;
		}
		off[i] = best;
		if (best + sz > *work)
			*work = best + sz;
	}
	free(root);
	free(last);
	return 0;
}

static int write_source(cctx *c, const char *hname, size_t *work)
{
	const dl_model *m = c->s->m;
	const dl_norm *nm = &c->s->ck->norm;
	FILE *f = c->f;
	int used[NKINDS] = { 0 };
	for (int i = 0; i < m->nlayers; i++) {
		int k = kind_of(&m->layers[i]);
		if (k < 0)
			return dl_fail(c->err, DL_EDATA, "layer %d: no C export for layer kind '%s' yet",
				       i, m->layers[i].kind->name);
		used[k] = 1;
	}
	fprintf(f, "/* Generated by dl-export from model '%s' (dl-tools %s).  Plain C99 + libm.\n"
		" * Layout NHWC; weights in dl-tools' own layouts.  See %s. */\n"
		"#include \"%s\"\n\n#include <math.h>\n#include <stddef.h>\n\n",
		m->name, DL_VERSION, hname, hname);
	c->bytes = m->nparams > C_BYTES_ABOVE;
	if (c->bytes)
		fputs("/* The weights are strings of their IEEE-754 little-endian bytes, read\n"
		      " * through a union (C99 type punning). */\n"
		      "#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)\n"
		      "#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__\n"
		      "#error \"dl-export: weights stored as little-endian bytes; \\\n"
		      "big-endian targets are not supported\"\n"
		      "#endif\n#endif\n\n", f);
	for (int k = 0; k < NKINDS; k++)
		if (used[k] && kinds[k].kernel)
			fputs(kinds[k].kernel, f);
	size_t *off = malloc(sizeof(size_t) * ((size_t)m->nlayers + 1));
	int rc = off ? plan_work(m, off, work, c->err) : dl_fail(c->err, DL_EFAIL, "out of memory");
	dl_buf call;
	dl_buf_init(&call);
	for (int i = 0; !rc && i < m->nlayers; i++) {
		const dl_layer *l = &m->layers[i];
		if (kinds[kind_of(l)].alias)
			snprintf(c->var[i], sizeof c->var[i], "%s", in_var(c, l, 0));
		else
			snprintf(c->var[i], sizeof c->var[i], "(work + %zu)", off[i]);
		rc = kinds[kind_of(l)].emit(c, l, &call);
	}
	free(off);
	if (rc) {
		dl_buf_release(&call);
		return rc;
	}
	fprintf(f, "void %s_preprocess(const unsigned char *px, float *x)\n{\n"
		"\tstatic const float mean[%d] = {", c->px, nm->c);
	for (int i = 0; i < nm->c; i++)
		fprintf(f, " %a,", (double)nm->mean[i]);
	fprintf(f, " }, stdv[%d] = {", nm->c);
	for (int i = 0; i < nm->c; i++)
		fprintf(f, " %a,", (double)nm->std[i]);
	fprintf(f, " };\n\tfor (size_t i = 0; i < (size_t)%d * %d; i++)\n"
		"\t\tfor (int ch = 0; ch < %d; ch++)\n"
		"\t\t\tx[i * %d + ch] = ((float)px[i * %d + ch] * %af - mean[ch]) / stdv[ch];\n}\n\n",
		m->input.h, m->input.w, nm->c, nm->c, nm->c, (double)nm->scale);
	const char *last = m->nlayers ? c->var[m->nlayers - 1] : "x";
	fprintf(f, "void %s_forward(const float *x, float *y, float *work)\n{\n%s"
		"\tfor (int i = 0; i < %s_OUTPUTS; i++)\n\t\ty[i] = (%s)[i];\n}\n\n", c->px,
		call.oom ? "" : call.p, c->px, last);
	fprintf(f, "int %s_argmax(const float *y)\n{\n\tint best = 0;\n"
		"\tfor (int i = 1; i < %s_OUTPUTS; i++)\n\t\tif (y[i] > y[best])\n\t\t\tbest = i;\n"
		"\treturn best;\n}\n", c->px, c->px);
	int oom = call.oom;
	dl_buf_release(&call);
	return oom ? dl_fail(c->err, DL_EFAIL, "out of memory") : 0;
}

static int write_header(cctx *c, FILE *f, size_t work, const dl_json *classes)
{
	const dl_model *m = c->s->m;
	const char *px = c->px;
	fprintf(f, "/* Generated by dl-export: model '%s' as plain C (see the .c file). */\n"
		"#ifndef %s_MODEL_H\n#define %s_MODEL_H\n\n", m->name, px, px);
	fprintf(f, "#define %s_IN_H %d\n#define %s_IN_W %d\n#define %s_IN_C %d\n"
		"#define %s_OUTPUTS %d\n/* floats of work memory NAME_forward needs */\n"
		"#define %s_WORK_FLOATS %zu\n\n", px, m->input.h, px, m->input.w, px, m->input.c, px,
		dl_model_output_shape(m).c, px, work ? work : 1);
	fprintf(f, "/* px: IN_H*IN_W*IN_C bytes, row-major HWC -> x: the normalised input */\n"
		"void %s_preprocess(const unsigned char *px, float *x);\n"
		"/* x: IN_H*IN_W*IN_C floats (NHWC, one sample) -> y: OUTPUTS %s */\n"
		"void %s_forward(const float *x, float *y, float *work);\n"
		"/* index of the largest output */\nint %s_argmax(const float *y);\n", px,
		dl_loss_is_regression(&m->loss) ? "regression outputs" : "logits", px, px);
	if (classes) {
		fprintf(f, "\n#define %s_NCLASSES %zu\nstatic const char *const %s_classes[%zu] = {\n",
			px, classes->len, px, classes->len);
		for (size_t i = 0; i < classes->len; i++) {
			fputc('\t', f);
			c_string(f, classes->items[i].type == DL_JSON_STRING ? classes->items[i].str : "");
			fputs(",\n", f);
		}
		fputs("};\n", f);
	}
	fputs("\n#endif\n", f);
	return 0;
}

int ex_write_c(const ex_src *s, const char *out, const char *prefix, dl_err *err)
{
	const dl_model *m = s->m;
	size_t n = strlen(out);
	char *hpath = malloc(n + 1);
	cctx c = { .s = s, .px = prefix, .err = err };
	c.var = calloc((size_t)m->nlayers + 1, sizeof *c.var);
	dl_json *classes = NULL;
	dl_afile fc = { 0 }, fh = { 0 };
	size_t work = 0;
	int rc = hpath && c.var ? 0 : dl_fail(err, DL_EFAIL, "out of memory");
	for (const char *p = prefix; !rc && *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
		      (p > prefix && *p >= '0' && *p <= '9')))
			rc = dl_fail(err, DL_EUSAGE, "--name '%s' is not a C identifier", prefix);
	if (!rc && s->ck->classes_json &&
	    !(rc = dl_json_parse(s->ck->classes_json, strlen(s->ck->classes_json), "dl.classes",
				 &classes, err)) &&
	    classes->type != DL_JSON_ARRAY)
		rc = dl_fail(err, DL_EDATA, "dl.classes is not a JSON array");
	if (!rc) {
		memcpy(hpath, out, n + 1);
		hpath[n - 1] = 'h';
		const char *hbase = strrchr(hpath, '/');
		hbase = hbase ? hbase + 1 : hpath;
		if (!(rc = dl_afile_open(&fc, out, err))) {
			c.f = fc.f;
			rc = write_source(&c, hbase, &work);
		}
		if (!rc && !(rc = dl_afile_open(&fh, hpath, err)))
			rc = write_header(&c, fh.f, work, classes);
		if (!rc && (ferror(fc.f) || ferror(fh.f)))
			rc = dl_fail(err, DL_EIO, "%s: write failed", out);
		if (!rc && !(rc = dl_afile_commit(&fh, err)))
			rc = dl_afile_commit(&fc, err);
		dl_afile_abort(&fc);
		dl_afile_abort(&fh);
	}
	dl_json_free(classes);
	free(c.var);
	free(hpath);
	return rc;
}
