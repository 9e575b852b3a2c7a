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
 * cores.  Convolutions that go to oneDNN (conv_dnnl.c) run on its OpenMP
 * threads, nt of them, while the pool sleeps; they too repeat bit for bit
 * at a fixed thread count.  A backend serves one calling thread at a time.
 */
#ifndef DL_BACKEND_CPU_H
#define DL_BACKEND_CPU_H

#include <pthread.h>
#include "backend/backend.h"

/* Per-thread scratch.  col is allocated at open with CPU_COL_FLOATS and
 * only grows for convolutions whose single im2col row is larger; part
 * holds a thread's partial filter gradient and grows on demand. */
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
	struct cpu_dnnl *dnnl;   /* conv_dnnl.c's primitive cache, NULL until used */
} cpu_impl;

/* How convolutions run (DL_CONV=auto|im2col|dnnl; conv_dnnl.c). */
enum { CPU_CONV_AUTO = 0, CPU_CONV_IM2COL, CPU_CONV_DNNL };

static inline cpu_impl *cpu_of(dl_backend *be)
{
	return be->impl;
}

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
int cpu_scratch_part(cpu_scratch *s, size_t floats);
void *cpu_aligned_alloc(size_t bytes);

/* gemm.c */
void cpu_gemm(dl_backend *be, int ta, int tb, int m, int n, int k,
	      float alpha, const float *a, int lda, const float *b, int ldb,
	      float beta, float *c, int ldc);
void cpu_bias_add(dl_backend *be, float *y, const float *b, int rows, int cols);
void cpu_bias_grad(dl_backend *be, float *db, const float *dy, int rows, int cols);

/* conv.c */
void cpu_conv2d_fwd(dl_backend *be, const dl_conv_geom *g, const float *x,
		    const float *w, const float *b, float *y);
void cpu_conv2d_bwd_data(dl_backend *be, const dl_conv_geom *g, const float *dy,
			 const float *w, float *dx);
void cpu_conv2d_bwd_filter(dl_backend *be, const dl_conv_geom *g, const float *x,
			   const float *dy, float *dw, float *db);

/* conv_dnnl.c: oneDNN convolutions.  Built without -DDL_HAVE_DNNL it reports
 * oneDNN absent and every call returns -1, so conv.c always runs im2col.
 * cpu_dnnl_conv runs op on oneDNN if cpu_impl.conv_mode and the geometry
 * say so and returns 0, else -1 (nothing written; conv.c runs im2col):
 *   FWD       a = x, w, b (may be NULL), out = y
 *   BWD_DATA  a = dy, w, out = dx
 *   BWD_W     a = x, w = dy, out = dw (+=), db (+=, may be NULL) */
enum { CPU_DNNL_FWD = 1, CPU_DNNL_BWD_DATA, CPU_DNNL_BWD_W };
#ifndef CPU_DNNL_MIN_CH
#define CPU_DNNL_MIN_CH 16   /* auto: channels per group for oneDNN */
#endif
int cpu_dnnl_available(void);
int cpu_dnnl_conv(dl_backend *be, int op, const dl_conv_geom *g, const float *a,
		  const float *w, const float *b, float *out, float *db);
void cpu_dnnl_release(cpu_impl *im);
/* For tests: convolutions run on oneDNN so far; cache slots in use. */
unsigned long cpu_dnnl_calls(const cpu_impl *im);
int cpu_dnnl_entries(const cpu_impl *im);

/* conv_dw.c: depthwise (groups = c = k) convolutions, called by conv.c */
int cpu_conv_is_depthwise(const dl_conv_geom *g);
void cpu_conv_dw_fwd(dl_backend *be, const dl_conv_geom *g, const float *x, const float *w,
		     const float *b, float *y);
void cpu_conv_dw_bwd_data(dl_backend *be, const dl_conv_geom *g, const float *dy,
			  const float *w, float *dx);
void cpu_conv_dw_bwd_filter(dl_backend *be, const dl_conv_geom *g, const float *x,
			    const float *dy, float *dw, float *db);

/* pool.c */
void cpu_maxpool_fwd(dl_backend *be, const dl_pool_geom *g, const float *x, float *y);
void cpu_maxpool_bwd(dl_backend *be, const dl_pool_geom *g, const float *x,
		     const float *y, const float *dy, float *dx);
void cpu_avgpool_fwd(dl_backend *be, const dl_pool_geom *g, const float *x, float *y);
void cpu_avgpool_bwd(dl_backend *be, const dl_pool_geom *g, const float *dy, float *dx);

/* act.c */
void cpu_act_fwd(dl_backend *be, dl_act_kind k, float alpha, size_t n, const float *x,
		 float *y);
void cpu_act_bwd(dl_backend *be, dl_act_kind k, float alpha, size_t n, const float *x,
		 const float *y, const float *dy, float *dx);

/* bn.c */
void cpu_bn_fwd_train(dl_backend *be, int rows, int c, const float *x, const float *gamma,
		      const float *beta, float eps, float momentum, float *run_mean,
		      float *run_var, float *save_mean, float *save_invstd, float *y);
/* bn_sync.c: batch norm with statistics summed over ranks (backend.h) */
void cpu_bn_stats(dl_backend *be, int rows, int c, const float *x, const float *mean, float *out);
void cpu_bn_fwd_given(dl_backend *be, int rows, int c, long count, const float *x,
		      const float *gamma, const float *beta, float eps, float momentum,
		      const float *mean, const float *sqdev, float *run_mean, float *run_var,
		      float *save_invstd, float *y);
void cpu_bn_bwd_given(dl_backend *be, int rows, int c, long count, const float *x,
		      const float *dy, const float *gamma, const float *save_mean,
		      const float *save_invstd, const float *dgamma, const float *dbeta, float *dx);
void cpu_bn_fwd_infer(dl_backend *be, int rows, int c, const float *x, const float *gamma,
		      const float *beta, const float *run_mean, const float *run_var, float eps,
		      float *y);
void cpu_bn_bwd(dl_backend *be, int rows, int c, const float *x, const float *dy,
		const float *gamma, const float *save_mean, const float *save_invstd, float *dx,
		float *dgamma, float *dbeta);

/* elementwise.c */
void cpu_dropout(dl_backend *be, size_t n, const float *x, float *y, float p, uint64_t seed);
void cpu_axpby(dl_backend *be, size_t n, float alpha, const float *x, float beta, float *y);
void cpu_copy2d(dl_backend *be, int rows, int cols, const float *src, int sld, float *dst,
		int dld, int acc);

/* loss.c */
void cpu_softmax_xent(dl_backend *be, int n, int k, const float *logits,
		      const int32_t *labels, float smoothing, float grad_scale,
		      float *dlogits, float *stats);
void cpu_softmax(dl_backend *be, int n, int k, const float *logits, float *probs);
void cpu_regress_loss(dl_backend *be, dl_reg_kind kind, int n, int k, const float *pred,
		      const float *target, float delta, float grad_scale, float *dpred,
		      float *stats);

/* optim.c */
void cpu_sgd_update(dl_backend *be, size_t n, float *p, const float *g, float *v,
		    float lr, float momentum, float wd, int nesterov);
void cpu_adam_update(dl_backend *be, size_t n, float *p, const float *g, float *m,
		     float *v, float lr, float b1, float b2, float eps, float wd,
		     int decoupled, float bc1, float bc2);
void cpu_sumsq(dl_backend *be, size_t n, const float *x, float *out);
void cpu_clip_scale(dl_backend *be, size_t n, float *x, const float *sumsq, float max_norm);

/* gather.c */
void cpu_gather_u8(dl_backend *be, const uint8_t *src, const uint32_t *idx, int n,
		   int h, int w, int c, const dl_norm *norm, const dl_aug *aug, float *out);
void cpu_gather_i32(dl_backend *be, const int32_t *src, const uint32_t *idx, int n,
		    int32_t *out);
void cpu_gather_f32(dl_backend *be, const float *src, const uint32_t *idx, int n, int k,
		    float *out);

#endif
