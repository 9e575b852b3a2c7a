/* gemm through oneDNN's matmul; gemm.c calls it first and runs OpenBLAS
 * sgemm when it returns -1.  C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C:
 * the transposes are strides of the fp32 memory descriptors, alpha an
 * output scale and beta a sum post-op, so any call the contract allows maps
 * onto one matmul.  Two arithmetics:
 *
 * bf16 (--precision bf16, cpu_impl.bf16): every gemm, with A and B rounded
 * to bf16 (nearest even) by oneDNN reorders, products accumulated in fp32
 * and C in fp32: the arithmetic of the bf16 convolutions (conv_dnnl.c).
 * A's bf16 copy is row-major, B's is in the layout the matmul picks
 * (format any), both in two buffers shared by every entry.
 *
 * fp32 (cpu_impl.gemm_mode, from DL_GEMM at open): the fp32 tensors as
 * they are, no reorder, on oneDNN's own fp32 kernels (AVX-512 where the
 * CPU has it, while OpenBLAS may be held to older ones by
 * OPENBLAS_CORETYPE):
 *   blas    none;
 *   dnnl    every one oneDNN accepts, its reference kernel included (tests);
 *   auto    (default) the shapes cpu_gemm_dnnl_rule() names, measured to
 *           be faster there, and only when oneDNN picks an optimised kernel.
 * A gemm of fewer than CPU_GEMM_MIN_PAR_FLOPS runs on one OpenMP thread, as
 * gemm.c runs it on one pool thread; larger ones on the backend's nt.
 *
 * Primitives are made once per (arithmetic, shape, strides, alpha, beta)
 * and kept in a small least-recently-used cache, like the convolutions'.
 * For a fixed thread count the results repeat bit for bit; fp32 oneDNN and
 * OpenBLAS sum in different orders, so they agree to rounding only.
 */
#include "backend/cpu/cpu.h"
#include "backend/cpu/dnnl_cache.h"

#include <stdlib.h>
#include <string.h>

/* DL_GEMM=auto: whether an fp32 gemm of this shape runs on oneDNN.
 *
 * Measured with make bench-gemm (bench/RESULTS.md, issue 18, "fp32 dense
 * layers on oneDNN"): CPU time of one thread, OpenBLAS forced onto its
 * Haswell kernels against oneDNN's AVX-512 brgemm matmul, on the three
 * gemms of every built-in model's dense layers at batch 32, 64, 128.
 * oneDNN takes 0.45-0.65x OpenBLAS's time on most shapes with
 * m n k >= 2^18 (median 0.54, at most 0.83x on those this rule sends to
 * it), both transposes alike, except dense.c's weight gradient
 * dW += dy^T x (beta = 1) with a large dW and a small batch k: oneDNN's
 * sum post-op on a C of more than 2^18 floats (1 MiB) costs about as much
 * as the product when k < 128 (0.80-1.11x: lenet 500x2450 k 32, resnet50
 * 200x2048 k 32, 1000x1000 k 32), while the same shapes with beta = 0
 * take 0.44-0.54x.  Below m n k = 2^18 the gemm lasts a few microseconds
 * and the ratio is uneven (0.45-4.0x).
 *
 * The rule must not look at the batch: data-parallel ranks each multiply a
 * share of it, and a rank that picked another kernel than one process does
 * would sum in another order (tests/cli/t0340-dist.sh wants the weights of
 * -np 2 within 1e-5 of one process's after 50 steps; a kernel switch on
 * lenet's 120x84 layer at batch 16 vs 32 gave 1e-3).  The batch is m when
 * beta = 0 (y = x W^T, dx = dy W) and k when beta != 0 (dW += dy^T x), so:
 *   beta = 0:  oneDNN when n k >= 2^13 (m n k >= 2^18 from batch 32 on);
 *   beta != 0: oneDNN when 2^13 <= m n <= 2^18 (the large-dW exception
 *              above, taken at every batch);
 *   OpenBLAS otherwise.
 * A function of the shape and beta only: a run, and a resumed run, take
 * the same kernels for every call. */
int cpu_gemm_dnnl_rule(int m, int n, int k, float beta)
{
	if (beta == 0.0f)
		return (double)n * k >= 0x1p13;
	double mn = (double)m * n;
	return mn >= 0x1p13 && mn <= 0x1p18;
}

#ifndef DL_HAVE_DNNL

int cpu_dnnl_gemm_any(dl_backend *be, int ta, int tb, int m, int n, int k, float alpha,
		      const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	return cpu_dnnl_gemm(be, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int cpu_dnnl_gemm(dl_backend *be, int ta, int tb, int m, int n, int k, float alpha,
		  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	(void)be, (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)a;
	(void)lda, (void)b, (void)ldb, (void)beta, (void)c, (void)ldc;
	return -1;
}

void cpu_dnnl_gemm_release(cpu_impl *im)
{
	(void)im;
}

unsigned long cpu_dnnl_gemm_calls(const cpu_impl *im, int bf16)
{
	(void)im, (void)bf16;
	return 0;
}

#else

#define MM_CACHE 32

typedef struct mm_key {
	int bf16;                  /* 1: bf16 inputs (reorders), 0: fp32 as given */
	int any_impl;              /* 0: refuse oneDNN's reference kernels */
	int ta, tb, m, n, k, lda, ldb, ldc;
	float alpha, beta;
} mm_key;

typedef struct mm_entry {
	unsigned long used;        /* LRU clock; 0 = empty (first: dnnl_cache.h) */
	mm_key key;
	int ok;
	dnnl_primitive_t mm, cvt_a, cvt_b;
	dnnl_memory_t a32, b32, a16, b16, c;
} mm_entry;

struct cpu_dnnl_mm {
	cpu_dnnl_ctx cx;           /* engine, stream, LRU clock, bf16 A and B */
	unsigned long calls[2];    /* matmuls run here, [0] fp32, [1] bf16 (for tests) */
	mm_entry e[MM_CACHE];
};

static void entry_free(mm_entry *e)
{
	dnnl_primitive_t ps[] = { e->mm, e->cvt_a, e->cvt_b };
	dnnl_memory_t ms[] = { e->a32, e->b32, e->a16, e->b16, e->c };
	cpu_dnnl_destroy(ps, sizeof ps / sizeof *ps, ms, sizeof ms / sizeof *ms);
	memset(e, 0, sizeof *e);
}

void cpu_dnnl_gemm_release(cpu_impl *im)
{
	struct cpu_dnnl_mm *d = im->dnnl_mm;
	if (!d)
		return;
	for (int i = 0; i < MM_CACHE; i++)
		entry_free(&d->e[i]);
	cpu_dnnl_ctx_release(&d->cx);
	free(d);
	im->dnnl_mm = NULL;
}

#define TRY(call) do { if ((call) != dnnl_success) goto fail; } while (0)

/* A reorder from memory `from` into a new memory of descriptor md (handle
 * set per call). */
static int cvt_make(dnnl_engine_t eng, dnnl_memory_t from, const dnnl_memory_desc_t *md,
		    dnnl_memory_t *to, dnnl_primitive_t *cvt)
{
	const dnnl_memory_desc_t *fmd;
	dnnl_primitive_desc_t rpd;
	if (dnnl_memory_create(to, md, eng, DNNL_MEMORY_NONE) != dnnl_success ||
	    dnnl_memory_get_memory_desc(from, &fmd) != dnnl_success ||
	    dnnl_reorder_primitive_desc_create(&rpd, fmd, eng, md, eng, NULL) != dnnl_success)
		return -1;
	int rc = dnnl_primitive_create(cvt, rpd) == dnnl_success ? 0 : -1;
	dnnl_primitive_desc_destroy(rpd);
	return rc;
}

static void entry_build(struct cpu_dnnl_mm *d, mm_entry *e)
{
	const mm_key *q = &e->key;
	dnnl_memory_desc_t a32, b32, a16, b16, c32;
	dnnl_dims_t ad = { q->m, q->k }, bd = { q->k, q->n }, cd = { q->m, q->n };
	dnnl_dims_t as = { q->ta ? 1 : q->lda, q->ta ? q->lda : 1 };
	dnnl_dims_t bs = { q->tb ? 1 : q->ldb, q->tb ? q->ldb : 1 };
	dnnl_dims_t cs = { q->ldc, 1 };
	dnnl_primitive_attr_t attr = NULL;
	dnnl_post_ops_t po = NULL;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_matmul_desc_t md;
	TRY(dnnl_memory_desc_init_by_strides(&a32, 2, ad, dnnl_f32, as));
	TRY(dnnl_memory_desc_init_by_strides(&b32, 2, bd, dnnl_f32, bs));
	TRY(dnnl_memory_desc_init_by_strides(&c32, 2, cd, dnnl_f32, cs));
	if (q->bf16) {
		TRY(dnnl_memory_desc_init_by_tag(&a16, 2, ad, dnnl_bf16, dnnl_ab));
		TRY(dnnl_memory_desc_init_by_tag(&b16, 2, bd, dnnl_bf16, dnnl_format_tag_any));
	}
	TRY(dnnl_primitive_attr_create(&attr));
	if (q->alpha != 1.0f) {
		float s = q->alpha;
		TRY(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &s));
	}
	if (q->beta != 0.0f) {
		TRY(dnnl_post_ops_create(&po));
		TRY(dnnl_post_ops_append_sum(po, q->beta));
		TRY(dnnl_primitive_attr_set_post_ops(attr, po));
	}
	TRY(dnnl_matmul_desc_init(&md, q->bf16 ? &a16 : &a32, q->bf16 ? &b16 : &b32, NULL, &c32));
	TRY(dnnl_primitive_desc_create(&pd, &md, attr, d->cx.eng, NULL));
	const char *impl = NULL;
	TRY(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
	if (!impl || (!q->any_impl && !strncmp(impl, "ref", 3)))
		goto fail;   /* no optimised kernel: OpenBLAS in fp32 */
	TRY(dnnl_primitive_create(&e->mm, pd));
	TRY(dnnl_memory_create(&e->a32, &a32, d->cx.eng, DNNL_MEMORY_NONE));
	TRY(dnnl_memory_create(&e->b32, &b32, d->cx.eng, DNNL_MEMORY_NONE));
	TRY(dnnl_memory_create(&e->c, &c32, d->cx.eng, DNNL_MEMORY_NONE));
	if (q->bf16) {
		const dnnl_memory_desc_t *bw = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
		if (!bw || cvt_make(d->cx.eng, e->a32, &a16, &e->a16, &e->cvt_a) ||
		    cvt_make(d->cx.eng, e->b32, bw, &e->b16, &e->cvt_b))
			goto fail;
	}
	e->ok = 1;
	goto done;
fail:
	{
		mm_key key = e->key;
		unsigned long used = e->used;
		entry_free(e);
		e->key = key, e->used = used;
	}
done:
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (po)
		dnnl_post_ops_destroy(po);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
}

static int entry_same(const void *slot, const void *key)
{
	return !memcmp(&((const mm_entry *)slot)->key, key, sizeof(mm_key));
}

static mm_entry *entry_get(cpu_impl *im, const mm_key *key)
{
	struct cpu_dnnl_mm *d = im->dnnl_mm;
	if (!d) {
		d = calloc(1, sizeof *d);
		if (!d)
			return NULL;
		im->dnnl_mm = d;
		if (cpu_dnnl_ctx_init(&d->cx)) {
			cpu_dnnl_gemm_release(im);
			return NULL;
		}
	}
	int hit;
	mm_entry *e = cpu_dnnl_lookup(&d->cx, d->e, MM_CACHE, sizeof *e, entry_same, key, &hit);
	if (!hit) {
		entry_free(e);
		e->key = *key;
		e->used = d->cx.clock;
		entry_build(d, e);
	}
	e->used = d->cx.clock;
	return e->ok ? e : NULL;
}

/* any: whatever cpu_impl.gemm_mode says */
static int mm_run(dl_backend *be, int any, int ta, int tb, int m, int n, int k, float alpha,
		  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	cpu_impl *im = cpu_of(be);
	if (m <= 0 || n <= 0 || k <= 0)
		return -1;
	if (!im->bf16 && !any && (im->gemm_mode == CPU_GEMM_BLAS ||
				  (im->gemm_mode == CPU_GEMM_AUTO && !cpu_gemm_dnnl_rule(m, n, k, beta))))
		return -1;
	mm_key key;
	memset(&key, 0, sizeof key);   /* padding: the key is compared with memcmp */
	key.bf16 = im->bf16, key.any_impl = !im->bf16 && im->gemm_mode == CPU_GEMM_DNNL;
	key.ta = !!ta, key.tb = !!tb, key.m = m, key.n = n, key.k = k;
	key.lda = lda, key.ldb = ldb, key.ldc = ldc, key.alpha = alpha, key.beta = beta;
	/* fp32: one thread below the size gemm.c splits among the pool's */
	int small = !key.bf16 && 2.0 * m * n * k < CPU_GEMM_MIN_PAR_FLOPS;
	omp_set_num_threads(small ? 1 : im->nt);
	mm_entry *e = entry_get(im, &key);
	if (!e)
		return -1;
	struct cpu_dnnl_mm *d = im->dnnl_mm;
	dnnl_exec_arg_t args[3] = { { DNNL_ARG_SRC, e->a32 }, { DNNL_ARG_WEIGHTS, e->b32 },
				    { DNNL_ARG_DST, e->c } };
	if (key.bf16) {
		if (cpu_dnnl_convert(&d->cx, 0, e->cvt_a, e->a32, e->a16, a) ||
		    cpu_dnnl_convert(&d->cx, 1, e->cvt_b, e->b32, e->b16, b))
			return -1;
		args[0].memory = e->a16, args[1].memory = e->b16;
	} else if (dnnl_memory_set_data_handle(e->a32, (void *)a) != dnnl_success ||
		   dnnl_memory_set_data_handle(e->b32, (void *)b) != dnnl_success) {
		return -1;
	}
	if (dnnl_memory_set_data_handle(e->c, c) != dnnl_success ||
	    cpu_dnnl_exec(&d->cx, e->mm, 3, args))
		return -1;
	d->calls[key.bf16]++;
	return 0;
}

int cpu_dnnl_gemm(dl_backend *be, int ta, int tb, int m, int n, int k, float alpha,
		  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	return mm_run(be, 0, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int cpu_dnnl_gemm_any(dl_backend *be, int ta, int tb, int m, int n, int k, float alpha,
		      const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	return mm_run(be, 1, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

unsigned long cpu_dnnl_gemm_calls(const cpu_impl *im, int bf16)
{
	return im->dnnl_mm ? im->dnnl_mm->calls[!!bf16] : 0;
}

#endif
