/* fp32 gemm on oneDNN's matmul (lib/backend/cpu/gemm_dnnl.c, DL_GEMM=dnnl)
 * against OpenBLAS sgemm (DL_GEMM=blas), the reference: the three gemms of
 * every dense layer of every built-in model (forward y = x W^T, backward
 * data dx = dy W, backward weights dW += dy^T x, with dense.c's transposes
 * and leading dimensions) at batch 32, 64, 128 and an odd 7; then every
 * transpose pair with alpha, beta and leading dimensions wider than the
 * rows.  Bound: |dnnl - blas| <= 1e-4 (|alpha| sum_k |a||b| + |beta c0|)
 * per element (both sum K fp32 products in different orders).  oneDNN has
 * to have run each call (its call count) and to repeat bit for bit, also
 * from a fresh backend.  Skipped without oneDNN. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend_test.h"
#include "core/rng.h"
#include "nn/builtin.h"
#include "nn/model.h"

static dl_backend *open_mode(dl_test_ctx *t, int threads, int mode)
{
	dl_backend *be = dl_test_cpu(threads);
	CHECK_INT(cpu_of(be)->bf16, 0);
	cpu_of(be)->gemm_mode = mode;
	return be;
}

typedef struct gemm_args {
	int ta, tb, m, n, k, lda, ldb, ldc;
	float alpha, beta;
} gemm_args;

static void run(dl_backend *be, const gemm_args *g, const float *a, const float *b, float *c)
{
	be->ops->gemm(be, g->ta, g->tb, g->m, g->n, g->k, g->alpha, a, g->lda, b, g->ldb, g->beta,
		      c, g->ldc);
}

/* The backends a check runs on: ref (OpenBLAS), dn (oneDNN, 2 threads) and
 * dn2 (oneDNN, a backend of its own with dn2_threads), and the data's rng. */
typedef struct trio {
	dl_backend *ref, *dn, *dn2;
	dl_rng r;
} trio;

static void trio_open(dl_test_ctx *t, trio *k, int dn2_threads, uint64_t seed)
{
	k->ref = open_mode(t, 2, CPU_GEMM_BLAS);
	k->dn = open_mode(t, 2, CPU_GEMM_DNNL);
	k->dn2 = open_mode(t, dn2_threads, CPU_GEMM_DNNL);
	dl_rng_seed(&k->r, seed);
}

static void trio_close(trio *k)
{
	dl_backend_close(k->ref);
	dl_backend_close(k->dn);
	dl_backend_close(k->dn2);
}

/* One gemm on ref (OpenBLAS) and dn (oneDNN, twice, and once on dn2, a
 * fresh backend): within the bound, bit-identical repeats.  Returns the
 * calls oneDNN made (3 when it ran all of them). */
static unsigned long check_gemm(dl_test_ctx *t, trio *k, const gemm_args *g, const char *what)
{
	dl_backend *ref = k->ref, *dn = k->dn, *dn2 = k->dn2;
	dl_rng *r = &k->r;
	size_t na = (size_t)(g->ta ? g->k : g->m) * g->lda;
	size_t nb = (size_t)(g->tb ? g->n : g->k) * g->ldb, nc = (size_t)g->m * g->ldc;
	float *a = rand_floats(r, na), *b = rand_floats(r, nb), *c0 = rand_floats(r, nc);
	float *aa = malloc(na * 4), *ab = malloc(nb * 4), *cs = calloc(nc, 4);
	float *c1 = malloc(nc * 4), *c2 = malloc(nc * 4), *c3 = malloc(nc * 4), *c4 = malloc(nc * 4);
	if (!aa || !ab || !cs || !c1 || !c2 || !c3 || !c4)
		abort();
	for (size_t i = 0; i < na; i++)
		aa[i] = fabsf(a[i]);
	for (size_t i = 0; i < nb; i++)
		ab[i] = fabsf(b[i]);
	memcpy(c1, c0, nc * 4), memcpy(c2, c0, nc * 4);
	memcpy(c3, c0, nc * 4), memcpy(c4, c0, nc * 4);
	unsigned long before = cpu_dnnl_gemm_calls(cpu_of(dn), 0) + cpu_dnnl_gemm_calls(cpu_of(dn2), 0);
	run(ref, g, a, b, c1);
	run(dn, g, a, b, c2);
	run(dn, g, a, b, c3);
	run(dn2, g, a, b, c4);
	unsigned long ran = cpu_dnnl_gemm_calls(cpu_of(dn), 0) + cpu_dnnl_gemm_calls(cpu_of(dn2), 0) -
			    before;
	gemm_args s = *g;
	s.alpha = fabsf(g->alpha), s.beta = 0.0f;
	run(ref, &s, aa, ab, cs);
	double worst = 0;
	int outside = 0;
	for (int i = 0; i < g->m; i++)
		for (int j = 0; j < g->n; j++) {
			size_t q = (size_t)i * g->ldc + j;
			double d = fabs((double)c2[q] - c1[q]);
			double bound = 1e-4 * (cs[q] + fabs(g->beta * c0[q])) + 1e-30;
			if (!(d <= bound)) {
				outside++;
				if (d / bound > worst || isnan(d))
					worst = isnan(d) ? INFINITY : d / bound;
			}
		}
	/* the padding between rows of C is never written */
	for (int i = 0; i < g->m; i++)
		for (int j = g->n; j < g->ldc; j++) {
			size_t q = (size_t)i * g->ldc + j;
			if (c2[q] != c0[q])
				outside++;
		}
	if (outside)
		fprintf(stderr, "  %s: %d elements outside 1e-4 relative (worst %.3gx)\n", what,
			outside, worst);
	CHECK_INT(outside, 0);
	CHECK(!memcmp(c2, c3, nc * 4));   /* bit-reproducible */
	CHECK(!memcmp(c2, c4, nc * 4));   /* also from a fresh primitive */
	float *bufs[] = { a, b, c0, aa, ab, cs, c1, c2, c3, c4 };
	for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
		free(bufs[i]);
	return ran;
}

/* dense.c's three gemms for an in -> out layer at batch bs */
static void dense_gemms(int in, int out, int bs, gemm_args g[3])
{
	g[0] = (gemm_args){ 0, 1, bs, out, in, in, in, out, 1.0f, 0.0f };    /* y = x W^T */
	g[1] = (gemm_args){ 0, 0, bs, in, out, out, in, in, 1.0f, 0.0f };    /* dx = dy W */
	g[2] = (gemm_args){ 1, 0, out, in, bs, out, in, in, 1.0f, 1.0f };    /* dW += dy^T x */
}

TEST(backend_cpu_gemm_dnnl_dense_shapes)
{
	if (!cpu_dnnl_available())
		SKIP("built without oneDNN (make DNNL=1)");
	trio k;
	trio_open(t, &k, 2, 18);
	static const int batches[] = { 32, 64, 128, 7 };
	int layers = 0, models = 0;
	unsigned long ran = 0, cases = 0;
	for (const dl_builtin_model *bm = dl_builtin_models; bm->name; bm++) {
		dl_model m;
		dl_err err;
		int rc = dl_model_load(&m, bm->name, &err);
		CHECK_INT(rc, 0);
		if (rc) {
			fprintf(stderr, "  %s: %s\n", bm->name, err.msg);
			continue;
		}
		models++;
		for (int i = 0; i < m.nlayers; i++) {
			const dl_layer *l = &m.layers[i];
			if (strcmp(l->kind->name, "dense"))
				continue;
			layers++;
			for (size_t j = 0; j < sizeof batches / sizeof *batches; j++) {
				gemm_args g[3];
				dense_gemms(l->in.c, l->out.c, batches[j], g);
				for (int p = 0; p < 3; p++) {
					char what[96];
					snprintf(what, sizeof what, "%s layer %d %d->%d batch %d gemm %d",
						 bm->name, i, l->in.c, l->out.c, batches[j], p);
					ran += check_gemm(t, &k, &g[p], what);
					cases += 3;
				}
			}
		}
		dl_model_release(&m);
	}
	CHECK(models >= 8);
	CHECK(layers >= 16);   /* the built-in models' dense layers */
	CHECK_INT(ran, cases);
	trio_close(&k);
}

TEST(backend_cpu_gemm_dnnl_transposes_scalars_strides)
{
	if (!cpu_dnnl_available())
		SKIP("built without oneDNN (make DNNL=1)");
	trio bk;
	trio_open(t, &bk, 1, 19);
	static const float scalars[][2] = { { 1.0f, 0.0f }, { -0.5f, 0.25f }, { 2.0f, 1.0f } };
	unsigned long ran = 0, cases = 0;
	for (int ta = 0; ta < 2; ta++)
		for (int tb = 0; tb < 2; tb++)
			for (int s = 0; s < 3; s++)
				for (int pad = 0; pad < 2; pad++) {
					int m = 45, n = 37, k = 130;
					/* rows of A, B, C: k or m, n or k, n; pad widens each */
					gemm_args g = { ta, tb, m, n, k, (ta ? m : k) + 5 * pad,
							(tb ? k : n) + 3 * pad, n + 7 * pad,
							scalars[s][0], scalars[s][1] };
					char what[64];
					snprintf(what, sizeof what, "ta %d tb %d alpha %g beta %g pad %d", ta,
						 tb, g.alpha, g.beta, pad);
					ran += check_gemm(t, &bk, &g, what);
					cases += 3;
				}
	CHECK_INT(ran, cases);
	trio_close(&bk);
}

/* DL_GEMM=auto runs exactly the shapes cpu_gemm_dnnl_rule names on oneDNN;
 * DL_GEMM=blas none. */
TEST(backend_cpu_gemm_dnnl_auto_follows_rule)
{
	if (!cpu_dnnl_available())
		SKIP("built without oneDNN (make DNNL=1)");
	dl_backend *au = open_mode(t, 2, CPU_GEMM_AUTO), *bl = open_mode(t, 2, CPU_GEMM_BLAS);
	dl_rng r;
	dl_rng_seed(&r, 20);
	static const int dense[][2] = { { 784, 10 }, { 784, 128 }, { 128, 10 }, { 2450, 500 },
					{ 512, 512 }, { 10, 1 } };
	unsigned long want = 0;
	for (size_t i = 0; i < sizeof dense / sizeof *dense; i++) {
		gemm_args g[3];
		dense_gemms(dense[i][0], dense[i][1], 64, g);
		for (int p = 0; p < 3; p++) {
			size_t na = (size_t)(g[p].ta ? g[p].k : g[p].m) * g[p].lda;
			size_t nb = (size_t)(g[p].tb ? g[p].n : g[p].k) * g[p].ldb;
			size_t nc = (size_t)g[p].m * g[p].ldc;
			float *a = rand_floats(&r, na), *b = rand_floats(&r, nb), *c = rand_floats(&r, nc);
			want += (unsigned long)cpu_gemm_dnnl_rule(g[p].m, g[p].n, g[p].k, g[p].beta);
			run(au, &g[p], a, b, c);
			run(bl, &g[p], a, b, c);
			free(a), free(b), free(c);
		}
	}
	CHECK_INT(cpu_dnnl_gemm_calls(cpu_of(au), 0), want);
	CHECK_INT(cpu_dnnl_gemm_calls(cpu_of(bl), 0), 0);
	dl_backend_close(au);
	dl_backend_close(bl);
}

TEST(backend_cpu_gemm_env)
{
	const char *old = getenv("DL_GEMM");
	char *save = old ? strdup(old) : NULL;
	dl_backend *be = NULL;
	dl_err err;
	setenv("DL_GEMM", "fast", 1);
	CHECK_INT(dl_backend_cpu_open(&be, 1, &err), DL_EUSAGE);
	CHECK_STR_HAS(err.msg, "DL_GEMM=fast: expected auto, blas or dnnl");
	setenv("DL_GEMM", "blas", 1);
	CHECK_INT(dl_backend_cpu_open(&be, 1, &err), 0);
	CHECK_INT(cpu_of(be)->gemm_mode, CPU_GEMM_BLAS);
	dl_backend_close(be);
	char why[160];
	if (cpu_dnnl_bf16_support(why, sizeof why)) {
		CHECK_INT(dl_backend_cpu_open_prec(&be, 1, "bf16", &err), DL_EUSAGE);
		CHECK_STR_HAS(err.msg, "DL_GEMM=blas");
	}
	setenv("DL_GEMM", "dnnl", 1);
	if (cpu_dnnl_available()) {
		CHECK_INT(dl_backend_cpu_open(&be, 1, &err), 0);
		CHECK_INT(cpu_of(be)->gemm_mode, CPU_GEMM_DNNL);
		dl_backend_close(be);
	} else {
		CHECK_INT(dl_backend_cpu_open(&be, 1, &err), DL_EUSAGE);
		CHECK_STR_HAS(err.msg, "DL_GEMM=dnnl: built without oneDNN");
	}
	unsetenv("DL_GEMM");
	CHECK_INT(dl_backend_cpu_open(&be, 1, &err), 0);
	CHECK_INT(cpu_of(be)->gemm_mode, cpu_dnnl_available() ? CPU_GEMM_AUTO : CPU_GEMM_BLAS);
	dl_backend_close(be);
	if (save)
		setenv("DL_GEMM", save, 1);
	free(save);
}
