/* bench-ops: times the CPU backend's ops on the LeNet / Fashion-MNIST shapes
 * at batch 128 and a whole synthetic train step (fwd + bwd + adam).
 *
 * Build and run (after `make build/libdltools.a`):  bench/bench-ops.sh [threads]
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Ilib $(pkg-config --cflags openblas) \
 *      bench/bench-ops.c build/libdltools.a $(pkg-config --libs openblas) \
 *      -lcurl -lcrypto -lz -lm -pthread -o build/bench-ops
 */
#include "backend/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *rnd(dl_backend *be, size_t n)
{
	float *p = be->ops->alloc(be, n * sizeof *p);
	if (!p) {
		fprintf(stderr, "bench-ops: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		p[i] = (float)rand() / RAND_MAX - 0.5f;
	return p;
}

static dl_conv_geom conv(int n, int h, int c, int k, int ks, int pad)
{
	dl_conv_geom g = { n, h, h, c, k, ks, ks, 1, 1, pad, pad, pad, pad, 0, 0, 1, 1, 1 };
	g.oh = dl_conv_out(h, pad, pad, ks, 1);
	g.ow = g.oh;
	return g;
}

#define REPS 20
/* wall ms, GFLOP/s from wall time, and CPU ms (all threads): on a busy
 * machine the CPU time is the steadier number */
#define TIME(label, flops, stmt) do {                                         \
	stmt;                                                                 \
	double t0_ = now(), c0_ = cpu_now();                                  \
	for (int r_ = 0; r_ < REPS; r_++)                                     \
		stmt;                                                         \
	double ms_ = (now() - t0_) / REPS * 1e3;                              \
	double cms_ = (cpu_now() - c0_) / REPS * 1e3;                         \
	printf("%-28s %8.3f ms %8.1f GFLOP/s  cpu %8.3f ms\n", label, ms_,    \
	       (flops) > 0 ? (flops) / ms_ * 1e-6 : 0.0, cms_);               \
	} while (0)

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 0, B = 128;
	dl_backend *be;
	dl_err err;
	if (dl_backend_cpu_open(&be, threads, &err)) {
		fprintf(stderr, "bench-ops: %s\n", err.msg);
		return 1;
	}
	const dl_backend_ops *o = be->ops;
	printf("cpu backend, %d threads, batch %d\n", be->threads, B);
	dl_conv_geom c1 = conv(B, 28, 1, 20, 5, 2), c2 = conv(B, 14, 20, 50, 5, 2);
	dl_pool_geom p1 = { B, 28, 28, 20, 2, 2, 2, 2, 0, 0, 14, 14 };
	dl_pool_geom p2 = { B, 14, 14, 50, 2, 2, 2, 2, 0, 0, 7, 7 };
	size_t nx = (size_t)B * 784, na1 = (size_t)B * 784 * 20, np1 = na1 / 4;
	size_t na2 = (size_t)B * 196 * 50, np2 = na2 / 4;
	size_t nw1 = 20 * 25, nw2 = 50 * 500, nw3 = 500 * 2450, nw4 = 10 * 500;
	size_t nparam = nw1 + 20 + nw2 + 50 + nw3 + 500 + nw4 + 10;
	float *P = rnd(be, nparam), *G = rnd(be, nparam), *M = rnd(be, nparam), *V = rnd(be, nparam);
	for (size_t i = 0; i < nparam; i++)
		V[i] = V[i] * V[i];
	float *w1 = P, *b1 = w1 + nw1, *w2 = b1 + 20, *b2 = w2 + nw2, *w3 = b2 + 50;
	float *b3 = w3 + nw3, *w4 = b3 + 500, *b4 = w4 + nw4;
	float *gw1 = G, *gb1 = gw1 + nw1, *gw2 = gb1 + 20, *gb2 = gw2 + nw2, *gw3 = gb2 + 50;
	float *gb3 = gw3 + nw3, *gw4 = gb3 + 500, *gb4 = gw4 + nw4;
	float *x = rnd(be, nx), *a1 = rnd(be, na1), *q1 = rnd(be, np1), *a2 = rnd(be, na2);
	float *q2 = rnd(be, np2), *h3 = rnd(be, (size_t)B * 500), *z = rnd(be, (size_t)B * 10);
	float *da1 = rnd(be, na1), *dq1 = rnd(be, np1), *da2 = rnd(be, na2), *dq2 = rnd(be, np2);
	float *dh3 = rnd(be, (size_t)B * 500), *dz = rnd(be, (size_t)B * 10), *stats = rnd(be, 2);
	int32_t *lab = malloc(B * sizeof *lab);
	for (int i = 0; i < B; i++)
		lab[i] = i % 10;

	double f1 = 2.0 * B * 784 * 25 * 20, f2 = 2.0 * B * 196 * 500 * 50;
	double f3 = 2.0 * B * 2450 * 500, f4 = 2.0 * B * 500 * 10;
	if (o->conv2d_reserve(be, &c1, &err) || o->conv2d_reserve(be, &c2, &err)) {
		fprintf(stderr, "bench-ops: %s\n", err.msg);
		return 1;
	}
	TIME("conv1 fwd", f1, o->conv2d_fwd(be, &c1, x, w1, b1, a1));
	TIME("conv1 bwd_filter (+db)", f1, o->conv2d_bwd_filter(be, &c1, x, da1, gw1, gb1));
	TIME("conv1 bwd_data", f1, o->conv2d_bwd_data(be, &c1, da1, w1, x));
	TIME("conv2 fwd", f2, o->conv2d_fwd(be, &c2, q1, w2, b2, a2));
	TIME("conv2 bwd_data", f2, o->conv2d_bwd_data(be, &c2, da2, w2, dq1));
	TIME("conv2 bwd_filter (+db)", f2, o->conv2d_bwd_filter(be, &c2, q1, da2, gw2, gb2));
	TIME("dense1 fwd (gemm)", f3, o->gemm(be, 0, 1, B, 500, 2450, 1, q2, 2450, w3, 2450, 0, h3, 500));
	TIME("dense1 bwd_data (gemm)", f3, o->gemm(be, 0, 0, B, 2450, 500, 1, dh3, 500, w3, 2450, 0, dq2, 2450));
	TIME("dense1 bwd_filter (gemm)", f3, o->gemm(be, 1, 0, 500, 2450, B, 1, dh3, 500, q2, 2450, 1, gw3, 2450));
	TIME("dense2 fwd (gemm)", f4, o->gemm(be, 0, 1, B, 10, 500, 1, h3, 500, w4, 500, 0, z, 10));
	TIME("maxpool1 fwd", 0, o->maxpool_fwd(be, &p1, a1, q1));
	TIME("maxpool1 bwd", 0, o->maxpool_bwd(be, &p1, a1, q1, dq1, da1));
	TIME("relu1 fwd", 0, o->act_fwd(be, DL_ACT_RELU, 0, na1, a1, a1));
	TIME("relu1 bwd", 0, o->act_bwd(be, DL_ACT_RELU, 0, na1, a1, a1, da1, da1));
	TIME("softmax_xent", 0, o->softmax_xent(be, B, 10, z, lab, 0.0f, 1.0f / B, dz, stats));
	TIME("adam (all params)", 0, o->adam_update(be, nparam, P, G, M, V, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1, 0.5f, 0.5f));

	/* one whole LeNet train step, as the layers would call the ops */
	double step = 0;
	for (int r = -2; r < REPS; r++) {
		double t0 = now();
		o->zero(be, G, nparam * sizeof *G);
		o->conv2d_fwd(be, &c1, x, w1, b1, a1);
		o->act_fwd(be, DL_ACT_RELU, 0, na1, a1, a1);
		o->maxpool_fwd(be, &p1, a1, q1);
		o->conv2d_fwd(be, &c2, q1, w2, b2, a2);
		o->act_fwd(be, DL_ACT_RELU, 0, na2, a2, a2);
		o->maxpool_fwd(be, &p2, a2, q2);
		o->gemm(be, 0, 1, B, 500, 2450, 1, q2, 2450, w3, 2450, 0, h3, 500);
		o->bias_add(be, h3, b3, B, 500);
		o->act_fwd(be, DL_ACT_RELU, 0, (size_t)B * 500, h3, h3);
		o->gemm(be, 0, 1, B, 10, 500, 1, h3, 500, w4, 500, 0, z, 10);
		o->bias_add(be, z, b4, B, 10);
		o->softmax_xent(be, B, 10, z, lab, 0.0f, 1.0f / B, dz, stats);
		o->gemm(be, 1, 0, 10, 500, B, 1, dz, 10, h3, 500, 1, gw4, 500);
		o->bias_grad(be, gb4, dz, B, 10);
		o->gemm(be, 0, 0, B, 500, 10, 1, dz, 10, w4, 500, 0, dh3, 500);
		o->act_bwd(be, DL_ACT_RELU, 0, (size_t)B * 500, h3, h3, dh3, dh3);
		o->gemm(be, 1, 0, 500, 2450, B, 1, dh3, 500, q2, 2450, 1, gw3, 2450);
		o->bias_grad(be, gb3, dh3, B, 500);
		o->gemm(be, 0, 0, B, 2450, 500, 1, dh3, 500, w3, 2450, 0, dq2, 2450);
		o->maxpool_bwd(be, &p2, a2, q2, dq2, da2);
		o->act_bwd(be, DL_ACT_RELU, 0, na2, a2, a2, da2, da2);
		o->conv2d_bwd_filter(be, &c2, q1, da2, gw2, gb2);
		o->conv2d_bwd_data(be, &c2, da2, w2, dq1);
		o->maxpool_bwd(be, &p1, a1, q1, dq1, da1);
		o->act_bwd(be, DL_ACT_RELU, 0, na1, a1, a1, da1, da1);
		o->conv2d_bwd_filter(be, &c1, x, da1, gw1, gb1);
		o->adam_update(be, nparam, P, G, M, V, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1, 0.5f, 0.5f);
		if (r >= 0)
			step += now() - t0;
	}
	step /= REPS;
	printf("%-28s %8.3f ms %8.0f images/s (no conv1 bwd_data)\n", "lenet train step", step * 1e3, B / step);
	dl_backend_close(be);
	return 0;
}
