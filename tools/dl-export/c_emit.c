/* --format c: one self-contained C11 source and header for embedding.
 *
 * The source holds the weights (our NHWC layouts, hex float literals, so
 * every bit survives), one small kernel per layer kind used, and
 *   void NAME_preprocess(const unsigned char *px, float *x);  u8 HWC -> input
 *   void NAME_forward(const float *x, float *y, float *work);  one sample
 *   int NAME_argmax(const float *y);
 * Work memory: NAME_WORK_FLOATS floats from the caller (no globals written,
 * so calls on different work buffers may run in parallel).  One table entry
 * per layer kind (`kinds`): its kernel text and the call it emits; an
 * unknown kind is refused. */
#include "export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/afile.h"
#include "core/json.h"

typedef struct cctx {
	const ex_src *s;
	FILE *f;
	const char *px;          /* symbol prefix */
	char (*var)[32];         /* C expression for layer i's output */
	dl_err *err;
} cctx;

static const char k_conv2d[] =
	"/* y [oh, ow, k] = conv(x [h, w, c], wt [k, kh, kw, c/groups]) + b */\n"
	"static void dlx_conv2d(const float *x, int h, int w, int c, const float *wt,\n"
	"\tconst float *b, int k, int kh, int kw, int s, int p, int d, int groups, float *y,\n"
	"\tint oh, int ow)\n{\n"
	"\tint cg = c / groups, kg = k / groups;\n"
	"\tfor (int oy = 0; oy < oh; oy++)\n"
	"\t\tfor (int ox = 0; ox < ow; ox++)\n"
	"\t\t\tfor (int o = 0; o < k; o++) {\n"
	"\t\t\t\tint g = o / kg;\n"
	"\t\t\t\tfloat acc = b ? b[o] : 0.0f;\n"
	"\t\t\t\tfor (int ky = 0; ky < kh; ky++) {\n"
	"\t\t\t\t\tint iy = oy * s - p + ky * d;\n"
	"\t\t\t\t\tif (iy < 0 || iy >= h)\n\t\t\t\t\t\tcontinue;\n"
	"\t\t\t\t\tfor (int kx = 0; kx < kw; kx++) {\n"
	"\t\t\t\t\t\tint ix = ox * s - p + kx * d;\n"
	"\t\t\t\t\t\tif (ix < 0 || ix >= w)\n\t\t\t\t\t\t\tcontinue;\n"
	"\t\t\t\t\t\tconst float *xp = x + ((size_t)iy * w + ix) * c + (size_t)g * cg;\n"
	"\t\t\t\t\t\tconst float *wp = wt + (((size_t)o * kh + ky) * kw + kx) * cg;\n"
	"\t\t\t\t\t\tfor (int ci = 0; ci < cg; ci++)\n"
	"\t\t\t\t\t\t\tacc += xp[ci] * wp[ci];\n"
	"\t\t\t\t\t}\n\t\t\t\t}\n"
	"\t\t\t\ty[((size_t)oy * ow + ox) * k + o] = acc;\n"
	"\t\t\t}\n}\n\n";

static const char k_dense[] =
	"/* y [out] = wt [out, in] x [in] + b */\n"
	"static void dlx_dense(const float *x, int in, const float *wt, const float *b, int out,\n"
	"\tfloat *y)\n{\n"
	"\tfor (int o = 0; o < out; o++) {\n"
	"\t\tconst float *wp = wt + (size_t)o * in;\n"
	"\t\tfloat acc = 0.0f;\n"
	"\t\tfor (int i = 0; i < in; i++)\n\t\t\tacc += wp[i] * x[i];\n"
	"\t\ty[o] = acc + (b ? b[o] : 0.0f);\n"
	"\t}\n}\n\n";

static const char k_maxpool[] =
	"/* y [oh, ow, c] = max over size x size windows of x [h, w, c], p cells of\n"
	" * padding on every side that never win */\n"
	"static void dlx_maxpool(const float *x, int h, int w, int c, int size, int s, int p,\n"
	"\tfloat *y, int oh, int ow)\n{\n"
	"\tfor (int oy = 0; oy < oh; oy++)\n"
	"\t\tfor (int ox = 0; ox < ow; ox++)\n"
	"\t\t\tfor (int ch = 0; ch < c; ch++) {\n"
	"\t\t\t\tfloat m = 0.0f;\n\t\t\t\tint any = 0;\n"
	"\t\t\t\tfor (int ky = 0; ky < size; ky++)\n"
	"\t\t\t\t\tfor (int kx = 0; kx < size; kx++) {\n"
	"\t\t\t\t\t\tint iy = oy * s - p + ky, ix = ox * s - p + kx;\n"
	"\t\t\t\t\t\tif (iy < 0 || iy >= h || ix < 0 || ix >= w)\n\t\t\t\t\t\t\tcontinue;\n"
	"\t\t\t\t\t\tfloat v = x[((size_t)iy * w + ix) * c + ch];\n"
	"\t\t\t\t\t\tif (!any || v > m)\n\t\t\t\t\t\t\tm = v;\n"
	"\t\t\t\t\t\tany = 1;\n"
	"\t\t\t\t\t}\n"
	"\t\t\t\ty[((size_t)oy * ow + ox) * c + ch] = m;\n"
	"\t\t\t}\n}\n\n";

static const char k_relu[] =
	"static void dlx_relu(const float *x, size_t n, float *y)\n{\n"
	"\tfor (size_t i = 0; i < n; i++)\n\t\ty[i] = x[i] > 0.0f ? x[i] : 0.0f;\n}\n\n";

/* ---- weights ---------------------------------------------------------- */

static void floats(FILE *f, const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%a,%s", (double)v[i], i % 8 == 7 || i + 1 == n ? "\n" : " ");
}

/* Emits layer l's parameter `name` as NAME_l<i>_<name>; writes its symbol
 * (or "0" when absent) into sym. */
static void weight(cctx *c, const dl_layer *l, const char *name, char *sym, size_t n)
{
	const dl_param *p;
	const float *v = ex_param(c->s, l, name, &p);
	if (!v) {
		snprintf(sym, n, "0");
		return;
	}
	snprintf(sym, n, "%s_l%d_%s", c->px, l->index, name);
	fprintf(c->f, "static const float %s[%zu] = {\n", sym, p->count);
	floats(c->f, v, p->count);
	fputs("};\n\n", c->f);
}

static const char *in_var(const cctx *c, const dl_layer *l, int j)
{
	return l->in_from[j] < 0 ? "x" : c->var[l->in_from[j]];
}

/* ---- emitters: each writes its weights now and returns its call ------- */

static int e_conv2d(cctx *c, const dl_layer *l, dl_buf *call)
{
	ex_conv g;
	char w[64], b[64];
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
	char w[64], b[64];
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

static int e_relu(cctx *c, const dl_layer *l, dl_buf *call)
{
	dl_buf_printf(call, "\tdlx_relu(%s, %zu, %s);\n", in_var(c, l, 0), dl_shape_size(l->out),
		      c->var[l->index]);
	return 0;
}

static int e_alias(cctx *c, const dl_layer *l, dl_buf *call)
{
	(void)c, (void)l, (void)call;   /* flatten: same memory, NHWC order kept */
	return 0;
}

static const struct {
	const char *kind;
	int (*emit)(cctx *c, const dl_layer *l, dl_buf *call);
	const char *kernel;     /* emitted once if any layer uses the kind */
} kinds[] = {
	{ "conv2d", e_conv2d, k_conv2d },
	{ "dense", e_dense, k_dense },
	{ "maxpool", e_maxpool, k_maxpool },
	{ "relu", e_relu, k_relu },
	{ "flatten", e_alias, NULL },
};
#define NKINDS (int)(sizeof kinds / sizeof kinds[0])

static int kind_of(const dl_layer *l)
{
	for (int k = 0; k < NKINDS; k++)
		if (!strcmp(kinds[k].kind, l->kind->name))
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

static int write_source(cctx *c, const char *hname, size_t *work)
{
	const dl_model *m = c->s->m;
	const dl_norm *nm = &c->s->ck->norm;
	FILE *f = c->f;
	int used[16] = { 0 };
	for (int i = 0; i < m->nlayers; i++) {
		int k = kind_of(&m->layers[i]);
		if (k < 0)
			return dl_fail(c->err, DL_EDATA, "layer %d: no C export for layer kind '%s' yet",
				       i, m->layers[i].kind->name);
		used[k] = 1;
	}
	fprintf(f, "/* Generated by dl-export from model '%s' (dl-tools %s).  Plain C11 + libm.\n"
		" * Layout NHWC; weights in dl-tools' own layouts.  See %s. */\n"
		"#include \"%s\"\n\n#include <stddef.h>\n#include <string.h>\n\n",
		m->name, DL_VERSION, hname, hname);
	for (int k = 0; k < NKINDS; k++)
		if (used[k] && kinds[k].kernel)
			fputs(kinds[k].kernel, f);
	/* layer outputs: each its own slice of work (graph inputs stay valid) */
	dl_buf call;
	dl_buf_init(&call);
	*work = 0;
	for (int i = 0; i < m->nlayers; i++) {
		const dl_layer *l = &m->layers[i];
		if (l->kind->alias) {
			snprintf(c->var[i], sizeof c->var[i], "%s", in_var(c, l, 0));
		} else {
			snprintf(c->var[i], sizeof c->var[i], "(work + %zu)", *work);
			*work += dl_shape_size(l->out);
		}
		int rc = kinds[kind_of(l)].emit(c, l, &call);
		if (rc) {
			dl_buf_release(&call);
			return rc;
		}
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
		"\tmemcpy(y, %s, sizeof(float) * %s_OUTPUTS);\n}\n\n", c->px, call.oom ? "" : call.p,
		last, c->px);
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
