/* CPU backend: finite-difference checks of the backward ops against their
 * own forward ops, and run-to-run determinism with 2 threads. */
#include "test.h"
#include "backend_test.h"

#include <stdint.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/rng.h"

static dl_backend *open_cpu(dl_test_ctx *t, int threads)
{
	dl_backend *be = NULL;
	dl_err err;
	int rc = dl_backend_cpu_open(&be, threads, &err);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s\n", err.msg);
		exit(1);
	}
	return be;
}

/* Central difference of f at p[i] (eps) against the analytic gradient g. */
#define FD_CHECK(what, p, i, g, eps, f) do {                                  \
	float keep_ = (p)[i];                                                 \
	(p)[i] = keep_ + (eps);                                               \
	double lp_ = (f);                                                     \
	(p)[i] = keep_ - (eps);                                               \
	double lm_ = (f);                                                     \
	(p)[i] = keep_;                                                       \
	double fd_ = (lp_ - lm_) / (2.0 * (eps));                             \
	if (!(fabs(fd_ - (g)) <= 1e-3 * (1 + fabs(fd_)))) {                   \
		fprintf(stderr, "  %s: %s[%zu]: analytic %.7g, numeric %.7g\n", \
			t->name, what, (size_t)(i), (double)(g), fd_);        \
		t->failed = 1;                                                \
	} } while (0)

static double conv_loss(dl_backend *be, const dl_conv_geom *g, const float *x, const float *w,
			const float *b, float *y, const float *r)
{
	conv_reserve(be, g);
	be->ops->conv2d_fwd(be, g, x, w, b, y);
	return dot(y, r, (size_t)g->n * g->oh * g->ow * g->k);
}

TEST(backend_cpu_grad_conv)
{
	dl_conv_geom geoms[] = {
		{ 2, 5, 6, 3, 2, 3, 2, 2, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1 },
		{ 1, 7, 7, 1, 3, 5, 5, 1, 1, 2, 2, 2, 2, 0, 0, 1, 1, 1 },
		{ 2, 4, 5, 4, 3, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1 },
	};
	dl_backend *be = open_cpu(t, 2);
	for (size_t gi = 0; gi < sizeof geoms / sizeof *geoms; gi++) {
		dl_conv_geom g = geoms[gi];
		g.oh = dl_conv_out(g.h, g.pt, g.pb, g.kh, g.sh);
		g.ow = dl_conv_out(g.w, g.pl, g.pr, g.kw, g.sw);
		size_t nx = (size_t)g.n * g.h * g.w * g.c, nw = (size_t)g.k * g.kh * g.kw * g.c;
		size_t ny = (size_t)g.n * g.oh * g.ow * g.k;
		dl_rng r;
		dl_rng_seed(&r, 100 + gi);
		float *x = falloc(be, nx), *w = falloc(be, nw), *b = falloc(be, g.k);
		float *y = falloc(be, ny), *rr = falloc(be, ny), *dx = falloc(be, nx);
		float *dw = falloc(be, nw), *db = falloc(be, g.k);
		fill(&r, x, nx, -1, 1);
		fill(&r, w, nw, -1, 1);
		fill(&r, b, g.k, -1, 1);
		fill(&r, rr, ny, -1, 1);
		conv_reserve(be, &g);
		be->ops->conv2d_bwd_data(be, &g, rr, w, dx);
		be->ops->conv2d_bwd_filter(be, &g, x, rr, dw, db);
		for (size_t i = 0; i < nx; i++)
			FD_CHECK("conv dx", x, i, dx[i], 1e-2f, conv_loss(be, &g, x, w, b, y, rr));
		for (size_t i = 0; i < nw; i++)
			FD_CHECK("conv dw", w, i, dw[i], 1e-2f, conv_loss(be, &g, x, w, b, y, rr));
		for (int i = 0; i < g.k; i++)
			FD_CHECK("conv db", b, i, db[i], 1e-2f, conv_loss(be, &g, x, w, b, y, rr));
		float *bufs[] = { x, w, b, y, rr, dx, dw, db };
		for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
			be->ops->free(be, bufs[i]);
	}
	dl_backend_close(be);
}

static double pool_loss(dl_backend *be, const dl_pool_geom *g, const float *x, float *y,
			const float *r)
{
	be->ops->maxpool_fwd(be, g, x, y);
	return dot(y, r, (size_t)g->n * g->oh * g->ow * g->c);
}

TEST(backend_cpu_grad_maxpool)
{
	/* overlapping 3x3 windows, stride 2, padding 1 */
	dl_pool_geom g = { 2, 7, 6, 3, 3, 3, 2, 2, 1, 1, 0, 0 };
	g.oh = dl_conv_out(g.h, 1, 1, 3, 2);
	g.ow = dl_conv_out(g.w, 1, 1, 3, 2);
	size_t nx = (size_t)g.n * g.h * g.w * g.c, ny = (size_t)g.n * g.oh * g.ow * g.c;
	dl_backend *be = open_cpu(t, 2);
	dl_rng r;
	dl_rng_seed(&r, 9);
	float *x = falloc(be, nx), *y = falloc(be, ny), *rr = falloc(be, ny), *dx = falloc(be, nx);
	/* distinct values 0.05 apart, so a 1e-3 step never changes a max */
	uint32_t *perm = malloc(nx * sizeof *perm);
	for (size_t i = 0; i < nx; i++)
		perm[i] = (uint32_t)i;
	dl_rng_shuffle_u32(&r, perm, (uint32_t)nx);
	for (size_t i = 0; i < nx; i++)
		x[i] = (float)perm[i] * 0.05f - 3;
	fill(&r, rr, ny, -1, 1);
	be->ops->maxpool_fwd(be, &g, x, y);
	be->ops->maxpool_bwd(be, &g, x, y, rr, dx);
	for (size_t i = 0; i < nx; i++)
		FD_CHECK("maxpool dx", x, i, dx[i], 1e-3f, pool_loss(be, &g, x, y, rr));
	free(perm);
	be->ops->free(be, x);
	be->ops->free(be, y);
	be->ops->free(be, rr);
	be->ops->free(be, dx);
	dl_backend_close(be);
}

/* mean cross-entropy in double */
static double xent_loss(int n, int k, const float *z, const int32_t *lab)
{
	double loss = 0;
	for (int i = 0; i < n; i++) {
		const float *zi = z + (size_t)i * k;
		double mx = zi[0], s = 0;
		for (int j = 1; j < k; j++)
			mx = zi[j] > mx ? zi[j] : mx;
		for (int j = 0; j < k; j++)
			s += exp(zi[j] - mx);
		loss += log(s) - (zi[lab[i]] - mx);
	}
	return loss / n;
}

TEST(backend_cpu_grad_softmax_xent)
{
	int n = 6, k = 7;
	dl_backend *be = open_cpu(t, 2);
	dl_rng r;
	dl_rng_seed(&r, 10);
	float *z = falloc(be, (size_t)n * k), *d = falloc(be, (size_t)n * k), st[2] = { 0, 0 };
	int32_t lab[6];
	fill(&r, z, (size_t)n * k, -3, 3);
	for (int i = 0; i < n; i++)
		lab[i] = (int32_t)dl_rng_below(&r, (uint32_t)k);
	be->ops->softmax_xent(be, n, k, z, lab, 0.0f, 1.0f / n, d, st);
	CHECK_NEAR(st[0] / n, xent_loss(n, k, z, lab), 1e-5);
	for (size_t i = 0; i < (size_t)n * k; i++)
		FD_CHECK("softmax_xent dlogits", z, i, d[i], 1e-2f, xent_loss(n, k, z, lab));
	be->ops->free(be, z);
	be->ops->free(be, d);
	dl_backend_close(be);
}

/* ---- determinism ------------------------------------------------------------ */

enum { DET_B = 24 };

typedef struct det_out {
	float *y1, *q1, *y2, *h, *dx1, *dw1, *db1, *dw2, *db2, *dwd, *dbd, *p, *stats;
} det_out;

/* A LeNet-like step on fixed data; every result kept for comparison. */
static void det_run(dl_backend *be, det_out *o)
{
	const dl_backend_ops *op = be->ops;
	dl_conv_geom c1 = { DET_B, 28, 28, 1, 20, 5, 5, 1, 1, 2, 2, 2, 2, 28, 28, 1, 1, 1 };
	dl_conv_geom c2 = { DET_B, 14, 14, 20, 50, 5, 5, 1, 1, 2, 2, 2, 2, 14, 14, 1, 1, 1 };
	dl_pool_geom p1 = { DET_B, 28, 28, 20, 2, 2, 2, 2, 0, 0, 14, 14 };
	size_t nx = DET_B * 784, n1 = DET_B * 784 * 20, n2 = DET_B * 196 * 50;
	dl_rng r;
	dl_rng_seed(&r, 77);
	float *x = falloc(be, nx), *w1 = falloc(be, 500), *w2 = falloc(be, 25000);
	float *wd = falloc(be, 10 * 9800), *g = falloc(be, n2), *m = falloc(be, 25000);
	float *v = falloc(be, 25000), *dq = falloc(be, n1), *dz = falloc(be, DET_B * 10);
	int32_t lab[DET_B];
	fill(&r, x, nx, 0, 1);
	fill(&r, w1, 500, -0.3f, 0.3f);
	fill(&r, w2, 25000, -0.1f, 0.1f);
	fill(&r, wd, 98000, -0.05f, 0.05f);
	fill(&r, g, n2, -1, 1);
	for (int i = 0; i < DET_B; i++)
		lab[i] = i % 10;
	o->y1 = falloc(be, n1);
	o->q1 = falloc(be, n1 / 4);
	o->y2 = falloc(be, n2);
	o->h = falloc(be, DET_B * 10);
	o->dx1 = falloc(be, n1 / 4);
	o->dw1 = falloc(be, 500);
	o->db1 = falloc(be, 20);
	o->dw2 = falloc(be, 25000);
	o->db2 = falloc(be, 50);
	o->dwd = falloc(be, 98000);
	o->dbd = falloc(be, 10);
	o->p = falloc(be, 25000);
	o->stats = falloc(be, 2);
	conv_reserve(be, &c1);
	op->conv2d_fwd(be, &c1, x, w1, NULL, o->y1);
	op->act_fwd(be, DL_ACT_RELU, 0, n1, o->y1, o->y1);
	op->maxpool_fwd(be, &p1, o->y1, o->q1);
	conv_reserve(be, &c2);
	op->conv2d_fwd(be, &c2, o->q1, w2, NULL, o->y2);
	op->gemm(be, 0, 1, DET_B, 10, 9800, 1, o->y2, 9800, wd, 9800, 0, o->h, 10);
	op->softmax_xent(be, DET_B, 10, o->h, lab, 0.0f, 1.0f / DET_B, dz, o->stats);
	op->gemm(be, 1, 0, 10, 9800, DET_B, 1, dz, 10, o->y2, 9800, 1, o->dwd, 9800);
	op->bias_grad(be, o->dbd, dz, DET_B, 10);
	op->conv2d_bwd_filter(be, &c2, o->q1, g, o->dw2, o->db2);
	op->conv2d_bwd_data(be, &c2, g, w2, o->dx1);
	op->maxpool_bwd(be, &p1, o->y1, o->q1, o->dx1, dq);
	op->conv2d_bwd_filter(be, &c1, x, o->y1, o->dw1, o->db1);
	memcpy(o->p, w2, 25000 * sizeof *w2);
	op->adam_update(be, 25000, o->p, o->dw2, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1,
			0.1f, 0.001f);
	float *tmp[] = { x, w1, w2, wd, g, m, v, dq, dz };
	for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++)
		op->free(be, tmp[i]);
}

static void det_free(dl_backend *be, det_out *o)
{
	float **f = (float **)o;
	for (size_t i = 0; i < sizeof *o / sizeof(float *); i++)
		be->ops->free(be, f[i]);
}

TEST(backend_cpu_determinism)
{
	static const size_t sizes[] = { DET_B * 784 * 20, DET_B * 784 * 5, DET_B * 196 * 50,
		DET_B * 10, DET_B * 784 * 5, 500, 20, 25000, 50, 98000, 10, 25000, 2 };
	for (int threads = 2; threads <= 3; threads++) {
		dl_backend *a = open_cpu(t, threads), *b = open_cpu(t, threads);
		det_out oa, ob, oc;
		det_run(a, &oa);
		det_run(b, &ob);
		det_run(a, &oc);    /* again on the same backend: warm scratch */
		float **fa = (float **)&oa, **fb = (float **)&ob, **fc = (float **)&oc;
		for (size_t i = 0; i < sizeof oa / sizeof(float *); i++) {
			if (memcmp(fa[i], fb[i], sizes[i] * sizeof(float)) ||
			    memcmp(fa[i], fc[i], sizes[i] * sizeof(float))) {
				fprintf(stderr, "  %s: output %zu differs between runs (%d threads)\n",
					t->name, i, threads);
				t->failed = 1;
			}
		}
		CHECK(isfinite(oa.stats[0]) && oa.stats[0] > 0);
		det_free(a, &oa);
		det_free(b, &ob);
		det_free(a, &oc);
		dl_backend_close(a);
		dl_backend_close(b);
	}
}
