/* bench-conv: oneDNN's direct convolutions next to conv_gemm.c's whole-batch
 * im2col + matmul and oneDNN's Winograd, on the 3x3 convolutions of vgg16 (32x32, batch 128),
 * resnet18 and resnet50 (64x64, batch 32), fp32 and bf16, to choose cpu_conv_gemm_rule
 * (lib/backend/cpu/conv_gemm.c) by measurement.
 *
 *   make bench-conv            (THREADS=2 by default: bench-conv [threads])
 *
 * Both run through the CPU backend: "direct" is the conv op with DL_CONV=
 * dnnl (conv_dnnl.c, its per-call weight reorder and, in bf16, the
 * activation reorders included); "gemm" is cpu_conv_gemm_run (im2col by
 * our threads, then one oneDNN matmul, bias or bias gradient included).
 * Backward data has no gemm form here (n/a).  "wino" is the conv op on
 * oneDNN's fp32 Winograd F(4x4, 3x3) (conv_wino = 1; in the bf16 rows too,
 * where a bf16 run may take it), its activation reorders into and out of
 * nChw16c included.  Per (shape, op) the ways
 * alternate REPS samples of at least SAMPLE_S seconds each; figures are the
 * median wall ms per call; d/g and d/w are direct over gemm and over wino
 * (above 1: the other is faster), and "auto" what DL_CONV=auto runs.
 */
#include "backend/cpu/cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPS 5
#define SAMPLE_S 0.05

typedef struct shape {
	const char *name;
	int n, h, c, k;
} shape;

/* every distinct stride-1 3x3 pad-1 convolution of vgg16, resnet18 and
 * resnet50 (64x64 input, batch 32) */
static const shape shapes[] = {
	{ "vgg16 32x32 64->64", 128, 32, 64, 64 },
	{ "vgg16 16x16 128->128", 128, 16, 128, 128 },
	{ "vgg16 8x8 256->256", 128, 8, 256, 256 },
	{ "vgg16 4x4 256->512", 128, 4, 256, 512 },
	{ "vgg16 4x4 512->512", 128, 4, 512, 512 },
	{ "vgg16 2x2 512->512", 128, 2, 512, 512 },
	{ "resnet18 64x64 64->64", 32, 64, 64, 64 },
	{ "resnet18 32x32 128->128", 32, 32, 128, 128 },
	{ "resnet18 16x16 256->256", 32, 16, 256, 256 },
	{ "resnet18 8x8 512->512", 32, 8, 512, 512 },
	{ "resnet50 16x16 64->64", 32, 16, 64, 64 },
	{ "resnet50 8x8 128->128", 32, 8, 128, 128 },
	{ "resnet50 4x4 256->256", 32, 4, 256, 256 },
	{ "resnet50 2x2 512->512", 32, 2, 512, 512 },
};
#define NSHAPES (int)(sizeof shapes / sizeof *shapes)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *filled(size_t n, unsigned seed)
{
	float *p = malloc((n ? n : 1) * sizeof *p);
	if (!p) {
		fprintf(stderr, "bench-conv: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		p[i] = (float)(seed >> 8) / (float)(1u << 24) - 0.5f;
	}
	return p;
}

typedef struct bufs {
	float *x, *w, *b, *y, *dy, *dx, *dw, *db;
} bufs;

/* one call of op; gemm = 1: cpu_conv_gemm_run, 2: the backend's op on
 * Winograd (conv_wino = 1), else the backend's op on the direct kernel
 * (DL_CONV=dnnl).  -1 if the gemm path declined. */
static int call(dl_backend *be, int op, int gemm, const dl_conv_geom *g, bufs *B)
{
	cpu_of(be)->conv_wino = gemm == 2;
	if (gemm == 1) {
		if (op == CPU_DNNL_FWD)
			return cpu_conv_gemm_run(be, op, g, B->x, B->w, B->b, B->y, NULL);
		return cpu_conv_gemm_run(be, op, g, B->x, B->dy, NULL, B->dw, B->db);
	}
	if (op == CPU_DNNL_FWD)
		be->ops->conv2d_fwd(be, g, B->x, B->w, B->b, B->y);
	else if (op == CPU_DNNL_BWD_DATA)
		be->ops->conv2d_bwd_data(be, g, B->dy, B->w, B->dx);
	else
		be->ops->conv2d_bwd_filter(be, g, B->x, B->dy, B->dw, B->db);
	return 0;
}

static double sample(dl_backend *be, int op, int gemm, const dl_conv_geom *g, bufs *B)
{
	int calls = 0;
	double t0 = now(), t;
	do {
		if (call(be, op, gemm, g, B))
			return -1;
		calls++;
	} while ((t = now() - t0) < SAMPLE_S);
	return t / calls * 1e3;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 2;
	static const char *precs[] = { "fp32", "bf16" };
	static const char *opname[] = { "", "fwd", "bwd_data", "bwd_w" };
	printf("bench-conv: %d threads; median wall ms per call of %d samples of >= %.0f ms\n",
	       threads, REPS, SAMPLE_S * 1e3);
	printf("%-26s %-5s %-8s %9s %9s %7s %9s %7s  %s\n", "shape (3x3 pad 1)", "prec", "op",
	       "direct", "gemm", "d/g", "wino", "d/w", "auto");
	for (int p = 0; p < 2; p++) {
		dl_backend *be;
		dl_err err;
		if (dl_backend_cpu_open_prec(&be, threads, precs[p], &err)) {
			printf("%s: %s\n", precs[p], err.msg);
			continue;
		}
		cpu_impl *im = cpu_of(be);
		im->conv_mode = CPU_CONV_DNNL;
		for (int s = 0; s < NSHAPES; s++) {
			const shape *S = &shapes[s];
			dl_conv_geom g = { S->n, S->h, S->h, S->c, S->k, 3, 3, 1, 1, 1, 1, 1, 1,
					   S->h, S->h, 1, 1, 1 };
			size_t nx = (size_t)S->n * S->h * S->h * S->c, ny = nx / S->c * S->k;
			size_t nw = (size_t)S->k * 9 * S->c;
			bufs B = { filled(nx, 1), filled(nw, 2), filled(S->k, 3), filled(ny, 4),
				   filled(ny, 5), filled(nx, 6), filled(nw, 7), filled(S->k, 8) };
			if (be->ops->conv2d_reserve(be, &g, &err) || cpu_conv_gemm_grow(im, &g)) {
				printf("%s: out of memory\n", S->name);
				return 1;
			}
			for (int op = CPU_DNNL_FWD; op <= CPU_DNNL_BWD_W; op++) {
				double td[REPS], tg[REPS], tw[REPS];
				int has_gemm = op != CPU_DNNL_BWD_DATA, has_wino = 1;
				call(be, op, 0, &g, &B);   /* warm-up: primitives built */
				if (has_gemm && call(be, op, 1, &g, &B))
					has_gemm = 0;
				unsigned long w0 = cpu_dnnl_wino_calls(im);
				if (has_wino)
					call(be, op, 2, &g, &B);
				has_wino = has_wino && cpu_dnnl_wino_calls(im) > w0;
				for (int r = 0; r < REPS; r++) {
					td[r] = sample(be, op, 0, &g, &B);
					tg[r] = has_gemm ? sample(be, op, 1, &g, &B) : 0;
					tw[r] = has_wino ? sample(be, op, 2, &g, &B) : 0;
				}
				qsort(td, REPS, sizeof *td, cmp_d);
				qsort(tg, REPS, sizeof *tg, cmp_d);
				qsort(tw, REPS, sizeof *tw, cmp_d);
				int rule = cpu_conv_gemm_rule(&g, op, p == 1);
				const char *auto_runs = cpu_dnnl_wino_rule(&g, p == 1) ? "wino" :
							rule ? "gemm" : "direct";
				char gs[16] = "n/a", gr[16] = "", ws[16] = "n/a", wr[16] = "";
				double d = td[REPS / 2];
				if (has_gemm) {
					snprintf(gs, sizeof gs, "%.2f", tg[REPS / 2]);
					snprintf(gr, sizeof gr, "%.2f", d / tg[REPS / 2]);
				}
				if (has_wino) {
					snprintf(ws, sizeof ws, "%.2f", tw[REPS / 2]);
					snprintf(wr, sizeof wr, "%.2f", d / tw[REPS / 2]);
				}
				printf("%-26s %-5s %-8s %9.2f %9s %7s %9s %7s  %s\n", S->name, precs[p],
				       opname[op], d, gs, gr, ws, wr, auto_runs);
				fflush(stdout);
			}
			float *all[] = { B.x, B.w, B.b, B.y, B.dy, B.dx, B.dw, B.db };
			for (size_t i = 0; i < sizeof all / sizeof *all; i++)
				free(all[i]);
		}
		dl_backend_close(be);
	}
	return 0;
}
