/* CPU backend internals: the thread pool, per-thread scratch, and the op
 * functions each file of this folder puts into the ops table (cpu.c).
 *
 * Threading: a backend owns `nt` threads, the caller plus nt - 1 workers.
 * cpu_run() runs one task on all of them and returns when all are done.
 * Work is split by cpu_range() into nt contiguous ranges, a function of
 * (n, tid, nt) only, and float reductions are summed in a fixed order, so
 * every op is bit-identical from run to run for a fixed thread count
 * (elementwise ops, softmax, losses, optimizers, gather, max/avg pooling and bias_grad are
 * identical for any thread count; conv and gemm blocks depend on it).
 * OpenBLAS itself runs single-threaded (openblas_set_num_threads(1)); each
 * pool thread calls sgemm on its own block, so the two never fight for
 * cores.  Convolutions and gemms that go to oneDNN (conv_dnnl.c,
 * gemm_dnnl.c) run on its OpenMP threads, nt of them (gemms below
 * CPU_GEMM_MIN_PAR_FLOPS on one), while the pool sleeps; they too repeat
 * bit for bit at a fixed thread count.  A backend serves one calling thread at a time.
 */
#ifndef DL_BACKEND_CPU_H
#define DL_BACKEND_CPU_H

#include <pthread.h>
#include <string.h>
#include "backend/backend.h"

/* Per-thread scratch.  col is allocated at open with CPU_COL_FLOATS; part
 * holds a thread's partial filter gradient.  Both grow only in
 * cpu_conv2d_reserve (the conv2d_reserve op, at model plan time), never
 * inside an op. */
#ifndef CPU_COL_FLOATS
#define CPU_COL_FLOATS (128 * 1024)
#endif

typedef struct cpu_scratch {
	float *col;
	size_t col_cap;      /* floats */
	float *part;
	size_t part_cap;     /* floats */
} cpu_scratch;

typedef void (*cpu_task)(void *arg, int tid, int nt);

typedef struct cpu_impl {
	int nt;                  /* threads, the caller included */
	pthread_t *workers;      /* nt - 1 */
	int nstarted;
	pthread_mutex_t mu;
	pthread_cond_t wake, done;
	unsigned gen;            /* bumped for each task */
	int pending;             /* workers still running the task */
	int quit;
	cpu_task task;
	void *arg;
	cpu_scratch *scratch;    /* nt */
	int conv_mode;           /* CPU_CONV_*, from DL_CONV at open */
	int conv_wino;           /* fp32 Winograd (conv_dnnl.c): -1 its auto rule
				  * (the default), 0 never, 1 every 3x3 s1 pad 1
				  * convolution oneDNN has it for (tests) */
	int gemm_mode;           /* CPU_GEMM_*, from DL_GEMM at open */
	int bf16;                /* --precision bf16: convolutions in bf16 (conv_dnnl.c) */
	struct cpu_dnnl *dnnl;   /* conv_dnnl.c's primitive cache, NULL until used */
	struct cpu_dnnl_mm *dnnl_mm;  /* gemm_dnnl.c's (bf16, fp32), NULL until used;
				       * what the two share: dnnl_cache.h */
	float *bn_part;          /* bn.c's per-block sums (grown by bn ops) */
	size_t bn_part_cap;      /* floats */
	int bn_channels_only;    /* tests: bn.c's channel split, no bn_part */
	float *gcol;             /* conv_gemm.c's whole-batch im2col matrix */
	size_t gcol_cap;         /* floats; grows only in conv2d_reserve */
	dl_err fault;            /* the first op failure (code 0: none), for the error op */
} cpu_impl;

/* How convolutions run (DL_CONV=auto|im2col|dnnl; conv_dnnl.c). */
enum { CPU_CONV_AUTO = 0, CPU_CONV_IM2COL, CPU_CONV_DNNL };
/* How fp32 gemms run (DL_GEMM=auto|blas|dnnl; gemm_dnnl.c). */
enum { CPU_GEMM_AUTO = 0, CPU_GEMM_BLAS, CPU_GEMM_DNNL };

static inline cpu_impl *cpu_of(dl_backend *be)
{
	return be->impl;
}

/* Records the first failure of an op on the calling thread (ops return
 * nothing; the caller reads it through the error op, cpu_error): "cpu: op
 * OP: " and the message.  Returns -1.  The CPU's ops fail only on a caller
 * bug (a conv op on a geometry conv2d_reserve was not called for); the
 * failing op writes nothing, later ops still run. */
int cpu_fault(cpu_impl *im, const char *op, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* threads.c */
int cpu_pool_start(cpu_impl *im, int nt);
void cpu_pool_stop(cpu_impl *im);
/* Runs task(arg, tid, nt) on every thread (tid 0 is the caller). */
void cpu_run(cpu_impl *im, cpu_task task, void *arg);
/* Runs on all threads when n >= min_par, else once as (tid 0, nt 1). */
void cpu_run_n(cpu_impl *im, size_t n, size_t min_par, cpu_task task, void *arg);
/* [*lo, *hi) = the tid-th of nt contiguous, near-equal parts of [0, n). */
static inline void cpu_range(size_t n, int tid, int nt, size_t *lo, size_t *hi)
{
	*lo = n * (size_t)tid / (size_t)nt;
	*hi = n * (size_t)(tid + 1) / (size_t)nt;
}
/* Makes sure s->col / s->part hold `floats`; 0 on success, -1 if out of
 * memory (the old buffer is kept). */
int cpu_scratch_col(cpu_scratch *s, size_t floats);
/* Makes the aligned buffer *buf of *cap floats hold `floats` (a new buffer,
 * contents not kept); 0, or -1 if out of memory (the old one is kept). */
int cpu_grow(float **buf, size_t *cap, size_t floats);
int cpu_scratch_part(cpu_scratch *s, size_t floats);
void *cpu_aligned_alloc(size_t bytes);

/* CPU_SIMD before a hot loop function: GCC compiles it also for AVX2 and
 * picks the clone at load time (ifunc), so the portable build (no -march)
 * runs 256-bit vectors where the CPU has them (AVX-512 clones measured
 * slower, bench/RESULTS.md).  A static helper it calls is built for the
 * baseline only unless inlined.  The build does not contract a*b+c into
 * FMAs (-std=c11) and the loops do not reassociate, so every clone gives
 * the same bits.  GCC only: clang 14 gives the resolvers of static
 * functions global names, so two files' fwd_task clash at link (the fuzz
 * build is clang's). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(DL_NO_CLONES)
#define CPU_SIMD __attribute__((target_clones("avx2", "default")))
#else
#define CPU_SIMD
#endif

/* bf16 (the bf16 link's tensors): h widened to float exactly, and v
 * rounded to bf16, nearest even (a NaN stays a NaN) */
static inline __attribute__((always_inline)) float cpu_bf16_wide(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static inline __attribute__((always_inline)) uint16_t cpu_bf16_round(float v)
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	return (u & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((u >> 16) | 0x40)
					       : (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

/* Every op of lib/backend/ops.h as cpu_<op> (memory ops in cpu.c; gemm and
 * bias in gemm.c; conv*.c; pool.c; act.c; bn.c; elementwise.c; loss.c;
 * optim.c; gather.c). */
DL_BACKEND_PROTOTYPES(cpu)

/* gemm_dnnl.c: gemm on oneDNN's matmul: with bf16 inputs and fp32
 * accumulation and output when cpu_impl.bf16, else in fp32 where
 * cpu_impl.gemm_mode says so (auto: cpu_gemm_dnnl_rule); 0 if done, -1
 * (nothing written) for OpenBLAS to run it in fp32. */
int cpu_dnnl_gemm(dl_backend *be, int ta, int tb, int m, int n, int k, float alpha,
		  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
void cpu_dnnl_gemm_release(cpu_impl *im);
/* DL_GEMM=auto's choice for an fp32 gemm: 1 = oneDNN, 0 = OpenBLAS; a
 * function of the shape and beta only (measurements: bench/RESULTS.md). */
int cpu_gemm_dnnl_rule(int m, int n, int k, float beta);
/* A gemm of fewer flops (2 m n k) runs on one thread, OpenBLAS's and fp32
 * oneDNN's alike: waking the others costs more than they save. */
#define CPU_GEMM_MIN_PAR_FLOPS (1 << 20)
/* For tests: gemms run on oneDNN so far, fp32 (bf16 = 0) or bf16. */
unsigned long cpu_dnnl_gemm_calls(const cpu_impl *im, int bf16);

/* conv_dnnl.c: oneDNN convolutions.  Built without -DDL_HAVE_DNNL it reports
 * oneDNN absent and every call returns -1, so conv.c always runs im2col.
 * cpu_dnnl_conv runs op on oneDNN if cpu_impl.conv_mode and the geometry
 * say so and returns 0, else -1 (nothing written; conv.c runs im2col):
 *   FWD       a = x, w, b (may be NULL), out = y
 *   BWD_DATA  a = dy, w, out = dx
 *   BWD_W     a = x, w = dy, out = dw (+=), db (+=, may be NULL) */
enum { CPU_DNNL_FWD = 1, CPU_DNNL_BWD_DATA, CPU_DNNL_BWD_W };
/* The training pair (ops.h conv2d_fwd_train, conv2d_bwd) through
 * cpu_dnnl_conv_pair: op | CPU_DNNL_PAIR.  FWD converts x into `saved`
 * (cpu_dnnl_saved_bytes of it, a header then the data) instead of a shared
 * buffer; BWD_W reads x's conversion from saved when the header says it is
 * this x's, and keeps its converted dy in shared buffer 1 for the BWD_DATA
 * that follows it (that call only), which then skips converting dy. */
#define CPU_DNNL_PAIR 8
/* The bf16 link (ops.h conv2d_bf16_link, conv_link.c): op | CPU_DNNL_LX
 * has x and dx in bf16 (FWD and BWD_W read a = x as it is, BWD_DATA writes
 * out = dx in bf16), op | CPU_DNNL_LY y and dy (FWD writes out = y in
 * bf16, BWD_W reads w = dy and BWD_DATA a = dy as they are).  Only
 * oneDNN's direct bf16 kernels take them: -1 (and nothing written)
 * elsewhere.  The bf16 tensors travel as float pointers, only ever handed
 * to oneDNN. */
#define CPU_DNNL_LX 16
#define CPU_DNNL_LY 32
int cpu_dnnl_conv_pair(dl_backend *be, int op, const dl_conv_geom *g, const float *a,
		       const float *w, const float *b, float *out, float *db, void *saved);
/* 1 if the link runs on oneDNN for g: its forward and weight-gradient
 * passes on the direct bf16 kernels (the data gradient's falls back) */
int cpu_dnnl_link_ok(dl_backend *be, const dl_conv_geom *g, int bias);
/* Bytes the pair's saved takes for g (0: the forward reads x in place, or
 * does not run on oneDNN); cpu_dnnl_saved_clear marks one empty. */
size_t cpu_dnnl_saved_bytes(dl_backend *be, const dl_conv_geom *g, int bias);
void cpu_dnnl_saved_clear(void *saved);
/* For tests: conversions the pair skipped so far (x from saved, dy kept). */
unsigned long cpu_dnnl_reused(const cpu_impl *im);
/* auto: Winograd for 3x3 s1 pad 1 with this many channels in and out
 * (maps of 4x4 or more; in bf16 runs, of 16x16 or less); bench/RESULTS.md */
#define CPU_WINO_MIN_CH 64
#define CPU_WINO_MIN_CH_BF16 256
#ifndef CPU_DNNL_MIN_CH
#define CPU_DNNL_MIN_CH 16   /* auto: channels per group for oneDNN */
#endif
int cpu_dnnl_available(void);
/* 1 if bf16 convolutions can run here (oneDNN built in, AVX512-BF16 in
 * cpuid and in oneDNN's ISA), else 0 with the reason in why. */
int cpu_dnnl_bf16_support(char *why, size_t n);
int cpu_dnnl_conv(dl_backend *be, int op, const dl_conv_geom *g, const float *a,
		  const float *w, const float *b, float *out, float *db);
void cpu_dnnl_release(cpu_impl *im);
/* For tests: convolutions run on oneDNN so far; cache slots in use. */
unsigned long cpu_dnnl_calls(const cpu_impl *im);
/* Of those, the ones that ran on Winograd (for tests). */
unsigned long cpu_dnnl_wino_calls(const cpu_impl *im);
/* DL_CONV=auto's Winograd rule on the geometry (fp32, or in a bf16 run):
 * 1 or 0 */
int cpu_dnnl_wino_rule(const dl_conv_geom *g, int bf16);
int cpu_dnnl_entries(const cpu_impl *im);

/* conv_gemm.c: convolutions of small maps with many channels as one
 * whole-batch im2col into cpu_impl.gcol and one oneDNN matmul (fp32, or
 * bf16 under --precision bf16), where that beats oneDNN's direct
 * convolution (cpu_conv_gemm_rule; DL_CONV=auto only).  cpu_conv_gemm
 * takes op CPU_DNNL_FWD (a = x, w, b, out = y) or CPU_DNNL_BWD_W (a = x,
 * w = dy, out = dw +=, db +=) and returns 0 when done, -1 (nothing
 * written) otherwise; cpu_conv_gemm_reserve sizes gcol at plan time. */
int cpu_conv_gemm_rule(const dl_conv_geom *g, int op, int bf16);
/* The rule as this backend applies it (DL_CONV=auto, oneDNN built in,
 * Winograd not taking g): 1 if cpu_conv_gemm runs op on g. */
int cpu_conv_gemm_wanted(const cpu_impl *im, const dl_conv_geom *g, int op);
int cpu_conv_gemm(dl_backend *be, int op, const dl_conv_geom *g, const float *a,
		  const float *w, const float *b, float *out, float *db);
void cpu_conv_gemm_reserve(dl_backend *be, const dl_conv_geom *g);
/* make bench-conv: the same op whatever the rule says (plain geometries
 * only), after cpu_conv_gemm_grow made gcol hold g's matrix (0, or -1). */
int cpu_conv_gemm_run(dl_backend *be, int op, const dl_conv_geom *g, const float *a,
		      const float *w, const float *b, float *out, float *db);
int cpu_conv_gemm_grow(cpu_impl *im, const dl_conv_geom *g);
/* conv.c: col [r1-r0, kh*kw*c] = the input windows of output rows [r0, r1)
 * of a plain (one group, no dilation) convolution. */
void cpu_conv_im2col(const dl_conv_geom *g, const float *x, size_t r0, size_t r1, float *col);
/* gemm_dnnl.c: cpu_dnnl_gemm whatever DL_GEMM says (conv_gemm.c's matmul). */
int cpu_dnnl_gemm_any(dl_backend *be, int ta, int tb, int m, int n, int k, float alpha,
		      const float *a, int lda, const float *b, int ldb, float beta, float *c,
		      int ldc);

/* conv_dw.c: depthwise (groups = c = k) convolutions, called by conv.c */
int cpu_conv_is_depthwise(const dl_conv_geom *g);
/* Per-thread scratch floats the depthwise ops use (col, part). */
void cpu_conv_dw_needs(const dl_conv_geom *g, size_t *col, size_t *part);
void cpu_conv_dw_fwd(dl_backend *be, const dl_conv_geom *g, const float *x, const float *w,
		     const float *b, float *y);
void cpu_conv_dw_bwd_data(dl_backend *be, const dl_conv_geom *g, const float *dy,
			  const float *w, float *dx);
void cpu_conv_dw_bwd_filter(dl_backend *be, const dl_conv_geom *g, const float *x,
			    const float *dy, float *dw, float *db);

#endif
