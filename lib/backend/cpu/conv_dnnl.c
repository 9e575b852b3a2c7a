/* Convolutions through oneDNN (libdnnl, built with -DDL_HAVE_DNNL).
 *
 * Activations stay in our NHWC layout (oneDNN's nhwc tag), so no activation
 * is copied.  Weights are ours, OHWI [k,kh,kw,c] (groups: [G][kg][kh][kw][cg],
 * oneDNN's gohwi); oneDNN 2.6 has only its reference kernel for those, so
 * each primitive is created with weights in the layout it picks
 * (format_tag any) and every call reorders: w -> its layout before fwd and
 * bwd_data, its diff_weights -> OHWI scratch after bwd_weights, which is
 * then added into dw (and the bias gradient into db): the contract's +=.
 * A reorder touches k*kh*kw*c floats, small next to the convolution.
 *
 * Primitives are made once per (geometry, op, bias or not) and kept in a
 * small least-recently-used cache in the backend (cpu_impl.dnnl), with the
 * memory objects whose data handles are set per call.
 *
 * Which convolutions go here (cpu_impl.conv_mode, from DL_CONV at open):
 *   im2col  none;
 *   dnnl    every one oneDNN accepts, its reference kernels included (tests);
 *   auto    (default) those with at least CPU_DNNL_MIN_CH input and output
 *           channels per group, the forward pass of those with fewer input
 *           channels (a first layer: c = 1 or 3) but that many outputs, and
 *           depthwise ones with at least that many channels; and only when
 *           oneDNN picks an optimised kernel (not "ref:").  bench/RESULTS.md
 *           has the measurements behind the rule (thin layers' backward
 *           passes are slower on oneDNN).
 * A call that oneDNN refuses or fails returns -1 and conv.c runs im2col.
 *
 * Threads: oneDNN as Debian builds it runs on OpenMP (libgomp).  Before
 * every create and execute the calling thread sets omp_set_num_threads(nt),
 * so oneDNN uses the backend's thread count; our pool's workers sleep on a
 * condition variable meanwhile.  libgomp's idle threads spin for a while
 * after each parallel region unless OMP_WAIT_POLICY=PASSIVE is set in the
 * environment (libgomp reads it at load, so a library cannot set it).
 *
 * Determinism: for a fixed thread count oneDNN's results repeat run to run;
 * across thread counts bwd_weights sums in a different order, so results
 * differ in the last bits (tests that compare thread counts force im2col).
 */
#include "backend/cpu/cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DL_HAVE_DNNL

int cpu_dnnl_available(void)
{
	return 0;
}

void cpu_dnnl_release(cpu_impl *im)
{
	(void)im;
}

int cpu_dnnl_entries(const cpu_impl *im)
{
	(void)im;
	return 0;
}

unsigned long cpu_dnnl_calls(const cpu_impl *im)
{
	(void)im;
	return 0;
}

int cpu_dnnl_conv(dl_backend *be, int op, const dl_conv_geom *g, const float *a,
		  const float *w, const float *b, float *out, float *db)
{
	(void)be, (void)op, (void)g, (void)a, (void)w, (void)b, (void)out, (void)db;
	return -1;
}

#else

#include <oneapi/dnnl/dnnl.h>

void omp_set_num_threads(int n);   /* libgomp, oneDNN's runtime */

#define DNNL_CACHE 64

typedef struct dnnl_entry {
	dl_conv_geom g;
	int op, bias;             /* CPU_DNNL_FWD..; bias (fwd) / db (bwd_w) */
	unsigned long used;       /* last use, for LRU; 0 = empty slot */
	int ok;                   /* 0: oneDNN refused (or auto rejected it) */
	dnnl_primitive_t conv;
	dnnl_primitive_t wreorder;  /* NULL when the layouts are the same */
	dnnl_memory_t act_in, act_out;  /* nhwc: x/dy in, y/dx out (bwd_w: x, dy) */
	dnnl_memory_t w_user, w_prim, bias_m;
	float *w_scratch, *b_scratch;   /* bwd_w: OHWI diff weights, diff bias */
} dnnl_entry;

struct cpu_dnnl {
	dnnl_engine_t eng;
	dnnl_stream_t strm;
	unsigned long clock;
	unsigned long calls;      /* convolutions run here (for tests) */
	dnnl_entry e[DNNL_CACHE];
};

int cpu_dnnl_available(void)
{
	return 1;
}

static void entry_free(dnnl_entry *e)
{
	if (e->conv)
		dnnl_primitive_destroy(e->conv);
	if (e->wreorder)
		dnnl_primitive_destroy(e->wreorder);
	dnnl_memory_t ms[] = { e->act_in, e->act_out, e->w_user, e->w_prim, e->bias_m };
	for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
		if (ms[i])
			dnnl_memory_destroy(ms[i]);
	free(e->w_scratch);
	free(e->b_scratch);
	memset(e, 0, sizeof *e);
}

void cpu_dnnl_release(cpu_impl *im)
{
	struct cpu_dnnl *d = im->dnnl;
	if (!d)
		return;
	for (int i = 0; i < DNNL_CACHE; i++)
		entry_free(&d->e[i]);
	if (d->strm)
		dnnl_stream_destroy(d->strm);
	if (d->eng)
		dnnl_engine_destroy(d->eng);
	free(d);
	im->dnnl = NULL;
}

unsigned long cpu_dnnl_calls(const cpu_impl *im)
{
	return im->dnnl ? im->dnnl->calls : 0;
}

int cpu_dnnl_entries(const cpu_impl *im)
{
	int n = 0;
	for (int i = 0; im->dnnl && i < DNNL_CACHE; i++)
		n += im->dnnl->e[i].used != 0;
	return n;
}

static int groups_of(const dl_conv_geom *g)
{
	return g->groups > 1 ? g->groups : 1;
}

/* The auto rule (see the top of the file). */
static int auto_wants(const dl_conv_geom *g, int op)
{
	int G = groups_of(g);
	if (G > 1 && G == g->c && G == g->k)
		return g->c >= CPU_DNNL_MIN_CH;
	if (g->k / G < CPU_DNNL_MIN_CH)
		return 0;
	return g->c / G >= CPU_DNNL_MIN_CH || op == CPU_DNNL_FWD;
}

#define TRY(call) do { if ((call) != dnnl_success) goto fail; } while (0)

static int mem_nhwc(dnnl_memory_t *m, dnnl_engine_t eng, int n, int c, int h, int w)
{
	dnnl_memory_desc_t md;
	dnnl_dims_t d = { n, c, h, w };
	if (dnnl_memory_desc_init_by_tag(&md, 4, d, dnnl_f32, dnnl_nhwc) != dnnl_success)
		return -1;
	return dnnl_memory_create(m, &md, eng, DNNL_MEMORY_NONE) == dnnl_success ? 0 : -1;
}

/* Builds e for e->g, e->op, e->bias; ok stays 0 if oneDNN (or the auto
 * rule) says no. */
static void entry_build(struct cpu_dnnl *d, dnnl_entry *e, int mode)
{
	const dl_conv_geom *g = &e->g;
	int G = groups_of(g);
	dnnl_memory_desc_t src, wei, bia, dst, wuser;
	dnnl_dims_t sd = { g->n, g->c, g->h, g->w }, dd = { g->n, g->k, g->oh, g->ow };
	dnnl_dims_t wd = { g->k, g->c, g->kh, g->kw };
	dnnl_dims_t gwd = { G, g->k / G, g->c / G, g->kh, g->kw };
	dnnl_dims_t bd = { g->k };
	dnnl_dims_t strides = { g->sh, g->sw };
	dnnl_dims_t dil = { (g->dh > 1 ? g->dh : 1) - 1, (g->dw > 1 ? g->dw : 1) - 1 };
	dnnl_dims_t pl = { g->pt, g->pl }, pr = { g->pb, g->pr };
	dnnl_primitive_desc_t fpd = NULL, pd = NULL, rpd = NULL;
	dnnl_convolution_desc_t fdesc, cdesc;
	TRY(dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, dnnl_nhwc));
	TRY(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_nhwc));
	TRY(dnnl_memory_desc_init_by_tag(&bia, 1, bd, dnnl_f32, dnnl_x));
	if (G > 1) {
		TRY(dnnl_memory_desc_init_by_tag(&wei, 5, gwd, dnnl_f32, dnnl_format_tag_any));
		TRY(dnnl_memory_desc_init_by_tag(&wuser, 5, gwd, dnnl_f32, dnnl_gohwi));
	} else {
		TRY(dnnl_memory_desc_init_by_tag(&wei, 4, wd, dnnl_f32, dnnl_format_tag_any));
		TRY(dnnl_memory_desc_init_by_tag(&wuser, 4, wd, dnnl_f32, dnnl_ohwi));
	}
	int fbias = e->op == CPU_DNNL_FWD ? e->bias : 1;
	TRY(dnnl_dilated_convolution_forward_desc_init(&fdesc, dnnl_forward_training,
						       dnnl_convolution_direct, &src, &wei,
						       fbias ? &bia : NULL, &dst, strides, dil, pl, pr));
	TRY(dnnl_primitive_desc_create(&fpd, &fdesc, NULL, d->eng, NULL));
	if (e->op == CPU_DNNL_FWD) {
		pd = fpd;
		fpd = NULL;
	} else if (e->op == CPU_DNNL_BWD_DATA) {
		TRY(dnnl_dilated_convolution_backward_data_desc_init(
			&cdesc, dnnl_convolution_direct, &src, &wei, &dst, strides, dil, pl, pr));
		TRY(dnnl_primitive_desc_create(&pd, &cdesc, NULL, d->eng, fpd));
	} else {
		TRY(dnnl_dilated_convolution_backward_weights_desc_init(
			&cdesc, dnnl_convolution_direct, &src, &wei, e->bias ? &bia : NULL, &dst,
			strides, dil, pl, pr));
		TRY(dnnl_primitive_desc_create(&pd, &cdesc, NULL, d->eng, fpd));
	}
	const char *impl = NULL;
	TRY(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
	if (mode == CPU_CONV_AUTO && (!impl || !strncmp(impl, "ref", 3)))
		goto fail;
	TRY(dnnl_primitive_create(&e->conv, pd));
	int bw = e->op == CPU_DNNL_BWD_W;
	const dnnl_memory_desc_t *wprim =
		dnnl_primitive_desc_query_md(pd, bw ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0);
	if (!wprim)
		goto fail;
	TRY(dnnl_memory_create(&e->w_user, &wuser, d->eng, DNNL_MEMORY_NONE));
	if (!dnnl_memory_desc_equal(wprim, &wuser)) {
		TRY(dnnl_memory_create(&e->w_prim, wprim, d->eng, DNNL_MEMORY_ALLOCATE));
		if (bw)
			TRY(dnnl_reorder_primitive_desc_create(&rpd, wprim, d->eng, &wuser, d->eng, NULL));
		else
			TRY(dnnl_reorder_primitive_desc_create(&rpd, &wuser, d->eng, wprim, d->eng, NULL));
		TRY(dnnl_primitive_create(&e->wreorder, rpd));
	}
	int in_c = e->op == CPU_DNNL_BWD_DATA ? g->k : g->c;
	int in_h = e->op == CPU_DNNL_BWD_DATA ? g->oh : g->h;
	int in_w = e->op == CPU_DNNL_BWD_DATA ? g->ow : g->w;
	int out_c = e->op == CPU_DNNL_BWD_DATA ? g->c : g->k;
	int out_h = e->op == CPU_DNNL_BWD_DATA ? g->h : g->oh;
	int out_w = e->op == CPU_DNNL_BWD_DATA ? g->w : g->ow;
	if (mem_nhwc(&e->act_in, d->eng, g->n, in_c, in_h, in_w) ||
	    mem_nhwc(&e->act_out, d->eng, g->n, out_c, out_h, out_w))
		goto fail;
	if (e->bias)
		TRY(dnnl_memory_create(&e->bias_m, &bia, d->eng, DNNL_MEMORY_NONE));
	if (bw) {
		size_t nw = (size_t)g->k * g->kh * g->kw * (g->c / G);
		e->w_scratch = cpu_aligned_alloc(nw * sizeof(float));
		e->b_scratch = cpu_aligned_alloc((size_t)g->k * sizeof(float));
		if (!e->w_scratch || !e->b_scratch)
			goto fail;
	}
	e->ok = 1;
	goto done;
fail:
	{
		/* keep the key, drop the rest: this geometry stays on im2col */
		dl_conv_geom key = e->g;
		int op = e->op, bias = e->bias;
		unsigned long used = e->used;
		entry_free(e);
		e->g = key, e->op = op, e->bias = bias, e->used = used;
	}
done:
	if (rpd)
		dnnl_primitive_desc_destroy(rpd);
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (fpd)
		dnnl_primitive_desc_destroy(fpd);
}

/* The cache entry for (g, op, bias), built on first use; NULL if this
 * convolution does not go to oneDNN. */
static dnnl_entry *entry_get(cpu_impl *im, int op, const dl_conv_geom *g, int bias)
{
	if (im->conv_mode == CPU_CONV_IM2COL)
		return NULL;
	if (im->conv_mode == CPU_CONV_AUTO && !auto_wants(g, op))
		return NULL;
	struct cpu_dnnl *d = im->dnnl;
	if (!d) {
		d = calloc(1, sizeof *d);
		if (!d)
			return NULL;
		if (dnnl_engine_create(&d->eng, dnnl_cpu, 0) != dnnl_success ||
		    dnnl_stream_create(&d->strm, d->eng, dnnl_stream_default_flags) != dnnl_success) {
			im->dnnl = d;
			cpu_dnnl_release(im);
			im->conv_mode = CPU_CONV_IM2COL;   /* no oneDNN engine: never again */
			return NULL;
		}
		im->dnnl = d;
	}
	d->clock++;
	dnnl_entry *e = NULL, *lru = &d->e[0];
	for (int i = 0; i < DNNL_CACHE; i++) {
		dnnl_entry *c = &d->e[i];
		if (c->used && c->op == op && c->bias == bias && !memcmp(&c->g, g, sizeof *g)) {
			e = c;
			break;
		}
		if (c->used < lru->used)
			lru = c;
	}
	if (!e) {
		e = lru;
		entry_free(e);
		e->g = *g;
		e->op = op;
		e->bias = bias;
		e->used = d->clock;
		entry_build(d, e, im->conv_mode);
	}
	e->used = d->clock;
	return e->ok ? e : NULL;
}

static int exec(struct cpu_dnnl *d, dnnl_primitive_t p, int n, const dnnl_exec_arg_t *a)
{
	if (dnnl_primitive_execute(p, d->strm, n, a) != dnnl_success)
		return -1;
	return dnnl_stream_wait(d->strm) == dnnl_success ? 0 : -1;
}

static int set(dnnl_memory_t m, const void *p)
{
	return dnnl_memory_set_data_handle(m, (void *)p) == dnnl_success ? 0 : -1;
}

int cpu_dnnl_conv(dl_backend *be, int op, const dl_conv_geom *g, const float *a,
		  const float *w, const float *b, float *out, float *db)
{
	cpu_impl *im = cpu_of(be);
	int bias = op == CPU_DNNL_FWD ? b != NULL : op == CPU_DNNL_BWD_W ? db != NULL : 0;
	if (im->conv_mode == CPU_CONV_IM2COL)
		return -1;
	omp_set_num_threads(im->nt);
	dnnl_entry *e = entry_get(im, op, g, bias);
	if (!e)
		return -1;
	struct cpu_dnnl *d = im->dnnl;
	dnnl_memory_t wconv = e->w_prim ? e->w_prim : e->w_user;
	dnnl_exec_arg_t args[5];
	int na = 0;
	if (op == CPU_DNNL_BWD_W) {
		/* a = x, w = dy, out = dw (+=), db (+=) */
		if (set(e->act_in, a) || set(e->act_out, w) || set(e->w_user, e->w_scratch))
			return -1;
		if (bias && set(e->bias_m, e->b_scratch))
			return -1;
		args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, e->act_in };
		args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_DIFF_DST, e->act_out };
		args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_DIFF_WEIGHTS, wconv };
		if (bias)
			args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_DIFF_BIAS, e->bias_m };
		if (exec(d, e->conv, na, args))
			return -1;
		if (e->wreorder) {
			dnnl_exec_arg_t ra[2] = { { DNNL_ARG_FROM, e->w_prim },
						  { DNNL_ARG_TO, e->w_user } };
			if (exec(d, e->wreorder, 2, ra))
				return -1;
		}
		size_t nw = (size_t)g->k * g->kh * g->kw * (g->c / groups_of(g));
		for (size_t i = 0; i < nw; i++)
			out[i] += e->w_scratch[i];
		for (int i = 0; bias && i < g->k; i++)
			db[i] += e->b_scratch[i];
		d->calls++;
		return 0;
	}
	if (set(e->act_in, a) || set(e->act_out, out) || set(e->w_user, w))
		return -1;
	if (e->wreorder) {
		dnnl_exec_arg_t ra[2] = { { DNNL_ARG_FROM, e->w_user }, { DNNL_ARG_TO, e->w_prim } };
		if (exec(d, e->wreorder, 2, ra))
			return -1;
	}
	if (op == CPU_DNNL_FWD) {
		args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, e->act_in };
		args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS, wconv };
		args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_DST, e->act_out };
		if (bias) {
			if (set(e->bias_m, b))
				return -1;
			args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_BIAS, e->bias_m };
		}
	} else {
		args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_DIFF_DST, e->act_in };
		args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS, wconv };
		args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_DIFF_SRC, e->act_out };
	}
	if (exec(d, e->conv, na, args))
		return -1;
	d->calls++;
	return 0;
}

#endif
