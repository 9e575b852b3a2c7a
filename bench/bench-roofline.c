/* make bench-roofline: this machine's matrix-multiply ceiling, fp32 and
 * bf16, as reached by the best kernel we can call, per thread count.
 *
 *   build/bench-roofline [N] [THREADS...]     (N: square size, default 2048)
 *
 * Rows (GFLOP/s = 2*N^3 / best of REPS seconds):
 *   openblas sgemm fp32    OpenBLAS as the machine forces it
 *                          (OPENBLAS_CORETYPE, printed), nt threads
 *   onednn matmul fp32     oneDNN picks its own ISA (printed)
 *   onednn matmul bf16     bf16 x bf16 -> fp32 accumulate and fp32 output:
 *                          the arithmetic of --precision bf16
 * The best of the fp32 rows is the fp32 roofline every model figure of
 * make bench-cpu is divided by; the bf16 row is the bf16 roofline.
 * Figures go to bench/RESULTS.md with date and load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

void omp_set_num_threads(int n);
void openblas_set_num_threads(int n);

#define REPS 5

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

#define CHECK(call) do { if ((call) != dnnl_success) { \
	fprintf(stderr, "bench-roofline: %s failed\n", #call); exit(1); } } while (0)

/* Best-of-REPS seconds of one oneDNN N x N x N matmul, inputs of type dt. */
static double dnnl_time(int n, dnnl_data_type_t dt, int nt, char *implbuf, size_t implsz)
{
	dnnl_engine_t eng;
	dnnl_stream_t strm;
	CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
	CHECK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
	dnnl_memory_desc_t a_md, b_md, c_md, b_any;
	dnnl_dims_t d = { n, n };
	CHECK(dnnl_memory_desc_init_by_tag(&a_md, 2, d, dt, dnnl_ab));
	CHECK(dnnl_memory_desc_init_by_tag(&b_md, 2, d, dt, dnnl_ab));
	CHECK(dnnl_memory_desc_init_by_tag(&b_any, 2, d, dt, dnnl_format_tag_any));
	CHECK(dnnl_memory_desc_init_by_tag(&c_md, 2, d, dnnl_f32, dnnl_ab));
	dnnl_matmul_desc_t md;
	CHECK(dnnl_matmul_desc_init(&md, &a_md, &b_any, NULL, &c_md));
	dnnl_primitive_desc_t pd;
	CHECK(dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL));
	const char *impl = NULL;
	CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
	snprintf(implbuf, implsz, "%s", impl ? impl : "?");
	const dnnl_memory_desc_t *bw = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
	dnnl_primitive_t mm;
	CHECK(dnnl_primitive_create(&mm, pd));
	dnnl_memory_t a, b, bp, c;
	CHECK(dnnl_memory_create(&a, &a_md, eng, DNNL_MEMORY_ALLOCATE));
	CHECK(dnnl_memory_create(&b, &b_md, eng, DNNL_MEMORY_ALLOCATE));
	CHECK(dnnl_memory_create(&bp, bw, eng, DNNL_MEMORY_ALLOCATE));
	CHECK(dnnl_memory_create(&c, &c_md, eng, DNNL_MEMORY_ALLOCATE));
	/* fill a and b with small values (their bytes as the type's) */
	void *pa, *pb;
	CHECK(dnnl_memory_get_data_handle(a, &pa));
	CHECK(dnnl_memory_get_data_handle(b, &pb));
	size_t es = dt == dnnl_f32 ? 4 : 2;
	for (size_t i = 0; i < (size_t)n * n; i++) {
		float v = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
		unsigned u;
		memcpy(&u, &v, 4);
		if (es == 4) {
			memcpy((char *)pa + i * 4, &v, 4);
			memcpy((char *)pb + i * 4, &v, 4);
		} else {
			unsigned short h = (unsigned short)(u >> 16);
			memcpy((char *)pa + i * 2, &h, 2);
			memcpy((char *)pb + i * 2, &h, 2);
		}
	}
	/* weights into the matmul's own layout once (a layer keeps them so) */
	dnnl_primitive_desc_t rpd;
	dnnl_primitive_t r;
	CHECK(dnnl_reorder_primitive_desc_create(&rpd, &b_md, eng, bw, eng, NULL));
	CHECK(dnnl_primitive_create(&r, rpd));
	dnnl_exec_arg_t ra[2] = { { DNNL_ARG_FROM, b }, { DNNL_ARG_TO, bp } };
	omp_set_num_threads(nt);
	CHECK(dnnl_primitive_execute(r, strm, 2, ra));
	CHECK(dnnl_stream_wait(strm));
	dnnl_exec_arg_t args[3] = { { DNNL_ARG_SRC, a }, { DNNL_ARG_WEIGHTS, bp }, { DNNL_ARG_DST, c } };
	double best = 1e30;
	for (int i = 0; i < REPS + 1; i++) {
		double t0 = now();
		CHECK(dnnl_primitive_execute(mm, strm, 3, args));
		CHECK(dnnl_stream_wait(strm));
		double t = now() - t0;
		if (i > 0 && t < best)   /* the first run warms caches and threads */
			best = t;
	}
	dnnl_primitive_destroy(r);
	dnnl_primitive_desc_destroy(rpd);
	dnnl_primitive_destroy(mm);
	dnnl_primitive_desc_destroy(pd);
	dnnl_memory_destroy(a);
	dnnl_memory_destroy(b);
	dnnl_memory_destroy(bp);
	dnnl_memory_destroy(c);
	dnnl_stream_destroy(strm);
	dnnl_engine_destroy(eng);
	return best;
}

static double blas_time(int n, int nt)
{
	float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
	float *c = malloc(sizeof(float) * n * n);
	if (!a || !b || !c) {
		fprintf(stderr, "bench-roofline: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < (size_t)n * n; i++)
		a[i] = b[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
	openblas_set_num_threads(nt);
	double best = 1e30;
	for (int i = 0; i < REPS + 1; i++) {
		double t0 = now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n,
			    0.0f, c, n);
		double t = now() - t0;
		if (i > 0 && t < best)
			best = t;
	}
	free(a);
	free(b);
	free(c);
	return best;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2048;
	if (n < 64 || n > 16384) {
		fprintf(stderr, "bench-roofline: N must be 64..16384\n");
		return 2;
	}
	int nts[16], nnt = 0;
	for (int i = 2; i < argc && nnt < 16; i++)
		nts[nnt++] = atoi(argv[i]);
	if (!nnt) {
		nts[nnt++] = 1;
		nts[nnt++] = 2;
	}
	const char *core = getenv("OPENBLAS_CORETYPE");
	printf("bench-roofline: %dx%dx%d matmul, best of %d, GFLOP/s (OPENBLAS_CORETYPE=%s, "
	       "oneDNN ISA 0x%x)\n", n, n, n, REPS, core ? core : "unset",
	       (unsigned)dnnl_get_effective_cpu_isa());
	printf("%-22s %8s %10s  %s\n", "kernel", "threads", "GFLOP/s", "implementation");
	double flop = 2.0 * n * n * (double)n;
	for (int i = 0; i < nnt; i++) {
		int nt = nts[i];
		if (nt < 1 || nt > 256) {
			fprintf(stderr, "bench-roofline: bad thread count %d\n", nt);
			return 2;
		}
		char impl[64];
		printf("%-22s %8d %10.1f  %s\n", "openblas sgemm fp32", nt, flop / blas_time(n, nt) / 1e9,
		       "cblas_sgemm");
		double t = dnnl_time(n, dnnl_f32, nt, impl, sizeof impl);
		printf("%-22s %8d %10.1f  %s\n", "onednn matmul fp32", nt, flop / t / 1e9, impl);
		t = dnnl_time(n, dnnl_bf16, nt, impl, sizeof impl);
		printf("%-22s %8d %10.1f  %s\n", "onednn matmul bf16", nt, flop / t / 1e9, impl);
	}
	return 0;
}
