/* CPU backend ops against naive, obviously-correct reference loops
 * (accumulating in double).  Each op is run with 1, 2 and 3 threads so
 * every partitioning path is exercised. */
#include "test.h"
#include "backend_test.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

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

/* |a - b| <= tol * (1 + |b|) everywhere; prints the first mismatch. */
static int close_to(dl_test_ctx *t, const char *what, const float *a, const double *b,
		    size_t n, double tol)
{
	for (size_t i = 0; i < n; i++) {
		if (!(fabs(a[i] - b[i]) <= tol * (1 + fabs(b[i])))) {
			fprintf(stderr, "  %s: %s[%zu] = %.9g, expected %.9g\n", t->name, what,
				i, a[i], b[i]);
			t->failed = 1;
			return 0;
		}
	}
	return 1;
}

/* |a - b| <= tol * mag where mag[i] is the sum of the magnitudes of the
 * terms that make b[i]: the float rounding bound of a long sum. */
static int close_mag(dl_test_ctx *t, const char *what, const float *a, const double *b,
		     const double *mag, size_t n, double tol)
{
	for (size_t i = 0; i < n; i++) {
		if (!(fabs(a[i] - b[i]) <= tol * (1e-6 + mag[i]))) {
			fprintf(stderr, "  %s: %s[%zu] = %.9g, expected %.9g (terms' magnitude %g)\n",
				t->name, what, i, a[i], b[i], mag[i]);
			t->failed = 1;
			return 0;
		}
	}
	return 1;
}

/* ---- memory --------------------------------------------------------- */

TEST(backend_cpu_alloc)
{
	dl_backend *be = open_cpu(t, 2);
	CHECK_INT(be->threads, 2);
	CHECK(!strcmp(be->ops->name, "cpu"));
	for (size_t bytes = 1; bytes < 100000; bytes = bytes * 7 + 3) {
		unsigned char *p = be->ops->alloc(be, bytes);
		CHECK(p != NULL);
		if (!p)
			continue;
		CHECK_INT((uintptr_t)p % 64, 0);
		size_t nz = 0;
		for (size_t i = 0; i < bytes; i++)
			nz += p[i] != 0;
		CHECK_INT(nz, 0);
		memset(p, 0xab, bytes);
		be->ops->free(be, p);
	}
	/* 2 MiB and more: 2 MiB aligned (advised as transparent huge pages),
	 * still zeroed to the last byte */
	const size_t huge = (size_t)2 << 20;
	for (size_t bytes = huge; bytes <= 9 * huge; bytes = bytes * 2 + 4093) {
		unsigned char *p = be->ops->alloc(be, bytes);
		CHECK(p != NULL);
		if (!p)
			continue;
		CHECK_INT((uintptr_t)p % huge, 0);
		size_t nz = 0;
		for (size_t i = 0; i < bytes; i += 4096)
			nz += p[i] != 0;
		CHECK_INT(nz + p[bytes - 1], 0);
		memset(p, 0xab, bytes);
		be->ops->free(be, p);
	}
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	/* (the sanitizers' allocators abort on absurd sizes instead) */
	CHECK(be->ops->alloc(be, SIZE_MAX / 2) == NULL);
#endif
	float src[5] = { 1, 2, 3, 4, 5 }, back[5] = { 0 };
	float *d = falloc(be, 5);
	be->ops->to_device(be, d, src, sizeof src);
	be->ops->to_host(be, back, d, sizeof back);
	CHECK(!memcmp(src, back, sizeof src));
	be->ops->zero(be, d, sizeof src);
	be->ops->sync(be);
	CHECK(d[0] == 0 && d[4] == 0);
	be->ops->free(be, d);
	be->ops->free(be, NULL);
	dl_backend_close(be);

	be = open_cpu(t, 0);
	CHECK_INT(be->threads, sysconf(_SC_NPROCESSORS_ONLN));
	dl_backend_close(be);
	dl_err err;
	CHECK_INT(dl_backend_open(&be, "cpu", 1, &err), 0);
	CHECK_INT(be->threads, 1);
	dl_backend_close(be);
}

/* ---- gemm and bias ---------------------------------------------------- */

static void gemm_case(dl_test_ctx *t, dl_backend *be, int ta, int tb, int m, int n, int k,
		      float alpha, float beta)
{
	dl_rng r;
	dl_rng_seed(&r, (uint64_t)(ta * 2 + tb) * 1000 + m);
	int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
	int lda = ac + 3, ldb = bc + 5, ldc = n + 2;
	float *a = falloc(be, (size_t)ar * lda), *b = falloc(be, (size_t)br * ldb);
	float *c = falloc(be, (size_t)m * ldc);
	double *want = calloc((size_t)m * ldc, sizeof *want);
	fill(&r, a, (size_t)ar * lda, -1, 1);
	fill(&r, b, (size_t)br * ldb, -1, 1);
	fill(&r, c, (size_t)m * ldc, -1, 1);
	for (int i = 0; i < m; i++) {
		for (int j = 0; j < ldc; j++) {
			double s = 0;
			if (j >= n) {   /* padding between rows stays untouched */
				want[(size_t)i * ldc + j] = c[(size_t)i * ldc + j];
				continue;
			}
			for (int p = 0; p < k; p++) {
				double av = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
				double bv = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
				s += av * bv;
			}
			want[(size_t)i * ldc + j] = alpha * s + beta * c[(size_t)i * ldc + j];
		}
	}
	be->ops->gemm(be, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	char what[64];
	snprintf(what, sizeof what, "gemm ta=%d tb=%d m=%d n=%d k=%d c", ta, tb, m, n, k);
	close_to(t, what, c, want, (size_t)m * ldc, 1e-5);
	be->ops->free(be, a);
	be->ops->free(be, b);
	be->ops->free(be, c);
	free(want);
}

TEST(backend_cpu_gemm)
{
	for (int threads = 1; threads <= 3; threads++) {
		dl_backend *be = open_cpu(t, threads);
		for (int ta = 0; ta < 2; ta++) {
			for (int tb = 0; tb < 2; tb++) {
				gemm_case(t, be, ta, tb, 7, 5, 3, 1.0f, 0.0f);
				gemm_case(t, be, ta, tb, 37, 29, 41, 0.5f, 1.0f);
				gemm_case(t, be, ta, tb, 150, 97, 120, -1.0f, 0.25f);  /* threaded, rows */
				gemm_case(t, be, ta, tb, 33, 210, 150, 1.0f, 1.0f);    /* threaded, columns */
			}
		}
		dl_backend_close(be);
	}
}

TEST(backend_cpu_bias)
{
	dl_rng r;
	dl_rng_seed(&r, 7);
	int shapes[][2] = { { 3, 5 }, { 128, 10 }, { 300, 500 } };
	for (int threads = 1; threads <= 3; threads++) {
		dl_backend *be = open_cpu(t, threads);
		for (int s = 0; s < 3; s++) {
			int rows = shapes[s][0], cols = shapes[s][1];
			size_t n = (size_t)rows * cols;
			float *y = falloc(be, n), *b = falloc(be, cols), *db = falloc(be, cols);
			double *want = calloc(n, sizeof *want);
			fill(&r, y, n, -1, 1);
			fill(&r, b, cols, -1, 1);
			fill(&r, db, cols, -1, 1);
			for (size_t i = 0; i < n; i++)
				want[i] = (double)y[i] + b[i % cols];
			be->ops->bias_add(be, y, b, rows, cols);
			close_to(t, "bias_add y", y, want, n, 1e-6);
			/* db accumulates */
			for (int j = 0; j < cols; j++) {
				want[j] = db[j];
				for (int i = 0; i < rows; i++)
					want[j] += y[(size_t)i * cols + j];
			}
			be->ops->bias_grad(be, db, y, rows, cols);
			close_to(t, "bias_grad db", db, want, cols, 1e-5);
			be->ops->free(be, y);
			be->ops->free(be, b);
			be->ops->free(be, db);
			free(want);
		}
		dl_backend_close(be);
	}
}

/* ---- convolution -------------------------------------------------------- */

static dl_conv_geom mkconv(int n, int h, int w, int c, int k, int kh, int kw, int sh, int sw,
			   int pt, int pl, int pb, int pr)
{
	dl_conv_geom g = { n, h, w, c, k, kh, kw, sh, sw, pt, pl, pb, pr, 0, 0, 1, 1, 1 };
	g.oh = dl_conv_out(h, pt, pb, kh, sh);
	g.ow = dl_conv_out(w, pl, pr, kw, sw);
	return g;
}

/* Calls f(ctx, yi, xi, wi) for every (output, input, weight) triple that
 * meets inside the image: the definition of the convolution. */
#define FOR_CONV_TAPS(g, body) do {                                               \
	for (int n_ = 0; n_ < (g)->n; n_++)                                       \
	for (int oy_ = 0; oy_ < (g)->oh; oy_++)                                   \
	for (int ox_ = 0; ox_ < (g)->ow; ox_++)                                   \
	for (int k_ = 0; k_ < (g)->k; k_++)                                       \
	for (int ky_ = 0; ky_ < (g)->kh; ky_++)                                   \
	for (int kx_ = 0; kx_ < (g)->kw; kx_++) {                                 \
		int iy_ = oy_ * (g)->sh - (g)->pt + ky_;                          \
		int ix_ = ox_ * (g)->sw - (g)->pl + kx_;                          \
		if (iy_ < 0 || iy_ >= (g)->h || ix_ < 0 || ix_ >= (g)->w)         \
			continue;                                                 \
		for (int c_ = 0; c_ < (g)->c; c_++) {                             \
			size_t yi = (((size_t)n_ * (g)->oh + oy_) * (g)->ow + ox_) * (g)->k + k_; \
			size_t xi = (((size_t)n_ * (g)->h + iy_) * (g)->w + ix_) * (g)->c + c_; \
			size_t wi = (((size_t)k_ * (g)->kh + ky_) * (g)->kw + kx_) * (g)->c + c_; \
			body;                                                     \
		}                                                                 \
	} } while (0)

static void conv_case(dl_test_ctx *t, int threads, dl_conv_geom g)
{
	dl_backend *be = open_cpu(t, threads);
	dl_rng r;
	dl_rng_seed(&r, (uint64_t)g.c * 31 + g.k);
	size_t nx = (size_t)g.n * g.h * g.w * g.c, nw = (size_t)g.k * g.kh * g.kw * g.c;
	size_t ny = (size_t)g.n * g.oh * g.ow * g.k;
	float *x = falloc(be, nx), *w = falloc(be, nw), *b = falloc(be, g.k);
	float *y = falloc(be, ny), *dy = falloc(be, ny), *dx = falloc(be, nx);
	float *dw = falloc(be, nw), *db = falloc(be, g.k);
	double *ry = calloc(ny, sizeof *ry), *rdx = calloc(nx, sizeof *rdx);
	double *rdw = calloc(nw, sizeof *rdw), *rdb = calloc(g.k, sizeof *rdb);
	fill(&r, x, nx, -1, 1);
	fill(&r, w, nw, -1, 1);
	fill(&r, b, g.k, -1, 1);
	fill(&r, dy, ny, -1, 1);
	fill(&r, dx, nx, 5, 6);      /* garbage: bwd_data must overwrite */
	fill(&r, dw, nw, -1, 1);     /* bwd_filter must accumulate */
	fill(&r, db, g.k, -1, 1);
	double *my = calloc(ny, sizeof *my), *mdx = calloc(nx, sizeof *mdx);
	double *mdw = calloc(nw, sizeof *mdw), *mdb = calloc(g.k, sizeof *mdb);
	char what[160];
	snprintf(what, sizeof what, "threads %d, n%d h%d w%d c%d k%d %dx%d s%d,%d p%d,%d,%d,%d",
		 threads, g.n, g.h, g.w, g.c, g.k, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.pb, g.pr);
	double tol = 1e-5;

	/* forward without and with bias */
	FOR_CONV_TAPS(&g, { ry[yi] += (double)x[xi] * w[wi]; my[yi] += fabs(x[xi] * w[wi]); });
	conv_reserve(be, &g);
	be->ops->conv2d_fwd(be, &g, x, w, NULL, y);
	if (!close_mag(t, "conv2d_fwd y (no bias)", y, ry, my, ny, tol))
		fprintf(stderr, "    %s\n", what);
	for (size_t i = 0; i < ny; i++) {
		ry[i] += b[i % g.k];
		my[i] += fabs(b[i % g.k]);
	}
	be->ops->conv2d_fwd(be, &g, x, w, b, y);
	if (!close_mag(t, "conv2d_fwd y", y, ry, my, ny, tol))
		fprintf(stderr, "    %s\n", what);

	FOR_CONV_TAPS(&g, { rdx[xi] += (double)dy[yi] * w[wi]; mdx[xi] += fabs(dy[yi] * w[wi]); });
	be->ops->conv2d_bwd_data(be, &g, dy, w, dx);
	if (!close_mag(t, "conv2d_bwd_data dx", dx, rdx, mdx, nx, tol))
		fprintf(stderr, "    %s\n", what);

	for (size_t i = 0; i < nw; i++) {
		rdw[i] = dw[i];
		mdw[i] = fabs(dw[i]);
	}
	for (int i = 0; i < g.k; i++) {
		rdb[i] = db[i];
		mdb[i] = fabs(db[i]);
	}
	FOR_CONV_TAPS(&g, { rdw[wi] += (double)dy[yi] * x[xi]; mdw[wi] += fabs(dy[yi] * x[xi]); });
	for (size_t i = 0; i < ny; i++) {
		rdb[i % g.k] += dy[i];
		mdb[i % g.k] += fabs(dy[i]);
	}
	be->ops->conv2d_bwd_filter(be, &g, x, dy, dw, db);
	if (!close_mag(t, "conv2d_bwd_filter dw", dw, rdw, mdw, nw, tol) ||
	    !close_mag(t, "conv2d_bwd_filter db", db, rdb, mdb, g.k, tol))
		fprintf(stderr, "    %s\n", what);
	/* db may be NULL: dw accumulates once more */
	FOR_CONV_TAPS(&g, { rdw[wi] += (double)dy[yi] * x[xi]; mdw[wi] += fabs(dy[yi] * x[xi]); });
	be->ops->conv2d_bwd_filter(be, &g, x, dy, dw, NULL);
	if (!close_mag(t, "conv2d_bwd_filter dw (db NULL)", dw, rdw, mdw, nw, tol))
		fprintf(stderr, "    %s\n", what);
	free(my);
	free(mdx);
	free(mdw);
	free(mdb);

	float *bufs[] = { x, w, b, y, dy, dx, dw, db };
	for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
		be->ops->free(be, bufs[i]);
	free(ry);
	free(rdx);
	free(rdw);
	free(rdb);
	dl_backend_close(be);
}

TEST(backend_cpu_conv)
{
	for (int threads = 1; threads <= 3; threads++) {
		/* c = 1, odd sizes, asymmetric padding */
		conv_case(t, threads, mkconv(2, 7, 6, 1, 3, 3, 2, 1, 1, 1, 0, 2, 1));
		/* c > 1, stride 2, padding on one side only */
		conv_case(t, threads, mkconv(3, 9, 8, 5, 4, 3, 3, 2, 2, 0, 1, 1, 0));
		/* different strides per axis, kernel wider than padding covers */
		conv_case(t, threads, mkconv(2, 11, 7, 3, 6, 2, 4, 2, 1, 2, 3, 0, 1));
		/* 1x1, stride 1, no padding: the direct path */
		conv_case(t, threads, mkconv(3, 5, 5, 6, 7, 1, 1, 1, 1, 0, 0, 0, 0));
		/* 1x1 with stride 2 is not direct */
		conv_case(t, threads, mkconv(2, 5, 6, 4, 3, 1, 1, 2, 2, 0, 0, 0, 0));
		/* padding larger than the kernel reach: rows of pure zeros */
		conv_case(t, threads, mkconv(1, 4, 3, 2, 2, 3, 3, 1, 1, 3, 3, 3, 3));
	}
	/* LeNet's layers, a few images: chunks of rows span images */
	conv_case(t, 2, mkconv(3, 28, 28, 1, 20, 5, 5, 1, 1, 2, 2, 2, 2));
	conv_case(t, 2, mkconv(5, 14, 14, 20, 50, 5, 5, 1, 1, 2, 2, 2, 2));
	conv_case(t, 3, mkconv(5, 14, 14, 20, 50, 5, 5, 1, 1, 2, 2, 2, 2));
	/* one im2col row larger than the preallocated scratch: it grows */
	conv_case(t, 2, mkconv(2, 4, 4, 3000, 3, 7, 7, 1, 1, 3, 3, 3, 3));
}

/* ---- max pooling ---------------------------------------------------------- */

/* The definition: max over the window's cells inside the image, scanned
 * row-major; the first cell holding the max gets the gradient. */
static void ref_maxpool(const dl_pool_geom *g, const float *x, const float *dy, double *y,
			double *dx)
{
	size_t nx = (size_t)g->n * g->h * g->w * g->c;
	for (size_t i = 0; i < nx; i++)
		dx[i] = 0;
	for (int n = 0; n < g->n; n++)
	for (int oy = 0; oy < g->oh; oy++)
	for (int ox = 0; ox < g->ow; ox++)
	for (int c = 0; c < g->c; c++) {
		long best = -1;
		for (int ky = 0; ky < g->kh; ky++) {
			for (int kx = 0; kx < g->kw; kx++) {
				int iy = oy * g->sh - g->pt + ky, ix = ox * g->sw - g->pl + kx;
				if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
					continue;
				long xi = (((long)n * g->h + iy) * g->w + ix) * g->c + c;
				if (best < 0 || x[xi] > x[best])
					best = xi;
			}
		}
		size_t yi = (((size_t)n * g->oh + oy) * g->ow + ox) * g->c + c;
		y[yi] = best < 0 ? 0 : x[best];
		if (best >= 0)
			dx[best] += dy[yi];
	}
}

static void pool_case(dl_test_ctx *t, int threads, dl_pool_geom g, int ties)
{
	dl_backend *be = open_cpu(t, threads);
	dl_rng r;
	dl_rng_seed(&r, (uint64_t)g.c * 17 + g.kh);
	size_t nx = (size_t)g.n * g.h * g.w * g.c, ny = (size_t)g.n * g.oh * g.ow * g.c;
	float *x = falloc(be, nx), *y = falloc(be, ny), *dy = falloc(be, ny), *dx = falloc(be, nx);
	double *ry = calloc(ny, sizeof *ry), *rdx = calloc(nx, sizeof *rdx);
	fill(&r, x, nx, -1, 1);
	if (ties)       /* few distinct values, all negative: many ties, and
			 * a padding cell taken as 0 would wrongly win */
		for (size_t i = 0; i < nx; i++)
			x[i] = -1 - (float)(int)(3 * (x[i] + 1) / 2);
	fill(&r, dy, ny, -1, 1);
	fill(&r, dx, nx, 7, 8);
	ref_maxpool(&g, x, dy, ry, rdx);
	be->ops->maxpool_fwd(be, &g, x, y);
	close_to(t, "maxpool_fwd y", y, ry, ny, 0);
	be->ops->maxpool_bwd(be, &g, x, y, dy, dx);
	close_to(t, "maxpool_bwd dx", dx, rdx, nx, 1e-6);
	be->ops->free(be, x);
	be->ops->free(be, y);
	be->ops->free(be, dy);
	be->ops->free(be, dx);
	free(ry);
	free(rdx);
	dl_backend_close(be);
}

static dl_pool_geom mkpool(int n, int h, int w, int c, int kh, int kw, int sh, int sw,
			   int pt, int pl, int pb, int pr)
{
	dl_pool_geom g = { n, h, w, c, kh, kw, sh, sw, pt, pl, 0, 0 };
	g.oh = dl_conv_out(h, pt, pb, kh, sh);
	g.ow = dl_conv_out(w, pl, pr, kw, sw);
	return g;
}

TEST(backend_cpu_maxpool)
{
	for (int threads = 1; threads <= 3; threads++) {
		for (int ties = 0; ties < 2; ties++) {
			pool_case(t, threads, mkpool(4, 28, 28, 20, 2, 2, 2, 2, 0, 0, 0, 0), ties);
			pool_case(t, threads, mkpool(3, 7, 9, 3, 3, 3, 2, 2, 1, 1, 1, 1), ties);
			/* overlapping windows (stride < kernel), asymmetric */
			pool_case(t, threads, mkpool(2, 8, 7, 1, 3, 2, 1, 2, 1, 0, 2, 1), ties);
			/* odd size without padding drops the last row/column */
			pool_case(t, threads, mkpool(2, 5, 5, 4, 2, 2, 2, 2, 0, 0, 0, 0), ties);
		}
	}
}

/* ---- activations ----------------------------------------------------------- */

TEST(backend_cpu_relu)
{
	size_t sizes[] = { 1, 17, 300000 };
	dl_rng r;
	dl_rng_seed(&r, 3);
	for (int threads = 1; threads <= 3; threads++) {
		dl_backend *be = open_cpu(t, threads);
		for (int s = 0; s < 3; s++) {
			size_t n = sizes[s];
			float *x = falloc(be, n), *y = falloc(be, n), *dy = falloc(be, n);
			float *dx = falloc(be, n);
			double *want = calloc(n, sizeof *want);
			fill(&r, x, n, -1, 1);
			x[0] = 0;
			fill(&r, dy, n, -1, 1);
			for (size_t i = 0; i < n; i++)
				want[i] = x[i] > 0 ? x[i] : 0;
			be->ops->act_fwd(be, DL_ACT_RELU, 0, n, x, y);
			close_to(t, "relu y", y, want, n, 0);
			for (size_t i = 0; i < n; i++)
				want[i] = x[i] > 0 ? dy[i] : 0;
			be->ops->act_bwd(be, DL_ACT_RELU, 0, n, x, y, dy, dx);
			close_to(t, "relu dx", dx, want, n, 0);
			be->ops->act_bwd(be, DL_ACT_RELU, 0, n, x, y, dy, dy);   /* in place */
			close_to(t, "relu dx (in place)", dy, want, n, 0);
			for (size_t i = 0; i < n; i++)
				want[i] = x[i] > 0 ? x[i] : 0;
			be->ops->act_fwd(be, DL_ACT_RELU, 0, n, x, x);            /* in place */
			close_to(t, "relu y (in place)", x, want, n, 0);
			be->ops->free(be, x);
			be->ops->free(be, y);
			be->ops->free(be, dy);
			be->ops->free(be, dx);
			free(want);
		}
		dl_backend_close(be);
	}
}

/* ---- softmax and cross-entropy -------------------------------------------- */

/* softmax in double, the row max subtracted; returns -log p[label] */
static double ref_softmax(int k, const float *z, int label, double *p)
{
	double mx = z[0], sum = 0;
	for (int j = 1; j < k; j++)
		mx = z[j] > mx ? z[j] : mx;
	for (int j = 0; j < k; j++)
		sum += exp(z[j] - mx);
	for (int j = 0; j < k; j++)
		p[j] = exp(z[j] - mx) / sum;
	return log(sum) - (z[label] - mx);
}

static void xent_case(dl_test_ctx *t, dl_backend *be, int n, int k, float scale)
{
	dl_rng r;
	dl_rng_seed(&r, (uint64_t)n * k);
	float *z = falloc(be, (size_t)n * k), *d = falloc(be, (size_t)n * k);
	float *probs = falloc(be, (size_t)n * k), *stats = falloc(be, 2);
	int32_t *lab = calloc(n, sizeof *lab);
	double *p = calloc((size_t)n * k, sizeof *p), *want = calloc((size_t)n * k, sizeof *want);
	fill(&r, z, (size_t)n * k, -scale, scale);
	for (int i = 0; i < n; i++)
		lab[i] = (int32_t)dl_rng_below(&r, (uint32_t)k);
	if (n > 2 && k > 2) {
		z[0] = z[1] = scale * 2;    /* tie in row 0: argmax is column 0 */
		lab[0] = 1;                  /* so row 0 is wrong */
		z[k + 2] = scale * 2;        /* row 1: clear max at 2 */
		lab[1] = 2;                  /* right */
	}
	double loss = 0, correct = 0, gs = 0.25;
	for (int i = 0; i < n; i++) {
		const float *zi = z + (size_t)i * k;
		loss += ref_softmax(k, zi, lab[i], p + (size_t)i * k);
		int am = 0;
		for (int j = 1; j < k; j++)
			am = zi[j] > zi[am] ? j : am;
		correct += am == lab[i];
		for (int j = 0; j < k; j++)
			want[(size_t)i * k + j] = (p[(size_t)i * k + j] - (j == lab[i])) * gs;
	}
	stats[0] = 1.5f;    /* accumulates */
	stats[1] = 2;
	be->ops->softmax_xent(be, n, k, z, lab, 0.0f, (float)gs, d, stats);
	CHECK_NEAR(stats[0], 1.5 + loss, 1e-5 * (1 + loss));
	CHECK_NEAR(stats[1], 2 + correct, 0);
	close_to(t, "softmax_xent dlogits", d, want, (size_t)n * k, 1e-5);
	CHECK(isfinite(stats[0]));
	/* without dlogits only the stats change */
	be->ops->softmax_xent(be, n, k, z, lab, 0.0f, (float)gs, NULL, stats);
	CHECK_NEAR(stats[0], 1.5 + 2 * loss, 1e-5 * (1 + loss));
	CHECK_NEAR(stats[1], 2 + 2 * correct, 0);
	be->ops->softmax(be, n, k, z, probs);
	close_to(t, "softmax probs", probs, p, (size_t)n * k, 1e-5);
	be->ops->free(be, z);
	be->ops->free(be, d);
	be->ops->free(be, probs);
	be->ops->free(be, stats);
	free(lab);
	free(p);
	free(want);
}

TEST(backend_cpu_softmax)
{
	dl_backend *be = open_cpu(t, 2);
	xent_case(t, be, 1, 1, 1);
	xent_case(t, be, 5, 3, 1);
	xent_case(t, be, 128, 10, 3);
	xent_case(t, be, 7, 1000, 5);
	xent_case(t, be, 64, 10, 1e4f);   /* exp would overflow without the max shift */
	xent_case(t, be, 3, 4, -1e4f);
	/* a hand-computed row: logits (0, ln 3), label 0: p = (1/4, 3/4) */
	float z[2] = { 0, logf(3) }, d[2], st[2] = { 0, 0 };
	int32_t lab = 0;
	be->ops->softmax_xent(be, 1, 2, z, &lab, 0.0f, 1, d, st);
	CHECK_NEAR(st[0], log(4), 1e-6);
	CHECK_NEAR(st[1], 0, 0);
	CHECK_NEAR(d[0], -0.75, 1e-6);
	CHECK_NEAR(d[1], 0.75, 1e-6);
	dl_backend_close(be);
}

/* ---- optimizers ------------------------------------------------------------ */

TEST(backend_cpu_sgd)
{
	dl_backend *be = open_cpu(t, 2);
	/* hand-computed: p = 1, g = 0.5, lr 0.1, momentum 0.9, wd 0.01
	 * step 1: v = 0.5 + 0.01 = 0.51, p = 0.949
	 * step 2: v = 0.9 * 0.51 + 0.5 + 0.00949 = 0.96849, p = 0.852151 */
	float p = 1, g = 0.5f, v = 0;
	be->ops->sgd_update(be, 1, &p, &g, &v, 0.1f, 0.9f, 0.01f, 0);
	CHECK_NEAR(v, 0.51, 1e-6);
	CHECK_NEAR(p, 0.949, 1e-6);
	be->ops->sgd_update(be, 1, &p, &g, &v, 0.1f, 0.9f, 0.01f, 0);
	CHECK_NEAR(v, 0.96849, 1e-6);
	CHECK_NEAR(p, 0.852151, 1e-6);
	/* no momentum, v NULL: p -= lr (g + wd p) = 1 - 0.1 (0.5 + 0.1) = 0.94 */
	p = 1;
	be->ops->sgd_update(be, 1, &p, &g, NULL, 0.1f, 0, 0.1f, 0);
	CHECK_NEAR(p, 0.94, 1e-6);
	/* a large block (threaded) against the scalar loop */
	size_t n = 100003;
	dl_rng r;
	dl_rng_seed(&r, 11);
	float *pp = falloc(be, n), *gg = falloc(be, n), *vv = falloc(be, n);
	double *wp = calloc(n, sizeof *wp), *wv = calloc(n, sizeof *wv);
	fill(&r, pp, n, -1, 1);
	fill(&r, gg, n, -1, 1);
	fill(&r, vv, n, -1, 1);
	for (size_t i = 0; i < n; i++) {
		wv[i] = 0.8 * vv[i] + gg[i] + 1e-3 * pp[i];
		wp[i] = pp[i] - 0.05 * wv[i];
	}
	be->ops->sgd_update(be, n, pp, gg, vv, 0.05f, 0.8f, 1e-3f, 0);
	close_to(t, "sgd p", pp, wp, n, 1e-6);
	close_to(t, "sgd v", vv, wv, n, 1e-6);
	be->ops->free(be, pp);
	be->ops->free(be, gg);
	be->ops->free(be, vv);
	free(wp);
	free(wv);
	dl_backend_close(be);
}

TEST(backend_cpu_adam)
{
	dl_backend *be = open_cpu(t, 2);
	float b1 = 0.9f, b2 = 0.999f;
	/* hand-computed, p = 1, lr 0.1, eps 1e-8:
	 * t=1, g = 0.5: m = 0.05, v = 0.00025, m/bc1 = 0.5, v/bc2 = 0.25,
	 *      step = 0.5 / 0.5 = 1, p = 0.9
	 * t=2, g = -0.25: m = 0.02, v = 0.00031225, bc1 = 0.19, bc2 = 0.001999,
	 *      step = 0.105263 / 0.395225 = 0.266337, p = 0.873366 */
	float p = 1, g = 0.5f, m = 0, v = 0;
	be->ops->adam_update(be, 1, &p, &g, &m, &v, 0.1f, b1, b2, 1e-8f, 0, 1, 1 - b1, 1 - b2);
	CHECK_NEAR(m, 0.05, 1e-7);
	CHECK_NEAR(v, 0.00025, 1e-8);   /* 1 - b2 is inexact in float */
	CHECK_NEAR(p, 0.9, 1e-6);
	g = -0.25f;
	be->ops->adam_update(be, 1, &p, &g, &m, &v, 0.1f, b1, b2, 1e-8f, 0, 1,
			     1 - b1 * b1, 1 - b2 * b2);
	CHECK_NEAR(m, 0.02, 1e-7);
	CHECK_NEAR(v, 0.00031225, 1e-8);
	CHECK_NEAR(p, 0.8733663, 2e-6);
	/* decoupled weight decay: p -= lr (1 + wd p) = 1 - 0.1 (1 + 0.1) = 0.89 */
	p = 1;
	g = 0.5f;
	m = v = 0;
	be->ops->adam_update(be, 1, &p, &g, &m, &v, 0.1f, b1, b2, 1e-8f, 0.1f, 1, 1 - b1, 1 - b2);
	CHECK_NEAR(p, 0.89, 1e-6);
	/* a large block (threaded) against the scalar formula */
	size_t n = 70001;
	dl_rng r;
	dl_rng_seed(&r, 12);
	float *pp = falloc(be, n), *gg = falloc(be, n), *mm = falloc(be, n), *vv = falloc(be, n);
	double *wp = calloc(n, sizeof *wp), *wm = calloc(n, sizeof *wm), *wv = calloc(n, sizeof *wv);
	fill(&r, pp, n, -1, 1);
	fill(&r, gg, n, -1, 1);
	fill(&r, mm, n, -0.1f, 0.1f);
	fill(&r, vv, n, 0, 0.01f);
	double bc1 = 1 - pow(0.9, 5), bc2 = 1 - pow(0.999, 5);
	for (size_t i = 0; i < n; i++) {
		wm[i] = 0.9 * mm[i] + 0.1 * gg[i];
		wv[i] = 0.999 * vv[i] + 0.001 * gg[i] * gg[i];
		wp[i] = pp[i] - 1e-3 * ((wm[i] / bc1) / (sqrt(wv[i] / bc2) + 1e-8) + 0.01 * pp[i]);
	}
	be->ops->adam_update(be, n, pp, gg, mm, vv, 1e-3f, b1, b2, 1e-8f, 0.01f, 1, (float)bc1,
			     (float)bc2);
	close_to(t, "adam p", pp, wp, n, 1e-5);
	close_to(t, "adam m", mm, wm, n, 1e-5);
	close_to(t, "adam v", vv, wv, n, 1e-5);
	float *bufs[] = { pp, gg, mm, vv };
	for (int i = 0; i < 4; i++)
		be->ops->free(be, bufs[i]);
	free(wp);
	free(wm);
	free(wv);
	dl_backend_close(be);
}

/* ---- gather ------------------------------------------------------------------ */

TEST(backend_cpu_gather)
{
	for (int threads = 1; threads <= 2; threads++) {
		dl_backend *be = open_cpu(t, threads);
		int N = 50, n = 300;
		size_t sample = 11 * 9 * 3;   /* 300 samples: the threaded path */
		uint8_t *src = malloc(N * sample);
		int32_t *lab = malloc(N * sizeof *lab), *olab = malloc(n * sizeof *olab);
		uint32_t *idx = malloc(n * sizeof *idx);
		float *out = falloc(be, n * sample);
		double *want = calloc(n * sample, sizeof *want);
		dl_rng r;
		dl_rng_seed(&r, 5);
		for (size_t i = 0; i < N * sample; i++)
			src[i] = (uint8_t)dl_rng_below(&r, 256);
		for (int i = 0; i < N; i++)
			lab[i] = i * 7 - 3;
		for (int i = 0; i < n; i++)
			idx[i] = dl_rng_below(&r, (uint32_t)N);
		dl_norm norm = { 3, 1.0f / 255, { 0.5f, 0.25f, -0.1f }, { 0.5f, 2.0f, 0.3f } };
		for (int i = 0; i < n; i++)
			for (size_t e = 0; e < sample; e++)
				want[i * sample + e] = (src[idx[i] * sample + e] / 255.0 -
							norm.mean[e % 3]) / norm.std[e % 3];
		be->ops->gather_u8(be, src, idx, n, 11, 9, 3, &norm, NULL, out);
		close_to(t, "gather_u8 out", out, want, n * sample, 1e-6);
		for (int i = 0; i < n; i++)
			for (size_t e = 0; e < sample; e++)
				want[i * sample + e] = src[idx[i] * sample + e];
		be->ops->gather_u8(be, src, idx, n, 11, 9, 3, NULL, NULL, out);
		close_to(t, "gather_u8 out (no norm)", out, want, n * sample, 0);
		be->ops->gather_i32(be, lab, idx, n, olab);
		int bad = 0;
		for (int i = 0; i < n; i++)
			bad += olab[i] != lab[idx[i]];
		CHECK_INT(bad, 0);
		free(src);
		free(lab);
		free(olab);
		free(idx);
		free(want);
		be->ops->free(be, out);
		dl_backend_close(be);
	}
}
