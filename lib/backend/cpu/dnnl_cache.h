/* What the oneDNN primitive caches of the CPU backend share: the
 * convolutions' (conv_dnnl.c, cpu_impl.dnnl) and the matmuls'
 * (gemm_dnnl.c, cpu_impl.dnnl_mm).  Each cache is a small array of
 * entries, one per key (geometry and op; matmul shape and scalars),
 * replaced least recently used first, with this context in front: the
 * engine and stream, the LRU clock, and two buffers that every entry
 * converts its fp32 inputs into, bf16 or a blocked layout (grown, never
 * shrunk).  Only with oneDNN
 * (-DDL_HAVE_DNNL). */
#ifndef DL_BACKEND_CPU_DNNL_CACHE_H
#define DL_BACKEND_CPU_DNNL_CACHE_H

#ifdef DL_HAVE_DNNL

#include <stddef.h>
#include <oneapi/dnnl/dnnl.h>

void omp_set_num_threads(int n);   /* libgomp, oneDNN's runtime */

typedef struct cpu_dnnl_ctx {
	dnnl_engine_t eng;
	dnnl_stream_t strm;
	void *bf[2];              /* converted copies of two inputs (or an output) */
	size_t bf_cap[2];         /* bytes */
	unsigned long clock;      /* bumped by every lookup */
} cpu_dnnl_ctx;

/* Makes the engine and stream: 0, or -1 (then cpu_dnnl_ctx_release). */
int cpu_dnnl_ctx_init(cpu_dnnl_ctx *cx);
/* Frees the buffers, stream and engine (those that were made). */
void cpu_dnnl_ctx_release(cpu_dnnl_ctx *cx);

/* The slot for a key among n slots of `size` bytes from `slots`, each
 * starting with its `unsigned long used` (the clock at its last use, 0 for
 * an empty slot): the used one that same(slot, key) says holds the key
 * (*hit = 1), else the least recently used (*hit = 0: the caller empties
 * and rebuilds it).  Bumps the clock; the caller sets used = cx->clock. */
void *cpu_dnnl_lookup(cpu_dnnl_ctx *cx, void *slots, int n, size_t size,
		      int (*same)(const void *slot, const void *key), const void *key, int *hit);

/* Destroys the non-NULL primitives and memories of an entry. */
void cpu_dnnl_destroy(dnnl_primitive_t *ps, size_t np, dnnl_memory_t *ms, size_t nm);

/* Runs p with n arguments and waits: 0, or -1. */
int cpu_dnnl_exec(cpu_dnnl_ctx *cx, dnnl_primitive_t p, int n, const dnnl_exec_arg_t *a);

/* Points memory m at shared buffer `slot`, grown to m's size: 0, or -1
 * (out of memory or a oneDNN failure). */
int cpu_dnnl_slot(cpu_dnnl_ctx *cx, int slot, dnnl_memory_t m);

/* Converts the fp32 tensor src (through memory f32, whose handle is set
 * here) into shared buffer `slot` with the reorder cvt (f32 -> to): bf16
 * rounding, or an fp32 layout change (Winograd's blocked activations), and
 * points `to` at it.  0, or -1 (out of memory or a oneDNN failure: the
 * caller runs the op another way). */
int cpu_dnnl_convert(cpu_dnnl_ctx *cx, int slot, dnnl_primitive_t cvt, dnnl_memory_t f32,
		     dnnl_memory_t to, const float *src);

#endif
#endif
