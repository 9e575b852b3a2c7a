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
 * Winograd (cpu_impl.conv_wino: auto by default, DL_WINO=0 turns it off):
 * 3x3 stride-1 convolutions with padding 1, channels in and out multiples
 * of 16 and at least CPU_WINO_MIN_CH, maps of 4x4 and more, run on oneDNN's
 * fp32 jit_wino_4x3, F(4x4, 3x3), all three passes.  It reads and writes
 * only oneDNN's blocked nChw16c, so the activations are reordered into the
 * backend's shared buffers and the result back into our NHWC; with those
 * reorders it took 0.27-0.77x the direct fp32 kernel's time on vgg16's and
 * resnet18's 3x3 layers of 4x4 and more (make bench-conv, bench/RESULTS.md).
 * In bf16 (--precision bf16) it also beat the bf16 kernels on layers of
 * 256 channels or more on maps of 4x4 to 16x16 (CPU_WINO_MIN_CH_BF16),
 * which then run it in fp32: more exact than bf16, and faster.  Its error
 * is bounded like the direct kernel's (about 1e-6 of sum |x||w| measured);
 * the tests hold it to the im2col reference.  DL_CONV=dnnl runs the direct
 * kernels only; a geometry oneDNN has no Winograd kernel for runs direct.
 *
 * Threads: oneDNN as Debian builds it runs on OpenMP (libgomp).  Before
 * every create and execute the calling thread sets omp_set_num_threads(nt),
 * so oneDNN uses the backend's thread count; our pool's workers sleep on a
 * condition variable meanwhile.  libgomp's idle threads spin for a while
 * after each parallel region unless OMP_WAIT_POLICY=PASSIVE is set in the
 * environment (libgomp reads it at load, so a library cannot set it).
 *
 * bf16 (cpu_impl.bf16, --precision bf16): every convolution oneDNN has an
 * optimised bf16 kernel for runs with bf16 inputs and fp32 outputs: x, dy
 * and w are rounded to bf16 (nearest even) by oneDNN reorders into the
 * backend's shared bf16 buffers, the products accumulate in fp32, and y, dx,
 * dw and db come out in fp32, so everything around the convolution (bias,
 * batch norm, losses, the optimizer and its fp32 master weights) stays fp32.
 * A geometry with no bf16 kernel (oneDNN offers only "ref") runs in fp32 on
 * im2col, as before.  cpu_dnnl_bf16_support() checks cpuid and the ISA
 * oneDNN will use (DNNL_MAX_CPU_ISA can lower it).
 *
 * Determinism: for a fixed thread count oneDNN's results repeat run to run;
 * across thread counts bwd_weights sums in a different order, so results
 * differ in the last bits (tests that compare thread counts force im2col).
 */
#include "backend/cpu/cpu.h"
#include "backend/cpu/conv_dnnl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DL_HAVE_DNNL

int cpu_dnnl_available(void)
{
	return 0;
}

int cpu_dnnl_bf16_support(char *why, size_t n)
{
	snprintf(why, n, "built without oneDNN (make DNNL=1)");
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

unsigned long cpu_dnnl_wino_calls(const cpu_impl *im)
{
	(void)im;
	return 0;
}

int cpu_dnnl_wino_rule(const dl_conv_geom *g, int bf16)
{
	(void)g, (void)bf16;
	return 0;
}

int cpu_dnnl_conv(dl_backend *be, int op, const dl_conv_geom *g, const float *a,
		  const float *w, const float *b, float *out, float *db)
{
	(void)be, (void)op, (void)g, (void)a, (void)w, (void)b, (void)out, (void)db;
	return -1;
}

int cpu_dnnl_conv_pair(dl_backend *be, int op, const dl_conv_geom *g, const float *a,
		       const float *w, const float *b, float *out, float *db, void *saved)
{
	(void)be, (void)op, (void)g, (void)a, (void)w, (void)b, (void)out, (void)db, (void)saved;
	return -1;
}

size_t cpu_dnnl_saved_bytes(dl_backend *be, const dl_conv_geom *g, int bias)
{
	(void)be, (void)g, (void)bias;
	return 0;
}

void cpu_dnnl_saved_clear(void *saved)
{
	(void)saved;
}

unsigned long cpu_dnnl_reused(const cpu_impl *im)
{
	(void)im;
	return 0;
}

#else

/* The training pair's `saved` (ops.h): at its first 64-byte boundary this
 * header, then (at the next) x converted as the forward's kernel read it.
 * x NULL: nothing kept. */
typedef struct saved_hdr {
	const float *x;
	dl_conv_geom g;
	dnnl_memory_desc_t md;
} saved_hdr;
#define SAVED_HDR_BYTES ((sizeof(saved_hdr) + 63) / 64 * 64)

static saved_hdr *saved_at(void *saved)
{
	return (saved_hdr *)(((uintptr_t)saved + 63) / 64 * 64);
}

static void *saved_data(saved_hdr *h)
{
	return (unsigned char *)h + SAVED_HDR_BYTES;
}

int cpu_dnnl_available(void)
{
	return 1;
}

int cpu_dnnl_bf16_support(char *why, size_t n)
{
	unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
	unsigned want = (unsigned)dnnl_cpu_isa_avx512_core_bf16;
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx512bf16")) {
		snprintf(why, n, "this CPU has no AVX512-BF16 instructions (cpuid)");
		return 0;
	}
	if ((isa & want) != want) {
		snprintf(why, n, "oneDNN's CPU ISA 0x%x has no bf16 kernels (DNNL_MAX_CPU_ISA?)", isa);
		return 0;
	}
	return 1;
}


void cpu_dnnl_release(cpu_impl *im)
{
	struct cpu_dnnl *d = im->dnnl;
	if (!d)
		return;
	for (int i = 0; i < DNNL_CACHE; i++)
		cpu_dnnl_entry_free(&d->e[i]);
	cpu_dnnl_ctx_release(&d->cx);
	free(d);
	im->dnnl = NULL;
}

unsigned long cpu_dnnl_calls(const cpu_impl *im)
{
	return im->dnnl ? im->dnnl->calls : 0;
}

unsigned long cpu_dnnl_wino_calls(const cpu_impl *im)
{
	return im->dnnl ? im->dnnl->wino_calls : 0;
}

unsigned long cpu_dnnl_reused(const cpu_impl *im)
{
	return im->dnnl ? im->dnnl->reused : 0;
}

int cpu_dnnl_entries(const cpu_impl *im)
{
	int n = 0;
	for (int i = 0; im->dnnl && i < DNNL_CACHE; i++)
		n += im->dnnl->e[i].used != 0;
	return n;
}


/* The auto rule (see the top of the file). */
static int auto_wants(const dl_conv_geom *g, int op)
{
	int G = cpu_dnnl_groups(g);
	if (G > 1 && G == g->c && G == g->k)
		return g->c >= CPU_DNNL_MIN_CH;
	if (g->k / G < CPU_DNNL_MIN_CH)
		return 0;
	return g->c / G >= CPU_DNNL_MIN_CH || op == CPU_DNNL_FWD;
}

/* 3x3, stride 1, padding 1, no dilation or groups: what F(4x4, 3x3) takes */
static int wino_shape(const dl_conv_geom *g)
{
	return cpu_dnnl_groups(g) == 1 && g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 &&
	       g->dh <= 1 && g->dw <= 1 && g->pt == 1 && g->pb == 1 && g->pl == 1 && g->pr == 1;
}

int cpu_dnnl_wino_rule(const dl_conv_geom *g, int bf16)
{
	int ch = bf16 ? CPU_WINO_MIN_CH_BF16 : CPU_WINO_MIN_CH;
	return wino_shape(g) && g->c >= ch && g->k >= ch && g->c % 16 == 0 && g->k % 16 == 0 &&
	       g->oh >= 4 && g->ow >= 4 && (!bf16 || (long)g->oh * g->ow <= 256);
}

/* Winograd for this call (see the top of the file) */
static int wino_wants(const cpu_impl *im, const dl_conv_geom *g)
{
	if (im->conv_wino == 0)
		return 0;
	if (im->conv_wino == 1)
		return wino_shape(g);
	return im->conv_mode == CPU_CONV_AUTO && cpu_dnnl_wino_rule(g, im->bf16);
}

static int entry_same(const void *slot, const void *key)
{
	const dnnl_entry *a = slot, *b = key;
	return a->op == b->op && a->bias == b->bias && a->wino == b->wino && a->ho == b->ho &&
	       !memcmp(&a->g, &b->g, sizeof a->g);
}

/* The cache entry for (g, op, bias, ho: a bf16 y or dx), built on first
 * use; NULL if this convolution does not go to oneDNN. */
static dnnl_entry *entry_get(cpu_impl *im, int op, const dl_conv_geom *g, int bias, int ho)
{
	if (im->conv_mode == CPU_CONV_IM2COL)
		return NULL;
	if (im->conv_mode == CPU_CONV_AUTO && !im->bf16 && !auto_wants(g, op))
		return NULL;
	struct cpu_dnnl *d = im->dnnl;
	if (!d) {
		d = calloc(1, sizeof *d);
		if (!d)
			return NULL;
		if (cpu_dnnl_ctx_init(&d->cx)) {
			im->dnnl = d;
			cpu_dnnl_release(im);
			im->conv_mode = CPU_CONV_IM2COL;   /* no oneDNN engine: never again */
			return NULL;
		}
		im->dnnl = d;
	}
	/* Winograd first where the rule wants it; a refusal is kept (not ok)
	 * under its key, and the direct kernel's entry is looked up next */
	for (int wino = ho ? 0 : wino_wants(im, g); wino >= 0; wino--) {
		dnnl_entry key = { .g = *g, .op = op, .bias = bias, .wino = wino, .ho = ho };
		int hit;
		dnnl_entry *e = cpu_dnnl_lookup(&d->cx, d->e, DNNL_CACHE, sizeof *e, entry_same, &key,
						&hit);
		if (!hit) {
			cpu_dnnl_entry_free(e);
			e->g = *g;
			e->op = op;
			e->bias = bias;
			e->wino = wino;
			e->ho = ho;
			e->used = d->cx.clock;
			cpu_dnnl_entry_build(d, e, im->conv_mode, im->bf16 && !wino);
		}
		e->used = d->cx.clock;
		if (e->ok)
			return e;
	}
	return NULL;
}

static int set(dnnl_memory_t m, const void *p)
{
	return dnnl_memory_set_data_handle(m, (void *)p) == dnnl_success ? 0 : -1;
}

/* Points `to` at the training pair's saved conversion of x when the
 * header says it is x's, in to's layout: 1, else 0. */
static int saved_use(struct cpu_dnnl *d, void *saved, const dl_conv_geom *g, const float *x,
		     dnnl_memory_t to)
{
	const dnnl_memory_desc_t *md;
	if (!saved || dnnl_memory_get_memory_desc(to, &md) != dnnl_success)
		return 0;
	saved_hdr *h = saved_at(saved);
	if (h->x != x || memcmp(&h->g, g, sizeof *g) || !dnnl_memory_desc_equal(&h->md, md) ||
	    set(to, saved_data(h)))
		return 0;
	d->reused++;
	return 1;
}

/* Converts x with the entry's in_cvt into the training pair's saved (not
 * a shared buffer) and writes the header: 0, or -1. */
static int saved_fill(struct cpu_dnnl *d, dnnl_entry *e, void *saved, const float *x)
{
	const dnnl_memory_desc_t *md;
	saved_hdr *h = saved_at(saved);
	h->x = NULL;
	if (dnnl_memory_get_memory_desc(e->act_in, &md) != dnnl_success ||
	    set(e->act_in, saved_data(h)) || set(e->in_f32, x))
		return -1;
	dnnl_exec_arg_t ra[2] = { { DNNL_ARG_FROM, e->in_f32 }, { DNNL_ARG_TO, e->act_in } };
	if (cpu_dnnl_exec(&d->cx, e->in_cvt, 2, ra))
		return -1;
	h->md = *md;
	h->g = e->g;
	h->x = x;
	return 0;
}

size_t cpu_dnnl_saved_bytes(dl_backend *be, const dl_conv_geom *g, int bias)
{
	cpu_impl *im = cpu_of(be);
	if (im->conv_mode == CPU_CONV_IM2COL)
		return 0;
	omp_set_num_threads(im->nt);
	dnnl_entry *e = entry_get(im, CPU_DNNL_FWD, g, bias, 0);
	const dnnl_memory_desc_t *md;
	if (!e || !e->in_cvt || dnnl_memory_get_memory_desc(e->act_in, &md) != dnnl_success)
		return 0;
	/* room to align the header and the data to 64 bytes */
	return 64 + SAVED_HDR_BYTES + dnnl_memory_desc_get_size(md);
}

void cpu_dnnl_saved_clear(void *saved)
{
	if (saved)
		saved_at(saved)->x = NULL;
}

/* The direct bf16 kernels read and write bf16 NHWC, which the link hands
 * them as it is; Winograd's blocked fp32 does not take it. */
static int link_entry(const cpu_impl *im, const dnnl_entry *e)
{
	return e && im->bf16 && !e->wino && e->in_cvt;
}

int cpu_dnnl_link_ok(dl_backend *be, const dl_conv_geom *g, int bias)
{
	cpu_impl *im = cpu_of(be);
	if (!im->bf16 || im->conv_mode == CPU_CONV_IM2COL || wino_wants(im, g))
		return 0;
	omp_set_num_threads(im->nt);
	return link_entry(im, entry_get(im, CPU_DNNL_FWD, g, bias, 1)) &&
	       link_entry(im, entry_get(im, CPU_DNNL_BWD_W, g, bias, 0));
}

int cpu_dnnl_conv(dl_backend *be, int op, const dl_conv_geom *g, const float *a,
		  const float *w, const float *b, float *out, float *db)
{
	return cpu_dnnl_conv_pair(be, op, g, a, w, b, out, db, NULL);
}

int cpu_dnnl_conv_pair(dl_backend *be, int op, const dl_conv_geom *g, const float *a,
		       const float *w, const float *b, float *out, float *db, void *saved)
{
	cpu_impl *im = cpu_of(be);
	int pair = op & CPU_DNNL_PAIR, lx = (op & CPU_DNNL_LX) != 0, ly = (op & CPU_DNNL_LY) != 0;
	int h = lx || ly;
	op &= ~(CPU_DNNL_PAIR | CPU_DNNL_LX | CPU_DNNL_LY);
	int bias = op == CPU_DNNL_FWD ? b != NULL : op == CPU_DNNL_BWD_W ? db != NULL : 0;
	if (im->conv_mode == CPU_CONV_IM2COL || (h && (!im->bf16 || wino_wants(im, g))))
		return -1;
	/* the link's bf16 tensors: the op's input as it is (FWD: x, BWD_DATA:
	 * dy), its result in bf16 (y, dx); BWD_W reads x and dy */
	int in_h = op == CPU_DNNL_FWD ? lx : ly, out_h = op == CPU_DNNL_FWD ? ly : lx;
	omp_set_num_threads(im->nt);
	dnnl_entry *e = entry_get(im, op, g, bias, op != CPU_DNNL_BWD_W && out_h);
	struct cpu_dnnl *d = im->dnnl;
	/* the dy a pair's bwd_weights kept is for its bwd_data only */
	const float *kept = d && pair && op == CPU_DNNL_BWD_DATA ? d->kept_dy : NULL;
	if (d)
		d->kept_dy = NULL;
	if (!e || (h && !link_entry(im, e)))
		return -1;
	dnnl_memory_t wconv = e->w_prim ? e->w_prim : e->w_user;
	dnnl_exec_arg_t args[5];
	int na = 0;
	if (op == CPU_DNNL_BWD_W) {
		/* a = x (bf16 already: lx), w = dy (ly), out = dw (+=), db (+=);
		 * a bf16 failure: im2col */
		if (e->in_cvt ? (lx ? set(e->act_in, a)
				    : !saved_use(d, saved, g, a, e->act_in) &&
					      cpu_dnnl_convert(&d->cx, 0, e->in_cvt, e->in_f32,
							       e->act_in, a)) ||
				(ly ? set(e->act_out, w)
				    : cpu_dnnl_convert(&d->cx, 1, e->out_cvt, e->out_f32, e->act_out, w))
			      : set(e->act_in, a) || set(e->act_out, w))
			return -1;
		if (set(e->w_user, e->w_scratch))
			return -1;
		if (bias && set(e->bias_m, e->b_scratch))
			return -1;
		args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, e->act_in };
		args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_DIFF_DST, e->act_out };
		args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_DIFF_WEIGHTS, wconv };
		if (bias)
			args[na++] = (dnnl_exec_arg_t){ DNNL_ARG_DIFF_BIAS, e->bias_m };
		if (cpu_dnnl_exec(&d->cx, e->conv, na, args))
			return -1;
		if (e->wreorder) {
			dnnl_exec_arg_t ra[2] = { { DNNL_ARG_FROM, e->w_prim },
						  { DNNL_ARG_TO, e->w_user } };
			if (cpu_dnnl_exec(&d->cx, e->wreorder, 2, ra))
				return -1;
		}
		size_t nw = (size_t)g->k * g->kh * g->kw * (g->c / cpu_dnnl_groups(g));
		for (size_t i = 0; i < nw; i++)
			out[i] += e->w_scratch[i];
		for (int i = 0; bias && i < g->k; i++)
			db[i] += e->b_scratch[i];
		const dnnl_memory_desc_t *md;
		if (pair && !ly && e->out_cvt &&
		    dnnl_memory_get_memory_desc(e->act_out, &md) == dnnl_success) {
			d->kept_dy = w;
			d->kept_md = *md;
		}
		d->calls++;
		if (e->wino)
			d->wino_calls++;
		return 0;
	}
	/* bwd_data after its pair's bwd_weights: dy may be converted already
	 * (in buffer 1), and then a Winograd result goes to buffer 0 */
	int in_slot = 0;
	if (kept == a && e->in_cvt) {
		const dnnl_memory_desc_t *md;
		if (dnnl_memory_get_memory_desc(e->act_in, &md) == dnnl_success &&
		    dnnl_memory_desc_equal(md, &d->kept_md) && !cpu_dnnl_slot(&d->cx, 1, e->act_in)) {
			in_slot = 1;
			d->reused++;
		}
	}
	if (in_slot == 0 &&
	    (e->in_cvt && !in_h
		     ? (op == CPU_DNNL_FWD && saved ? saved_fill(d, e, saved, a)
						    : cpu_dnnl_convert(&d->cx, 0, e->in_cvt, e->in_f32,
								       e->act_in, a))
		     : set(e->act_in, a)))
		return -1;
	if ((e->res_back ? cpu_dnnl_slot(&d->cx, 1 - in_slot, e->act_out) || set(e->res_user, out)
			 : set(e->act_out, out)) ||
	    set(e->w_user, w))
		return -1;
	if (e->wreorder) {
		dnnl_exec_arg_t ra[2] = { { DNNL_ARG_FROM, e->w_user }, { DNNL_ARG_TO, e->w_prim } };
		if (cpu_dnnl_exec(&d->cx, e->wreorder, 2, ra))
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
	if (cpu_dnnl_exec(&d->cx, e->conv, na, args))
		return -1;
	if (e->res_back) {
		dnnl_exec_arg_t ra[2] = { { DNNL_ARG_FROM, e->act_out }, { DNNL_ARG_TO, e->res_user } };
		if (cpu_dnnl_exec(&d->cx, e->res_back, 2, ra))
			return -1;
	}
	d->calls++;
	if (e->wino)
		d->wino_calls++;
	return 0;
}

#endif
