/* CPU backend, the issue-5 ops: convolution with dilation and groups
 * (depthwise included), average pooling with padding, the activation kinds,
 * the regression losses and label smoothing.  Forward results against
 * naive loops in double; backward ops against central differences of
 * their own forward; thread-count behaviour as cpu.h promises. */
#include "test.h"
#include "backend_test.h"

#include <stdint.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "backend/cpu/cpu.h"
#include "core/rng.h"

/* Central difference of f at p[i] against the analytic gradient g. */
#define FD_CHECK(what, p, i, g, eps, f) do {                                  \
	float keep_ = (p)[i];                                                 \
	(p)[i] = keep_ + (eps);                                               \
	double lp_ = (f);                                                     \
	(p)[i] = keep_ - (eps);                                               \
	double lm_ = (f);                                                     \
	(p)[i] = keep_;                                                       \
	double fd_ = (lp_ - lm_) / (2.0 * (eps));                             \
	if (!(fabs(fd_ - (g)) <= 2e-3 * (1 + fabs(fd_)))) {                   \
		fprintf(stderr, "  %s: %s[%zu]: analytic %.7g, numeric %.7g\n", \
			t->name, what, (size_t)(i), (double)(g), fd_);        \
		t->failed = 1;                                                \
	} } while (0)

/* ---- convolution: dilation, groups ----------------------------------------- */

static int G_(const dl_conv_geom *g) { return g->groups > 1 ? g->groups : 1; }

/* y = conv(x, w) + b in double, straight from the definition in backend.h */
static void conv_ref(const dl_conv_geom *g, const float *x, const float *w, const float *b,
		     double *y)
{
	int G = G_(g), cg = g->c / G, kg = g->k / G, dh = g->dh ? g->dh : 1, dw = g->dw ? g->dw : 1;
	for (int n = 0; n < g->n; n++)
		for (int oy = 0; oy < g->oh; oy++)
			for (int ox = 0; ox < g->ow; ox++)
				for (int k = 0; k < g->k; k++) {
					double s = b ? b[k] : 0;
					int c0 = k / kg * cg;
					for (int ky = 0; ky < g->kh; ky++)
						for (int kx = 0; kx < g->kw; kx++) {
							int iy = oy * g->sh - g->pt + ky * dh;
							int ix = ox * g->sw - g->pl + kx * dw;
							if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
								continue;
							for (int ci = 0; ci < cg; ci++)
								s += (double)x[((size_t)(n * g->h + iy) * g->w + ix) * g->c + c0 + ci] *
								     w[(((size_t)k * g->kh + ky) * g->kw + kx) * cg + ci];
						}
					y[((size_t)(n * g->oh + oy) * g->ow + ox) * g->k + k] = s;
				}
}

static double conv_loss(dl_backend *be, const dl_conv_geom *g, const float *x, const float *w,
			const float *b, float *y, const float *r)
{
	conv_reserve(be, g);
	be->ops->conv2d_fwd(be, g, x, w, b, y);
	return dot(y, r, (size_t)g->n * g->oh * g->ow * g->k);
}

static const dl_conv_geom conv_cases[] = {
	/* n  h  w  c  k kh kw sh sw pt pl pb pr oh ow dh dw groups */
	{ 2, 7, 6, 4, 6, 3, 3, 1, 1, 2, 2, 2, 2, 0, 0, 2, 2, 2 },  /* dilation 2, groups 2 */
	{ 2, 6, 7, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 3 },  /* depthwise */
	{ 1, 7, 7, 4, 8, 3, 3, 2, 2, 1, 0, 1, 2, 0, 0, 1, 2, 4 },  /* depthwise x2, stride, asym pad */
	{ 2, 8, 8, 2, 3, 3, 2, 1, 2, 0, 1, 0, 1, 0, 0, 3, 1, 1 },  /* dilation only, kh != kw */
	{ 2, 5, 5, 6, 4, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 2 },  /* 1x1 grouped */
};

static void conv_out_size(dl_conv_geom *g)
{
	int dh = g->dh ? g->dh : 1, dw = g->dw ? g->dw : 1;
	g->oh = dl_conv_out(g->h, g->pt, g->pb, dh * (g->kh - 1) + 1, g->sh);
	g->ow = dl_conv_out(g->w, g->pl, g->pr, dw * (g->kw - 1) + 1, g->sw);
}

TEST(backend_cpu_conv_dilation_groups)
{
	dl_backend *be = dl_test_cpu(2);
	for (size_t gi = 0; gi < sizeof conv_cases / sizeof *conv_cases; gi++) {
		dl_conv_geom g = conv_cases[gi];
		conv_out_size(&g);
		int cg = g.c / G_(&g);
		size_t nx = (size_t)g.n * g.h * g.w * g.c, nw = (size_t)g.k * g.kh * g.kw * cg;
		size_t ny = (size_t)g.n * g.oh * g.ow * g.k;
		dl_rng r;
		dl_rng_seed(&r, 300 + gi);
		float *x = falloc(be, nx), *w = falloc(be, nw), *b = falloc(be, g.k);
		float *y = falloc(be, ny), *rr = falloc(be, ny), *dx = falloc(be, nx);
		float *dw = falloc(be, nw), *db = falloc(be, g.k);
		double *ref = malloc(ny * sizeof *ref);
		fill(&r, x, nx, -1, 1);
		fill(&r, w, nw, -1, 1);
		fill(&r, b, g.k, -1, 1);
		fill(&r, rr, ny, -1, 1);
		/* forward, with and without bias */
		for (int withb = 0; withb < 2; withb++) {
			conv_reserve(be, &g);
			be->ops->conv2d_fwd(be, &g, x, w, withb ? b : NULL, y);
			conv_ref(&g, x, w, withb ? b : NULL, ref);
			for (size_t i = 0; i < ny; i++)
				CHECK_NEAR(y[i], ref[i], 1e-5 * (1 + fabs(ref[i])));
		}
		conv_reserve(be, &g);
		be->ops->conv2d_bwd_data(be, &g, rr, w, dx);
		be->ops->conv2d_bwd_filter(be, &g, x, rr, dw, db);
		for (size_t i = 0; i < nx; i++)
			FD_CHECK("conv dx", x, i, dx[i], 1e-2f, conv_loss(be, &g, x, w, b, y, rr));
		for (size_t i = 0; i < nw; i++)
			FD_CHECK("conv dw", w, i, dw[i], 1e-2f, conv_loss(be, &g, x, w, b, y, rr));
		for (int i = 0; i < g.k; i++)
			FD_CHECK("conv db", b, i, db[i], 1e-2f, conv_loss(be, &g, x, w, b, y, rr));
		/* bwd_filter accumulates */
		float *dw2 = falloc(be, nw);
		memcpy(dw2, dw, nw * sizeof *dw);
		be->ops->conv2d_bwd_filter(be, &g, x, rr, dw2, NULL);
		for (size_t i = 0; i < nw; i++)
			CHECK_NEAR(dw2[i], 2.0 * dw[i], 1e-5 * (1 + fabs(dw[i])));
		free(ref);
		float *bufs[] = { x, w, b, y, rr, dx, dw, db, dw2 };
		for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
			be->ops->free(be, bufs[i]);
	}
	dl_backend_close(be);
}

/* A batch big enough to be split over threads and chunks: 1 and 3 threads
 * agree to rounding, and 3 threads agree with themselves bit for bit. */
TEST(backend_cpu_conv_groups_threads)
{
	dl_conv_geom g = { 16, 12, 12, 8, 8, 3, 3, 1, 1, 2, 2, 2, 2, 0, 0, 2, 2, 8 };
	conv_out_size(&g);
	size_t nx = (size_t)g.n * g.h * g.w * g.c, nw = (size_t)g.k * g.kh * g.kw;
	size_t ny = (size_t)g.n * g.oh * g.ow * g.k;
	dl_backend *b1 = dl_test_cpu(1), *b3 = dl_test_cpu(3);
	dl_rng r;
	dl_rng_seed(&r, 41);
	float *x = falloc(b1, nx), *w = falloc(b1, nw), *dy = falloc(b1, ny);
	fill(&r, x, nx, -1, 1);
	fill(&r, w, nw, -1, 1);
	fill(&r, dy, ny, -1, 1);
	float *out[3][3];
	for (int v = 0; v < 3; v++) {
		dl_backend *be = v ? b3 : b1;
		float *y = falloc(be, ny), *dx = falloc(be, nx), *dw = falloc(be, nw);
		conv_reserve(be, &g);
		be->ops->conv2d_fwd(be, &g, x, w, NULL, y);
		be->ops->conv2d_bwd_data(be, &g, dy, w, dx);
		be->ops->conv2d_bwd_filter(be, &g, x, dy, dw, NULL);
		out[v][0] = y;
		out[v][1] = dx;
		out[v][2] = dw;
	}
	size_t cnt[3] = { ny, nx, nw };
	for (int o = 0; o < 3; o++) {
		CHECK(!memcmp(out[1][o], out[2][o], cnt[o] * sizeof(float)));
		for (size_t i = 0; i < cnt[o]; i++)
			CHECK_NEAR(out[0][o][i], out[1][o][i], 1e-4 * (1 + fabs(out[0][o][i])));
	}
	for (int v = 0; v < 3; v++)
		for (int o = 0; o < 3; o++)
			free(out[v][o]);
	free(x);
	free(w);
	free(dy);
	dl_backend_close(b1);
	dl_backend_close(b3);
}

/* ---- average pooling --------------------------------------------------------- */

static void avgpool_ref(const dl_pool_geom *g, const float *x, double *y)
{
	for (int n = 0; n < g->n; n++)
		for (int oy = 0; oy < g->oh; oy++)
			for (int ox = 0; ox < g->ow; ox++)
				for (int c = 0; c < g->c; c++) {
					double s = 0;
					for (int ky = 0; ky < g->kh; ky++)
						for (int kx = 0; kx < g->kw; kx++) {
							int iy = oy * g->sh - g->pt + ky, ix = ox * g->sw - g->pl + kx;
							if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w)
								s += x[((size_t)(n * g->h + iy) * g->w + ix) * g->c + c];
						}
					y[((size_t)(n * g->oh + oy) * g->ow + ox) * g->c + c] = s / (g->kh * g->kw);
				}
}

static double avg_loss(dl_backend *be, const dl_pool_geom *g, const float *x, float *y,
		       const float *r)
{
	be->ops->avgpool_fwd(be, g, x, y);
	return dot(y, r, (size_t)g->n * g->oh * g->ow * g->c);
}

TEST(backend_cpu_avgpool)
{
	/* n h w c kh kw sh sw pt pl: overlapping + padded; plain 2x2; 21 channels
	 * (vector block + tail); global (window = image) */
	dl_pool_geom cases[] = {
		{ 2, 7, 6, 3, 3, 3, 2, 2, 1, 1, 0, 0 },
		{ 2, 6, 6, 5, 2, 2, 2, 2, 0, 0, 0, 0 },
		{ 1, 5, 4, 21, 3, 3, 1, 1, 1, 1, 0, 0 },
		{ 3, 4, 5, 7, 4, 5, 4, 5, 0, 0, 0, 0 },
	};
	dl_backend *be = dl_test_cpu(2), *b1 = dl_test_cpu(1);
	for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
		dl_pool_geom g = cases[ci];
		g.oh = dl_conv_out(g.h, g.pt, g.pt, g.kh, g.sh);
		g.ow = dl_conv_out(g.w, g.pl, g.pl, g.kw, g.sw);
		size_t nx = (size_t)g.n * g.h * g.w * g.c, ny = (size_t)g.n * g.oh * g.ow * g.c;
		dl_rng r;
		dl_rng_seed(&r, 500 + ci);
		float *x = falloc(be, nx), *y = falloc(be, ny), *rr = falloc(be, ny);
		float *dx = falloc(be, nx), *y1 = falloc(be, ny), *dx1 = falloc(be, nx);
		double *ref = malloc(ny * sizeof *ref);
		fill(&r, x, nx, -2, 2);
		fill(&r, rr, ny, -1, 1);
		be->ops->avgpool_fwd(be, &g, x, y);
		avgpool_ref(&g, x, ref);
		for (size_t i = 0; i < ny; i++)
			CHECK_NEAR(y[i], ref[i], 1e-5 * (1 + fabs(ref[i])));
		for (size_t i = 0; i < nx; i++)
			dx[i] = 99;   /* written, not accumulated */
		be->ops->avgpool_bwd(be, &g, rr, dx);
		for (size_t i = 0; i < nx; i++)
			FD_CHECK("avgpool dx", x, i, dx[i], 1e-2f, avg_loss(be, &g, x, y, rr));
		/* identical for any thread count (y again: the differences
		 * above left perturbed values in it) */
		be->ops->avgpool_fwd(be, &g, x, y);
		b1->ops->avgpool_fwd(b1, &g, x, y1);
		b1->ops->avgpool_bwd(b1, &g, rr, dx1);
		CHECK(!memcmp(y, y1, ny * sizeof *y));
		CHECK(!memcmp(dx, dx1, nx * sizeof *dx));
		free(ref);
		float *bufs[] = { x, y, rr, dx, y1, dx1 };
		for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
			be->ops->free(be, bufs[i]);
	}
	dl_backend_close(be);
	dl_backend_close(b1);
}

/* ---- activations --------------------------------------------------------------- */

static double act_ref(dl_act_kind k, double alpha, double x)
{
	switch (k) {
	case DL_ACT_RELU: return x > 0 ? x : 0;
	case DL_ACT_LEAKY_RELU: return x > 0 ? x : alpha * x;
	case DL_ACT_TANH: return tanh(x);
	case DL_ACT_SIGMOID: return 1 / (1 + exp(-x));
	case DL_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
	case DL_ACT_HARDSWISH: return x * fmin(fmax(x + 3, 0), 6) / 6;
	}
	return NAN;
}

static double act_loss(dl_backend *be, dl_act_kind k, float alpha, size_t n, const float *x,
		       float *y, const float *r)
{
	be->ops->act_fwd(be, k, alpha, n, x, y);
	return dot(y, r, n);
}

TEST(backend_cpu_activations)
{
	static const dl_act_kind kinds[] = { DL_ACT_RELU, DL_ACT_LEAKY_RELU, DL_ACT_TANH,
					     DL_ACT_SIGMOID, DL_ACT_GELU, DL_ACT_HARDSWISH };
	/* big enough for every kind to run on all threads, odd for a tail */
	size_t n = (1 << 17) + 7, nfd = 300;
	dl_backend *be = dl_test_cpu(2), *b1 = dl_test_cpu(1);
	dl_rng r;
	dl_rng_seed(&r, 77);
	float *x = falloc(be, n), *y = falloc(be, n), *dy = falloc(be, n), *dx = falloc(be, n);
	float *y1 = falloc(be, n), *dx1 = falloc(be, n), *xs = falloc(be, nfd), *ys = falloc(be, nfd);
	fill(&r, x, n, -6, 6);
	fill(&r, dy, n, -1, 1);
	x[0] = -100;   /* saturation: tanh, sigmoid and gelu stay finite */
	x[1] = 100;
	for (size_t ki = 0; ki < sizeof kinds / sizeof *kinds; ki++) {
		dl_act_kind k = kinds[ki];
		float alpha = k == DL_ACT_LEAKY_RELU ? 0.07f : 0.0f;
		be->ops->act_fwd(be, k, alpha, n, x, y);
		int bad = 0;
		for (size_t i = 0; i < n; i++) {
			double ref = act_ref(k, alpha, x[i]);
			if (!(fabs(y[i] - ref) <= 2e-6 * (1 + fabs(ref))) && bad++ < 3)
				fprintf(stderr, "  act %d: f(%g) = %.9g, expected %.9g\n", (int)k,
					(double)x[i], (double)y[i], ref);
		}
		CHECK_INT(bad, 0);
		be->ops->act_bwd(be, k, alpha, n, x, y, dy, dx);
		for (size_t i = 0; i < n; i++)
			CHECK(isfinite(dx[i]));
		/* identical for any thread count */
		b1->ops->act_fwd(b1, k, alpha, n, x, y1);
		b1->ops->act_bwd(b1, k, alpha, n, x, y1, dy, dx1);
		CHECK(!memcmp(y, y1, n * sizeof *y));
		CHECK(!memcmp(dx, dx1, n * sizeof *dx));
		/* backward vs finite differences on a small slice away from 0
		 * (the relu kink) and +-3 (hardswish's), with dx written over dy
		 * in place */
		for (size_t i = 0; i < nfd; i++)
			xs[i] = fabsf(x[i + 2]) < 0.05f || fabsf(fabsf(x[i + 2]) - 3) < 0.05f
					? 0.5f : x[i + 2];
		memcpy(dx1, dy, nfd * sizeof *dx1);
		be->ops->act_fwd(be, k, alpha, nfd, xs, ys);
		be->ops->act_bwd(be, k, alpha, nfd, xs, ys, dx1, dx1);
		for (size_t i = 0; i < nfd; i++)
			FD_CHECK("act dx", xs, i, dx1[i], 1e-2f, act_loss(be, k, alpha, nfd, xs, ys, dy));
	}
	float *bufs[] = { x, y, dy, dx, y1, dx1, xs, ys };
	for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
		be->ops->free(be, bufs[i]);
	dl_backend_close(be);
	dl_backend_close(b1);
}

/* relu's backward reads y only: in place over x and y (as bench-ops and
 * in-place layers call it) it still masks by the sign. */
TEST(backend_cpu_act_inplace)
{
	dl_backend *be = dl_test_cpu(1);
	float a[5] = { -1, 2, 0, 3, -4 }, d[5] = { 1, 1, 1, 1, 1 };
	be->ops->act_fwd(be, DL_ACT_RELU, 0, 5, a, a);
	be->ops->act_bwd(be, DL_ACT_RELU, 0, 5, a, a, d, d);
	float want[5] = { 0, 1, 0, 1, 0 };
	CHECK(!memcmp(d, want, sizeof want));
	dl_backend_close(be);
}

/* ---- losses ---------------------------------------------------------------------- */

static double reg_ref(dl_reg_kind kind, double delta, size_t cnt, const float *p,
		      const float *tg)
{
	double s = 0;
	for (size_t i = 0; i < cnt; i++) {
		double e = (double)p[i] - tg[i], a = fabs(e);
		s += kind == DL_REG_MSE ? e * e : a < delta ? 0.5 * e * e : delta * (a - 0.5 * delta);
	}
	return s;
}

TEST(backend_cpu_regress_loss)
{
	int n = 5, k = 4;
	size_t cnt = (size_t)n * k;
	dl_backend *be = dl_test_cpu(2);
	dl_rng r;
	dl_rng_seed(&r, 12);
	float *p = falloc(be, cnt), *tg = falloc(be, cnt), *d = falloc(be, cnt);
	fill(&r, p, cnt, -3, 3);
	fill(&r, tg, cnt, -1, 1);
	float delta = 0.8f;
	int below = 0, above = 0;
	for (size_t i = 0; i < cnt; i++) {
		float e = fabsf(p[i] - tg[i]);
		if (e < delta - 0.02f)
			below++;
		else if (e > delta + 0.02f)
			above++;
		else
			p[i] += 0.1f;   /* keep finite differences off the seam */
	}
	CHECK(below >= 3 && above >= 3);   /* both sides of delta */
	for (int kind = DL_REG_MSE; kind <= DL_REG_HUBER; kind++) {
		float st[3] = { 1, 2, 3 };   /* accumulated into */
		float gs = 1.0f / (float)cnt;
		be->ops->regress_loss(be, (dl_reg_kind)kind, n, k, p, tg, delta, gs, d, st);
		double ref = reg_ref((dl_reg_kind)kind, delta, cnt, p, tg), sa = 0, sq = 0;
		for (size_t i = 0; i < cnt; i++) {
			double e = (double)p[i] - tg[i];
			sa += fabs(e);
			sq += e * e;
		}
		CHECK_NEAR(st[0], 1 + ref, 1e-5 * (1 + ref));
		CHECK_NEAR(st[1], 2 + sa, 1e-5 * (1 + sa));
		CHECK_NEAR(st[2], 3 + sq, 1e-5 * (1 + sq));
		for (size_t i = 0; i < cnt; i++)
			FD_CHECK("regress dpred", p, i, d[i], 1e-3f,
				 reg_ref((dl_reg_kind)kind, delta, cnt, p, tg) / (double)cnt);
		/* dpred NULL: stats only */
		float st2[3] = { 0, 0, 0 };
		be->ops->regress_loss(be, (dl_reg_kind)kind, n, k, p, tg, delta, gs, NULL, st2);
		CHECK_NEAR(st2[0], ref, 1e-5 * (1 + ref));
	}
	be->ops->free(be, p);
	be->ops->free(be, tg);
	be->ops->free(be, d);
	dl_backend_close(be);
}

/* mean cross-entropy with label smoothing s, in double */
static double xent_smooth(int n, int k, const float *z, const int32_t *lab, double s)
{
	double loss = 0;
	for (int i = 0; i < n; i++) {
		const float *zi = z + (size_t)i * k;
		double mx = zi[0], sum = 0;
		for (int j = 1; j < k; j++)
			mx = zi[j] > mx ? zi[j] : mx;
		for (int j = 0; j < k; j++)
			sum += exp(zi[j] - mx);
		double lse = log(sum) + mx;
		for (int j = 0; j < k; j++)
			loss += ((j == lab[i] ? 1 - s : 0) + s / k) * (lse - zi[j]);
	}
	return loss / n;
}

TEST(backend_cpu_xent_smoothing)
{
	int n = 5, k = 6;
	dl_backend *be = dl_test_cpu(2);
	dl_rng r;
	dl_rng_seed(&r, 13);
	float *z = falloc(be, (size_t)n * k), *d = falloc(be, (size_t)n * k);
	int32_t lab[5];
	fill(&r, z, (size_t)n * k, -4, 4);
	for (int i = 0; i < n; i++)
		lab[i] = (int32_t)dl_rng_below(&r, (uint32_t)k);
	const float ss[] = { 0.1f, 0.3f };
	for (size_t si = 0; si < 2; si++) {
		float st[2] = { 0, 0 };
		be->ops->softmax_xent(be, n, k, z, lab, ss[si], 1.0f / n, d, st);
		double ref = xent_smooth(n, k, z, lab, ss[si]);
		CHECK_NEAR(st[0] / n, ref, 1e-5 * (1 + ref));
		for (size_t i = 0; i < (size_t)n * k; i++)
			FD_CHECK("xent smoothing dlogits", z, i, d[i], 1e-2f,
				 xent_smooth(n, k, z, lab, ss[si]));
	}
	be->ops->free(be, z);
	be->ops->free(be, d);
	dl_backend_close(be);
}

/* ---- batch norm against double loops ---------------------------------------- */

/* Training forward and backward of bn.c against the formulas of its header
 * evaluated in double: a large common offset (1000 + unit noise, where a
 * one-pass sum of squares in float would lose the variance; y is then held
 * to 1e-4 plus 4 ulps of x * scale, the rounding of its float formula,
 * which the reference does not share), row counts
 * that are not a multiple of the 64-row blocks, and channel counts that
 * give each of 2 threads a chunk of 32 (a vectorised width) or 35 (not). */
TEST(cpu_bn_train_matches_double)
{
	dl_backend *be = dl_test_cpu(2);
	const int shapes[][2] = { { 1000, 64 }, { 130, 70 }, { 67, 512 } };
	dl_rng r;
	dl_rng_seed(&r, 11);
	for (int s = 0; s < 3; s++) {
		int rows = shapes[s][0], c = shapes[s][1];
		size_t n = (size_t)rows * c;
		float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), *y = malloc(n * sizeof *y),
		      *dx = malloc(n * sizeof *dx), *p = calloc(8 * (size_t)c, sizeof *p);
		float *g = p, *b = p + c, *rm = p + 2 * c, *rv = p + 3 * c, *sm = p + 4 * c,
		      *si = p + 5 * c, *dg = p + 6 * c, *db = p + 7 * c;
		for (size_t i = 0; i < n; i++) {
			x[i] = 1000.0f + (dl_rng_uniform(&r) - 0.5f) * (float)(1 + i % c % 5);
			dy[i] = dl_rng_uniform(&r) - 0.5f;
		}
		for (int k = 0; k < c; k++) {
			g[k] = 0.5f + dl_rng_uniform(&r);
			b[k] = dl_rng_uniform(&r) - 0.5f;
			rv[k] = 1;
		}
		be->ops->bn_fwd_train(be, rows, c, x, g, b, 1e-5f, 0.1f, rm, rv, sm, si, NULL, y);
		be->ops->bn_bwd(be, rows, c, x, dy, g, sm, si, NULL, dx, dg, db);
		double ey = 0, edx = 0, es = 0;
		for (int k = 0; k < c; k++) {
			double mu = 0, var = 0, sdy = 0, sdx = 0;
			for (int i = 0; i < rows; i++)
				mu += x[(size_t)i * c + k];
			mu /= rows;
			for (int i = 0; i < rows; i++) {
				double d = x[(size_t)i * c + k] - mu;
				var += d * d;
			}
			var /= rows;
			double is = 1.0 / sqrt(var + 1e-5);
			es = fmax(es, fabs(sm[k] - mu) / 1000 + fabs(si[k] - is) / is);
			/* backward is defined on the saved (float) statistics */
			mu = sm[k];
			is = si[k];
			for (int i = 0; i < rows; i++) {
				size_t q = (size_t)i * c + k;
				sdy += dy[q];
				sdx += dy[q] * (x[q] - mu) * is;
			}
			es = fmax(es, fabs(db[k] - sdy) / (1 + fabs(sdy)) +
				      fabs(dg[k] - sdx) / (1 + fabs(sdx)));
			es = fmax(es, fabs(rv[k] - (0.9 + 0.1 * var * (rows > 1 ? rows / (rows - 1.0) : 1))));
			double sc = g[k] * is;
			for (int i = 0; i < rows; i++) {
				size_t q = (size_t)i * c + k;
				double xh = (x[q] - mu) * is;
				/* y = x * scale + shift in float: a few ulps of x * scale */
				ey = fmax(ey, fabs(y[q] - (g[k] * xh + b[k])) - fabs(x[q] * sc) * 0x1p-21);
				double want = g[k] * is * (dy[q] - sdy / rows - xh * sdx / rows);
				edx = fmax(edx, fabs(dx[q] - want) / (1 + fabs(want)));
			}
		}
		if (!(ey < 1e-4 && edx < 1e-4 && es < 1e-5))
			fprintf(stderr, "  rows %d c %d: y %.3g dx %.3g stats %.3g\n", rows, c, ey, edx, es);
		CHECK(ey < 1e-4);
		CHECK(edx < 1e-4);
		CHECK(es < 1e-5);
		free(x);
		free(dy);
		free(y);
		free(dx);
		free(p);
	}
	dl_backend_close(be);
}

/* bn.c's two ways to split the work (rows, with the block sums in the
 * backend's scratch; channels, without it) and any thread count give the
 * same bits. */
TEST(cpu_bn_splits_same_bits)
{
	dl_backend *bes[3] = { dl_test_cpu(2), dl_test_cpu(2), dl_test_cpu(3) };
	cpu_of(bes[1])->bn_channels_only = 1;
	const int shapes[][2] = { { 1000, 64 }, { 130, 70 }, { 4099, 96 } };
	dl_rng r;
	dl_rng_seed(&r, 12);
	for (int s = 0; s < 3; s++) {
		int rows = shapes[s][0], c = shapes[s][1];
		size_t n = (size_t)rows * c;
		float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), *out[3][2], *st[3];
		for (size_t i = 0; i < n; i++) {
			x[i] = 3.0f + dl_rng_uniform(&r);
			dy[i] = dl_rng_uniform(&r) - 0.5f;
		}
		for (int b = 0; b < 3; b++) {
			out[b][0] = malloc(n * sizeof(float));
			out[b][1] = malloc(n * sizeof(float));
			st[b] = calloc(8 * (size_t)c, sizeof(float));
			float *g = st[b], *be = st[b] + c, *rm = st[b] + 2 * c, *rv = st[b] + 3 * c,
			      *sm = st[b] + 4 * c, *si = st[b] + 5 * c, *dg = st[b] + 6 * c,
			      *db = st[b] + 7 * c;
			for (int k = 0; k < c; k++)
				g[k] = 1.0f + 0.01f * k, be[k] = 0.1f, rv[k] = 1;
			bes[b]->ops->bn_fwd_train(bes[b], rows, c, x, g, be, 1e-5f, 0.1f, rm, rv, sm,
						  si, NULL, out[b][0]);
			bes[b]->ops->bn_bwd(bes[b], rows, c, x, dy, g, sm, si, NULL, out[b][1], dg, db);
		}
		for (int b = 1; b < 3; b++) {
			CHECK(!memcmp(out[0][0], out[b][0], n * sizeof(float)));
			CHECK(!memcmp(out[0][1], out[b][1], n * sizeof(float)));
			CHECK(!memcmp(st[0], st[b], 8 * (size_t)c * sizeof(float)));
		}
		CHECK(cpu_of(bes[0])->bn_part_cap > 0 && !cpu_of(bes[1])->bn_part);
		for (int b = 0; b < 3; b++) {
			free(out[b][0]);
			free(out[b][1]);
			free(st[b]);
		}
		free(x);
		free(dy);
	}
	for (int b = 0; b < 3; b++)
		dl_backend_close(bes[b]);
}
