/* bench-fusion: what ReLU fusion saves (lib/nn/plan.c plan_fusion), on the
 * tensors where vgg16 (32x32, batch 128) and resnet18 (64x64, batch 32)
 * fuse a relu into a batch norm or an add.
 *
 *   make bench-fusion          (THREADS=2 by default: bench-fusion [threads])
 *
 * Per tensor, forward and backward as the layers run them:
 *   bn+relu  separate: bn_fwd_train, act_fwd relu (in place), act_bwd relu,
 *                      bn_bwd;  fused: bn_fwd_train and bn_bwd with relu_coef
 *   add+relu separate: add2, act_fwd relu, act_bwd relu, two copies (each
 *                      input's gradient);  fused: add2 with relu, act_bwd
 *                      into the first input's gradient, one copy
 * The two ways alternate REPS samples of at least SAMPLE_S seconds each;
 * figures are median wall ms per forward + backward, and sep/fused.  The
 * last lines add them up over each model's tensors: ms a training step
 * saves, from these op timings alone.
 */
#include "backend/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPS 7
#define SAMPLE_S 0.05

typedef struct tensor {
	const char *model;
	int n, h, c;
	int bn, add;   /* how many bn+relu and add+relu on this shape, per step */
} tensor;

/* models/vgg16.spec and models/resnet18.spec at their bench-cpu batches */
static const tensor tensors[] = {
	{ "vgg16", 128, 32, 64, 2, 0 },
	{ "vgg16", 128, 16, 128, 2, 0 },
	{ "vgg16", 128, 8, 256, 3, 0 },
	{ "vgg16", 128, 4, 512, 3, 0 },
	{ "vgg16", 128, 2, 512, 3, 0 },
	{ "resnet18", 32, 64, 64, 3, 2 },
	{ "resnet18", 32, 32, 128, 2, 2 },
	{ "resnet18", 32, 16, 256, 2, 2 },
	{ "resnet18", 32, 8, 512, 2, 2 },
};
#define NT (int)(sizeof tensors / sizeof *tensors)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *filled(dl_backend *be, size_t n, unsigned seed)
{
	float *p = be->ops->alloc(be, (n ? n : 1) * sizeof *p);
	if (!p) {
		fprintf(stderr, "bench-fusion: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		p[i] = (float)(seed >> 8) / (float)(1u << 24) - 0.5f;
	}
	return p;
}

typedef struct bufs {
	int rows, c;
	size_t n;
	float *x, *x2, *y, *dy, *dx, *dx2, *st;
} bufs;

/* one forward + backward; kind 0: bn+relu, 1: add+relu */
static void call(dl_backend *be, int kind, int fused, bufs *B)
{
	int c = B->c;
	float *g = B->st, *b = B->st + c, *rm = B->st + 2 * c, *rv = B->st + 3 * c,
	      *sm = B->st + 4 * c, *si = B->st + 5 * c, *dg = B->st + 6 * c, *db = B->st + 7 * c,
	      *coef = B->st + 8 * c;
	if (kind == 0 && fused) {
		be->ops->bn_fwd_train(be, B->rows, c, B->x, g, b, 1e-5f, 0.1f, rm, rv, sm, si, coef, B->y);
		be->ops->bn_bwd(be, B->rows, c, B->x, B->dy, g, sm, si, coef, B->dx, dg, db);
	} else if (kind == 0) {
		be->ops->bn_fwd_train(be, B->rows, c, B->x, g, b, 1e-5f, 0.1f, rm, rv, sm, si, NULL, B->y);
		be->ops->act_fwd(be, DL_ACT_RELU, 0, B->n, B->y, B->y);
		be->ops->act_bwd(be, DL_ACT_RELU, 0, B->n, NULL, B->y, B->dy, B->dx2);
		be->ops->bn_bwd(be, B->rows, c, B->x, B->dx2, g, sm, si, NULL, B->dx, dg, db);
	} else if (fused) {
		be->ops->add2(be, B->n, B->x, B->x2, 1, B->y);
		be->ops->act_bwd(be, DL_ACT_RELU, 0, B->n, NULL, B->y, B->dy, B->dx);
		be->ops->axpby(be, B->n, 1.0f, B->dx, 0.0f, B->dx2);
	} else {
		be->ops->add2(be, B->n, B->x, B->x2, 0, B->y);
		be->ops->act_fwd(be, DL_ACT_RELU, 0, B->n, B->y, B->y);
		be->ops->act_bwd(be, DL_ACT_RELU, 0, B->n, NULL, B->y, B->dy, B->dy);
		be->ops->axpby(be, B->n, 1.0f, B->dy, 0.0f, B->dx);
		be->ops->axpby(be, B->n, 1.0f, B->dy, 0.0f, B->dx2);
	}
}

static double sample(dl_backend *be, int kind, int fused, bufs *B)
{
	int calls = 0;
	double t0 = now(), t;
	do {
		call(be, kind, fused, B);
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
	dl_backend *be;
	dl_err err;
	if (dl_backend_cpu_open(&be, threads, &err)) {
		fprintf(stderr, "bench-fusion: %s\n", err.msg);
		return 1;
	}
	static const char *kname[] = { "bn+relu", "add+relu" };
	printf("bench-fusion: %d threads; median wall ms per forward + backward of %d samples of >= %.0f ms\n",
	       threads, REPS, SAMPLE_S * 1e3);
	printf("%-9s %-16s %-9s %9s %9s %7s %4s\n", "model", "tensor (NHWC)", "pair", "separate",
	       "fused", "sep/fus", "x");
	double saved[2] = { 0, 0 }, sep_all[2] = { 0, 0 };
	for (int s = 0; s < NT; s++) {
		const tensor *T = &tensors[s];
		bufs B = { .rows = T->n * T->h * T->h, .c = T->c };
		B.n = (size_t)B.rows * T->c;
		B.x = filled(be, B.n, 1), B.x2 = filled(be, B.n, 2), B.y = filled(be, B.n, 3);
		B.dy = filled(be, B.n, 4), B.dx = filled(be, B.n, 5), B.dx2 = filled(be, B.n, 6);
		B.st = filled(be, 10 * (size_t)T->c, 7);
		for (int k = 0; k < T->c; k++)
			B.st[3 * T->c + k] = 1.0f;   /* running_var */
		int m = strcmp(T->model, "vgg16") ? 1 : 0;
		for (int kind = 0; kind < 2; kind++) {
			int count = kind ? T->add : T->bn;
			if (!count)
				continue;
			double ts[REPS], tf[REPS];
			call(be, kind, 0, &B);
			call(be, kind, 1, &B);
			for (int r = 0; r < REPS; r++) {
				ts[r] = sample(be, kind, 0, &B);
				tf[r] = sample(be, kind, 1, &B);
			}
			qsort(ts, REPS, sizeof *ts, cmp_d);
			qsort(tf, REPS, sizeof *tf, cmp_d);
			double a = ts[REPS / 2], f = tf[REPS / 2];
			char shape[32];
			snprintf(shape, sizeof shape, "%dx%dx%dx%d", T->n, T->h, T->h, T->c);
			printf("%-9s %-16s %-9s %9.3f %9.3f %7.2f %4d\n", T->model, shape, kname[kind], a, f,
			       a / f, count);
			saved[m] += count * (a - f);
			sep_all[m] += count * a;
		}
		float *all[] = { B.x, B.x2, B.y, B.dy, B.dx, B.dx2, B.st };
		for (size_t i = 0; i < sizeof all / sizeof *all; i++)
			be->ops->free(be, all[i]);
	}
	for (int m = 0; m < 2; m++)
		printf("%s: fusion saves %.1f ms a training step (%.1f ms separate -> %.1f fused)\n",
		       m ? "resnet18" : "vgg16", saved[m], sep_all[m], sep_all[m] - saved[m]);
	dl_backend_close(be);
	return 0;
}
