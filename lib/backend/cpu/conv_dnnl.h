/* Private to the CPU backend's oneDNN convolutions: the primitive cache's
 * entries and state (struct cpu_dnnl, cpu_impl.dnnl), shared by
 * conv_dnnl.c (the rules, the cache and running the ops) and
 * conv_dnnl_build.c (making an entry's primitives and memories).  Only
 * with oneDNN (-DDL_HAVE_DNNL). */
#ifndef DL_BACKEND_CPU_CONV_DNNL_H
#define DL_BACKEND_CPU_CONV_DNNL_H

#ifdef DL_HAVE_DNNL

#include "backend/cpu/cpu.h"
#include "backend/cpu/dnnl_cache.h"

#define DNNL_CACHE 64

typedef struct dnnl_entry {
	unsigned long used;       /* last use, for LRU; 0 = empty slot (first: dnnl_cache.h) */
	dl_conv_geom g;
	int op, bias;             /* CPU_DNNL_FWD..; bias (fwd) / db (bwd_w) */
	int ok;                   /* 0: oneDNN refused (or auto rejected it) */
	dnnl_primitive_t conv;
	dnnl_primitive_t wreorder;  /* NULL when the layouts are the same */
	dnnl_memory_t act_in, act_out;  /* nhwc: x/dy in, y/dx out (bwd_w: x, dy) */
	dnnl_memory_t w_user, w_prim, bias_m;
	float *w_scratch, *b_scratch;   /* bwd_w: OHWI diff weights, diff bias */
	int wino;                 /* asked for Winograd (a key: a refusal rebuilds direct) */
	int ho;                   /* FWD, BWD_DATA writing y, dx in bf16 (the bf16 link; a key) */
	/* bf16 or Winograd: the fp32 tensors the caller gave and their
	 * reorders into act_in / act_out (bwd_w's dy), which then point at the
	 * shared buffers (bf16, or fp32 nChw16c) */
	dnnl_memory_t in_f32, out_f32;
	dnnl_primitive_t in_cvt, out_cvt;
	/* Winograd fwd / bwd_data: act_out (blocked, in shared buffer 1) and
	 * its reorder into the caller's NHWC result res_user */
	dnnl_memory_t res_user;
	dnnl_primitive_t res_back;
} dnnl_entry;

struct cpu_dnnl {
	cpu_dnnl_ctx cx;          /* engine, stream, LRU clock, bf16 activation buffers */
	unsigned long calls;      /* convolutions run here (for tests) */
	unsigned long wino_calls; /* of which on Winograd */
	unsigned long reused;     /* conversions skipped by the training pair (for tests) */
	/* conv2d_bwd: the dy that its bwd_weights left converted in shared
	 * buffer 1, and that layout, for the bwd_data that follows in the same
	 * op (kept_dy NULL: none) */
	const float *kept_dy;
	dnnl_memory_desc_t kept_md;
	dnnl_entry e[DNNL_CACHE];
};

static inline int cpu_dnnl_groups(const dl_conv_geom *g)
{
	return g->groups > 1 ? g->groups : 1;
}

/* Builds e for e->g, e->op, e->bias, e->wino under conv mode `mode`, in
 * bf16 when `bf16`; e->ok stays 0 (the key kept, the rest freed) if
 * oneDNN or the auto rule says no. */
void cpu_dnnl_entry_build(struct cpu_dnnl *d, dnnl_entry *e, int mode, int bf16);
/* Frees what e holds and empties it. */
void cpu_dnnl_entry_free(dnnl_entry *e);

#endif
#endif
