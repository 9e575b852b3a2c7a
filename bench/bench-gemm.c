/* bench-gemm: the CPU backend's fp32 gemm on OpenBLAS sgemm next to oneDNN's
 * fp32 matmul, on the gemms of the built-in models' dense layers, to choose
 * DL_GEMM=auto's rule (lib/backend/cpu/gemm_dnnl.c) by measurement.
 *
 *   make bench-gemm            (THREADS="1 2" by default: bench-gemm [threads...])
 *
 * Shapes: every dense layer of every built-in model (in -> out, as
 * dl-train -m MODEL --summary shows them) at batch 32, 64 and 128, each
 * as the three gemms lib/nn/layers/dense.c makes:
 *   fwd   y = x W^T      gemm(0, 1, m=batch, n=out, k=in,  beta 0)
 *   bwdd  dx = dy W      gemm(0, 0, m=batch, n=in,  k=out, beta 0)
 *   bwdw  dW += dy^T x   gemm(1, 0, m=out,   n=in,  k=batch, beta 1)
 * with dense.c's leading dimensions, plus a 2048^3 reference.
 *
 * Both kernels run through one backend (the op table's gemm), its
 * gemm_mode switched between CPU_GEMM_BLAS and CPU_GEMM_DNNL sample by sample,
 * so they share the process, the data and the machine's load.  Per
 * (shape, kernel) a timed sample runs the gemm enough times for
 * SAMPLE_S seconds; the two kernels' samples alternate REPS times and
 * each figure is the median, in microseconds per call.  One thread: CPU
 * time of the calling thread (CLOCK_THREAD_CPUTIME_ID; oneDNN's OpenMP
 * team of one and our pool of one both run on it), the figure to trust on
 * a loaded machine.  More threads: wall time (noisy under load).
 * "auto" is what DL_GEMM=auto picks for the shape (cpu_gemm_dnnl_rule).
 */
#include "backend/cpu/cpu.h"
#include "nn/builtin.h"
#include "nn/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPS 7
#define SAMPLE_S 0.02

static const int batches[] = { 32, 64, 128 };
#define MAX_CASES 512

typedef struct gemm_case {
	char name[48];
	int ta, tb, m, n, k, lda, ldb, ldc;
	float beta;
} gemm_case;

static double clock_s(int nt)
{
	struct timespec ts;
	clock_gettime(nt == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *filled(size_t n)
{
	float *p = malloc((n ? n : 1) * sizeof *p);
	if (!p) {
		fprintf(stderr, "bench-gemm: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
	return p;
}

/* Seconds per call of `iters` calls. */
static double sample(dl_backend *be, const gemm_case *g, const float *a, const float *b,
		     float *c, int iters, int nt)
{
	double t0 = clock_s(nt);
	for (int i = 0; i < iters; i++)
		be->ops->gemm(be, g->ta, g->tb, g->m, g->n, g->k, 1.0f, a, g->lda, b, g->ldb,
			      g->beta, c, g->ldc);
	return (clock_s(nt) - t0) / iters;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* Median microseconds per call of each kernel, alternating. */
static void measure(dl_backend *be, const gemm_case *g, int nt, double *us_blas, double *us_dnnl)
{
	cpu_impl *im = cpu_of(be);
	size_t na = (size_t)(g->ta ? g->k : g->m) * g->lda, nb = (size_t)(g->tb ? g->n : g->k) * g->ldb;
	float *a = filled(na), *b = filled(nb), *c = filled((size_t)g->m * g->ldc);
	int iters[2];
	double t[2][REPS];
	for (int kind = 0; kind < 2; kind++) {   /* warm-up (primitive made) and calibration */
		im->gemm_mode = kind ? CPU_GEMM_DNNL : CPU_GEMM_BLAS;
		double s = sample(be, g, a, b, c, 1, nt);
		iters[kind] = s > 0 ? (int)(SAMPLE_S / s) + 1 : 1000;
	}
	for (int r = 0; r < REPS; r++)
		for (int kind = 0; kind < 2; kind++) {
			im->gemm_mode = kind ? CPU_GEMM_DNNL : CPU_GEMM_BLAS;
			t[kind][r] = sample(be, g, a, b, c, iters[kind], nt);
		}
	qsort(t[0], REPS, sizeof(double), cmp_double);
	qsort(t[1], REPS, sizeof(double), cmp_double);
	*us_blas = t[0][REPS / 2] * 1e6;
	*us_dnnl = t[1][REPS / 2] * 1e6;
	im->gemm_mode = CPU_GEMM_AUTO;
	free(a);
	free(b);
	free(c);
}

/* dense.c's three gemms of an in -> out dense layer of `model`, per batch */
static int dense_cases(gemm_case *cs, const char *mo, int in, int out)
{
	int n = 0;
	for (size_t j = 0; j < sizeof batches / sizeof *batches; j++) {
		int bs = batches[j];
		gemm_case *g = &cs[n++];
		*g = (gemm_case){ .ta = 0, .tb = 1, .m = bs, .n = out, .k = in, .lda = in, .ldb = in,
				  .ldc = out, .beta = 0.0f };
		snprintf(g->name, sizeof g->name, "%s %d->%d b%d fwd", mo, in, out, bs);
		g = &cs[n++];
		*g = (gemm_case){ .ta = 0, .tb = 0, .m = bs, .n = in, .k = out, .lda = out, .ldb = in,
				  .ldc = in, .beta = 0.0f };
		snprintf(g->name, sizeof g->name, "%s %d->%d b%d bwdd", mo, in, out, bs);
		g = &cs[n++];
		*g = (gemm_case){ .ta = 1, .tb = 0, .m = out, .n = in, .k = bs, .lda = out, .ldb = in,
				  .ldc = in, .beta = 1.0f };
		snprintf(g->name, sizeof g->name, "%s %d->%d b%d bwdw", mo, in, out, bs);
	}
	return n;
}

/* Every dense layer of every built-in model, then the 2048^3 reference. */
static int make_cases(gemm_case *cs)
{
	int n = 0;
	for (const dl_builtin_model *bm = dl_builtin_models; bm->name; bm++) {
		dl_model m;
		dl_err err;
		if (dl_model_load(&m, bm->name, &err)) {
			fprintf(stderr, "bench-gemm: %s: %s\n", bm->name, err.msg);
			exit(1);
		}
		for (int i = 0; i < m.nlayers; i++)
			if (!strcmp(m.layers[i].kind->name, "dense") && n + 10 <= MAX_CASES)
				n += dense_cases(cs + n, bm->name, m.layers[i].in.c, m.layers[i].out.c);
		dl_model_release(&m);
	}
	gemm_case *g = &cs[n++];
	*g = (gemm_case){ .ta = 0, .tb = 0, .m = 2048, .n = 2048, .k = 2048, .lda = 2048,
			  .ldb = 2048, .ldc = 2048, .beta = 0.0f };
	snprintf(g->name, sizeof g->name, "reference 2048^3");
	return n;
}

int main(int argc, char **argv)
{
	int nts[16], nnt = 0;
	for (int i = 1; i < argc && nnt < 16; i++) {
		nts[nnt] = atoi(argv[i]);
		if (nts[nnt] < 1 || nts[nnt] > 256) {
			fprintf(stderr, "bench-gemm: bad thread count %s\n", argv[i]);
			return 2;
		}
		nnt++;
	}
	if (!nnt) {
		nts[nnt++] = 1;
		nts[nnt++] = 2;
	}
	if (!cpu_dnnl_available()) {
		fprintf(stderr, "bench-gemm: built without oneDNN (make DNNL=1)\n");
		return 2;
	}
	static gemm_case cs[MAX_CASES];
	int ncase = make_cases(cs);
	const char *core = getenv("OPENBLAS_CORETYPE");
	printf("bench-gemm: fp32 gemm, OpenBLAS (OPENBLAS_CORETYPE=%s) vs oneDNN matmul, "
	       "median of %d alternating samples of %.0f ms, us per call\n",
	       core ? core : "unset", REPS, SAMPLE_S * 1e3);
	for (int i = 0; i < nnt; i++) {
		int nt = nts[i];
		dl_backend *be;
		dl_err err;
		if (dl_backend_cpu_open(&be, nt, &err)) {
			fprintf(stderr, "bench-gemm: %s\n", err.msg);
			return 1;
		}
		printf("\nthreads %d (%s)\n", nt, nt == 1 ? "thread CPU time" : "wall time");
		printf("%-34s %2s %2s %5s %5s %5s %10s %10s %9s %5s\n", "gemm", "ta", "tb", "m", "n",
		       "k", "blas_us", "dnnl_us", "dnnl/blas", "auto");
		for (int j = 0; j < ncase; j++) {
			const gemm_case *g = &cs[j];
			double ub, ud;
			measure(be, g, nt, &ub, &ud);
			printf("%-34s %2d %2d %5d %5d %5d %10.1f %10.1f %9.2f %5s\n", g->name, g->ta,
			       g->tb, g->m, g->n, g->k, ub, ud, ud / ub,
			       cpu_gemm_dnnl_rule(g->m, g->n, g->k, g->beta) ? "dnnl" : "blas");
			fflush(stdout);
		}
		dl_backend_close(be);
	}
	return 0;
}
