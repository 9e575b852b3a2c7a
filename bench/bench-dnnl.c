/* bench-dnnl: oneDNN fp32 convolutions next to our CPU backend's, on the
 * same shapes, to choose the CPU convolution method by measurement.
 *
 *   make bench-dnnl            (THREADS=2 by default: bench-dnnl [threads])
 *
 * Shapes (batch 128, NHWC, stride 1): LeNet conv1 28x28x1 -> 20 5x5 pad 2,
 * conv2 14x14x20 -> 50 5x5 pad 2, VGG-style 32x32x3 -> 64 (a first layer),
 * 32x32x64 -> 64 3x3 pad 1 and
 * 16x16x128 -> 128 3x3 pad 1, and a depthwise 32x32x64 3x3 (groups 64).
 * For each: forward (with bias), backward data, backward weights (with
 * bias gradient).
 *
 * Ours runs two ways: "im2col" (DL_CONV=im2col: im2col + OpenBLAS) and
 * "dnnl" (DL_CONV=dnnl: the backend's oneDNN path, lib/backend/cpu/
 * conv_dnnl.c, a weight reorder per call included), each on a backend of
 * its own.
 *
 * oneDNN alone runs two ways:
 *   nhwc  activations in our layout (nhwc), weights in the layout oneDNN
 *         picks (our ohwi weights get oneDNN 2.6's reference kernel only:
 *         a weight reorder per step is cheap next to a conv): what a
 *         drop-in op would do, no activation reorders;
 *   any   oneDNN picks its layouts (blocked, e.g. nChw8c); the timed call
 *         excludes the reorders to and from them (a lower bound on cost,
 *         reachable only if whole networks stay in blocked layouts).
 * Each figure is the median of up to REPS timed calls after warm-up (fewer,
 * at least 3, when they pass BUDGET_S seconds: oneDNN's reference kernels
 * are slow), wall ms;
 * GFLOP/s = 2*N*OH*OW*K*KH*KW*C / time.  oneDNN's threads are OpenMP
 * (omp_set_num_threads); ours are the backend's pool.  Ours all run first,
 * so OpenMP's spinning workers do not steal cores from them.
 */
#include "backend/backend.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void omp_set_num_threads(int n);   /* libgomp (oneDNN's runtime) */

#define REPS 15
#define BUDGET_S 2.0

typedef struct shape {
	const char *name;
	int n, h, c, k, ks, pad;
	int groups;   /* 0 = 1 */
} shape;

static const shape shapes[] = {
	{ "lenet conv1 28x28x1->20 5x5", 128, 28, 1, 20, 5, 2, 1 },
	{ "lenet conv2 14x14x20->50 5x5", 128, 14, 20, 50, 5, 2, 1 },
	{ "vgg conv1 32x32x3->64 3x3", 128, 32, 3, 64, 3, 1, 1 },
	{ "vgg 32x32x64->64 3x3", 128, 32, 64, 64, 3, 1, 1 },
	{ "vgg 16x16x128->128 3x3", 128, 16, 128, 128, 3, 1, 1 },
	{ "depthwise 32x32x64 3x3 g64", 128, 32, 64, 64, 3, 1, 64 },
};
#define NSHAPES (int)(sizeof shapes / sizeof *shapes)

enum { FWD, BWD_DATA, BWD_W, NOPS };
static const char *const opname[NOPS] = { "fwd", "bwd_data", "bwd_weights" };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof *t, cmpd);
	return t[n / 2];
}

static void fill(float *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (float)rand() / RAND_MAX - 0.5f;
}

static int groups(const shape *s)
{
	return s->groups > 1 ? s->groups : 1;
}

static double flops(const shape *s)
{
	return 2.0 * s->n * s->h * s->h * s->k * s->ks * s->ks * s->c / groups(s);
}

/* ---- ours ------------------------------------------------------------------ */

static void bench_ours(dl_backend *be, const shape *s, double ms[NOPS])
{
	dl_conv_geom g = { s->n, s->h, s->h, s->c, s->k, s->ks, s->ks, 1, 1, s->pad, s->pad,
			   s->pad, s->pad, s->h, s->h, 1, 1, groups(s) };
	size_t nx = (size_t)s->n * s->h * s->h * s->c, ny = (size_t)s->n * s->h * s->h * s->k;
	size_t nw = (size_t)s->k * s->ks * s->ks * s->c / groups(s);
	float *x = be->ops->alloc(be, nx * 4), *y = be->ops->alloc(be, ny * 4);
	float *w = be->ops->alloc(be, nw * 4), *b = be->ops->alloc(be, (size_t)s->k * 4);
	float *dw = be->ops->alloc(be, nw * 4), *db = be->ops->alloc(be, (size_t)s->k * 4);
	dl_err err;
	if (!x || !y || !w || !b || !dw || !db || be->ops->conv2d_reserve(be, &g, &err)) {
		fprintf(stderr, "bench-dnnl: out of memory\n");
		exit(1);
	}
	fill(x, nx);
	fill(y, ny);
	fill(w, nw);
	for (int op = 0; op < NOPS; op++) {
		double t[REPS];
		for (int r = -2; r < REPS; r++) {
			double t0 = now();
			if (op == FWD)
				be->ops->conv2d_fwd(be, &g, x, w, b, y);
			else if (op == BWD_DATA)
				be->ops->conv2d_bwd_data(be, &g, y, w, x);
			else
				be->ops->conv2d_bwd_filter(be, &g, x, y, dw, db);
			if (r >= 0)
				t[r] = (now() - t0) * 1e3;
		}
		ms[op] = median(t, REPS);
	}
	float *bufs[] = { x, y, w, b, dw, db };
	for (int i = 0; i < 6; i++)
		be->ops->free(be, bufs[i]);
}

/* ---- oneDNN ------------------------------------------------------------------ */

#define CK(call) do {                                                         \
	dnnl_status_t st_ = (call);                                           \
	if (st_ != dnnl_success) {                                            \
		fprintf(stderr, "bench-dnnl: %s:%d: %s failed (status %d)\n", \
			__FILE__, __LINE__, #call, (int)st_);                  \
		exit(1);                                                      \
	} } while (0)

static dnnl_memory_t mem_for(dnnl_engine_t eng, const dnnl_memory_desc_t *md)
{
	dnnl_memory_t m;
	CK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
	void *p;
	CK(dnnl_memory_get_data_handle(m, &p));
	fill(p, dnnl_memory_desc_get_size(md) / sizeof(float));
	return m;
}

/* Times op on the shape; any: let oneDNN choose layouts.  impl gets the
 * implementation oneDNN picked. */
static double bench_dnnl(dnnl_engine_t eng, dnnl_stream_t strm, const shape *s, int op, int any,
			 char *impl, size_t implsz)
{
	dnnl_memory_desc_t src, wei, bia, dst;
	int G = groups(s);
	dnnl_dims_t sd = { s->n, s->c, s->h, s->h }, wd = { s->k, s->c, s->ks, s->ks };
	dnnl_dims_t gwd = { G, s->k / G, s->c / G, s->ks, s->ks };
	dnnl_dims_t bd = { s->k }, dd = { s->n, s->k, s->h, s->h };
	dnnl_dims_t strides = { 1, 1 }, pad = { s->pad, s->pad };
	CK(dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, any ? dnnl_format_tag_any : dnnl_nhwc));
	if (G > 1)
		CK(dnnl_memory_desc_init_by_tag(&wei, 5, gwd, dnnl_f32, dnnl_format_tag_any));
	else
		CK(dnnl_memory_desc_init_by_tag(&wei, 4, wd, dnnl_f32, dnnl_format_tag_any));
	CK(dnnl_memory_desc_init_by_tag(&bia, 1, bd, dnnl_f32, dnnl_x));
	CK(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, any ? dnnl_format_tag_any : dnnl_nhwc));
	dnnl_convolution_desc_t fd, cd;
	CK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
					      &src, &wei, &bia, &dst, strides, pad, pad));
	dnnl_primitive_desc_t fpd, pd;
	CK(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
	if (op == FWD) {
		pd = fpd;
	} else if (op == BWD_DATA) {
		CK(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &src, &wei,
							    &dst, strides, pad, pad));
		CK(dnnl_primitive_desc_create(&pd, &cd, NULL, eng, fpd));
	} else {
		CK(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &src,
							       &wei, &bia, &dst, strides, pad, pad));
		CK(dnnl_primitive_desc_create(&pd, &cd, NULL, eng, fpd));
	}
	int reps_cap = 1;
	const char *info = NULL;
	CK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info));
	snprintf(impl, implsz, "%s", info ? info : "?");
	/* memories in the layouts the primitive chose */
	dnnl_query_t qs[4];
	int args[4];
	if (op == FWD) {
		qs[0] = dnnl_query_src_md; args[0] = DNNL_ARG_SRC;
		qs[1] = dnnl_query_weights_md; args[1] = DNNL_ARG_WEIGHTS;
		qs[2] = dnnl_query_dst_md; args[2] = DNNL_ARG_DST;
	} else if (op == BWD_DATA) {
		qs[0] = dnnl_query_diff_src_md; args[0] = DNNL_ARG_DIFF_SRC;
		qs[1] = dnnl_query_weights_md; args[1] = DNNL_ARG_WEIGHTS;
		qs[2] = dnnl_query_diff_dst_md; args[2] = DNNL_ARG_DIFF_DST;
	} else {
		qs[0] = dnnl_query_src_md; args[0] = DNNL_ARG_SRC;
		qs[1] = dnnl_query_diff_weights_md; args[1] = DNNL_ARG_DIFF_WEIGHTS;
		qs[2] = dnnl_query_diff_dst_md; args[2] = DNNL_ARG_DIFF_DST;
	}
	dnnl_exec_arg_t ea[5];
	int na = 0;
	for (int i = 0; i < 3; i++) {
		ea[na].arg = args[i];
		ea[na++].memory = mem_for(eng, dnnl_primitive_desc_query_md(pd, qs[i], 0));
	}
	if (op != BWD_DATA) {
		ea[na].arg = op == FWD ? DNNL_ARG_BIAS : DNNL_ARG_DIFF_BIAS;
		ea[na++].memory = mem_for(eng, &bia);
	}
	const dnnl_memory_desc_t *ws = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	if (ws && dnnl_memory_desc_get_size(ws) > 0) {
		ea[na].arg = DNNL_ARG_SCRATCHPAD;
		ea[na++].memory = mem_for(eng, ws);
	}
	dnnl_primitive_t prim;
	CK(dnnl_primitive_create(&prim, pd));
	/* a reference kernel on a big shape would take minutes: not timed */
	if (!strncmp(impl, "ref", 3) && flops(s) > 2e8)
		reps_cap = 0;
	double t[REPS], start = now();
	int done = 0;
	for (int r = -1; r < REPS && reps_cap; r++) {
		double t0 = now();
		CK(dnnl_primitive_execute(prim, strm, na, ea));
		CK(dnnl_stream_wait(strm));
		if (r >= 0)
			t[done++] = (now() - t0) * 1e3;
		if (done >= 3 && now() - start > BUDGET_S)
			break;
	}
	dnnl_primitive_destroy(prim);
	for (int i = 0; i < na; i++)
		dnnl_memory_destroy(ea[i].memory);
	if (pd != fpd)
		dnnl_primitive_desc_destroy(pd);
	dnnl_primitive_desc_destroy(fpd);
	return done ? median(t, done) : -1;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 2;
	if (threads < 1)
		threads = 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	dl_backend *be, *bd;
	dl_err err;
	setenv("DL_CONV", "im2col", 1);
	if (dl_backend_cpu_open(&be, threads, &err)) {
		fprintf(stderr, "bench-dnnl: %s\n", err.msg);
		return 1;
	}
	setenv("DL_CONV", "dnnl", 1);
	if (dl_backend_cpu_open(&bd, threads, &err)) {
		fprintf(stderr, "bench-dnnl: %s (build with DNNL=1)\n", err.msg);
		return 1;
	}
	const dnnl_version_t *v = dnnl_version();
	FILE *la = fopen("/proc/loadavg", "r");
	char load[64] = "?";
	if (la) {
		if (!fgets(load, sizeof load, la))
			strcpy(load, "?");
		fclose(la);
		load[strcspn(load, "\n")] = 0;
	}
	printf("bench-dnnl: batch 128 NHWC fp32, %d threads, median of %d calls, wall ms (GFLOP/s)\n",
	       threads, REPS);
	printf("oneDNN %d.%d.%d (OpenMP), ours im2col = cpu backend im2col + OpenBLAS sgemm, ours dnnl = its oneDNN path; loadavg at start %s\n",
	       v->major, v->minor, v->patch, load);
	double ours[NSHAPES][NOPS], ourd[NSHAPES][NOPS];
	for (int i = 0; i < NSHAPES; i++)
		bench_ours(be, &shapes[i], ours[i]);
	dl_backend_close(be);
	for (int i = 0; i < NSHAPES; i++)
		bench_ours(bd, &shapes[i], ourd[i]);
	dl_backend_close(bd);

	omp_set_num_threads(threads);
	dnnl_engine_t eng;
	dnnl_stream_t strm;
	CK(dnnl_engine_create(&eng, dnnl_cpu, 0));
	CK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
	printf("\n%-30s %-12s %18s %18s %18s %18s  %s\n", "shape", "op", "ours im2col",
	       "ours dnnl", "onednn nhwc", "onednn any", "onednn impl (nhwc / any)");
	for (int i = 0; i < NSHAPES; i++) {
		const shape *s = &shapes[i];
		double f = flops(s) * 1e-6;
		for (int op = 0; op < NOPS; op++) {
			char i1[64], i2[64];
			double tn = bench_dnnl(eng, strm, s, op, 0, i1, sizeof i1);
			double ta = bench_dnnl(eng, strm, s, op, 1, i2, sizeof i2);
			char cn[32] = "    (ref, not timed)", ca[32] = "    (ref, not timed)";
			if (tn > 0)
				snprintf(cn, sizeof cn, "%8.2f (%6.1f)", tn, f / tn);
			if (ta > 0)
				snprintf(ca, sizeof ca, "%8.2f (%6.1f)", ta, f / ta);
			printf("%-30s %-12s %8.2f (%6.1f) %8.2f (%6.1f) %18s %18s  %s / %s\n", s->name,
			       opname[op], ours[i][op], f / ours[i][op], ourd[i][op], f / ourd[i][op],
			       cn, ca, i1, i2);
		}
	}
	dnnl_stream_destroy(strm);
	dnnl_engine_destroy(eng);
	return 0;
}
