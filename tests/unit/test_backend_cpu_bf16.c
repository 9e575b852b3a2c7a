/* --precision bf16 on the CPU (lib/backend/cpu/conv_dnnl.c) against the
 * fp32 reference (im2col + OpenBLAS), forward, backward-data and
 * backward-filter (+=), on the convolution shapes of the built-in models.
 *
 * The bound, derived per output element: each product x*w uses x and w
 * rounded to bf16 (8 significant bits, unit roundoff u = 2^-8), so
 * |x~w~ - xw| <= (2u + u^2)|x||w|; the bf16 products are exact in fp32 and
 * both sides accumulate K terms in fp32 (error <= gamma_K sum, gamma_K =
 * K 2^-24 / (1 - K 2^-24)), so
 *   |y_bf16 - y_fp32| <= ((2u + u^2)(1 + gamma_K) + 2 gamma_K) S
 *                        + 2^-22 (|y| + |y0|)
 * where S = sum |x||w| over the element's K terms (computed by the fp32
 * reference on |x|, |w|), y0 what the op adds to (bias; dw, db: +=) and
 * the last term the fp32 roundings of those additions.  bf16 has
 * to show an error above fp32's (so bf16 really ran) and repeat bit for
 * bit. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend_test.h"
#include "core/rng.h"

static float *randv(dl_rng *r, size_t n, int absval)
{
	float *p = malloc((n ? n : 1) * sizeof *p);
	if (!p)
		abort();
	for (size_t i = 0; i < n; i++) {
		p[i] = dl_rng_uniform(r) * 2 - 1;
		if (absval)
			p[i] = fabsf(p[i]);
	}
	return p;
}

static float *absv(const float *a, size_t n)
{
	float *p = malloc((n ? n : 1) * sizeof *p);
	if (!p)
		abort();
	for (size_t i = 0; i < n; i++)
		p[i] = fabsf(a[i]);
	return p;
}

/* Checks |got - ref| <= bound(S, y0) elementwise; returns max |got - ref|. */
static double within(dl_test_ctx *t, const char *what, const float *got, const float *ref,
		     const float *s, const float *y0, size_t n, int kterms)
{
	const double u = 1.0 / 256, g = kterms * 0x1p-24 / (1 - kterms * 0x1p-24);
	const double rel = (2 * u + u * u) * (1 + g) + 2 * g;
	double worst = 0, maxd = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - ref[i]);
		double b = rel * s[i] * 1.001 + 0x1p-22 * (fabs(ref[i]) + (y0 ? fabs(y0[i]) : 0)) + 1e-30;
		if (!(d <= b) && d / b > worst)
			worst = d / b;
		if (d > maxd || isnan(d))
			maxd = isnan(d) ? INFINITY : d;
	}
	if (worst > 0) {
		fprintf(stderr, "  %s: error %.3gx the derived bound\n", what, worst);
		CHECK(worst == 0);
	}
	return maxd;
}

static void fill_geom(dl_conv_geom *g, int n, int h, int c, int k, int ks, int s, int p)
{
	memset(g, 0, sizeof *g);
	g->n = n, g->h = g->w = h, g->c = c, g->k = k, g->kh = g->kw = ks;
	g->sh = g->sw = s, g->pt = g->pl = g->pb = g->pr = p;
	g->oh = g->ow = (h + 2 * p - ks) / s + 1;
}

/* One geometry: fwd, bwd_data, bwd_filter of bf16 against fp32.  Returns 1
 * if every op's bf16 result differs from fp32 somewhere (bf16 ran). */
static int check_geom(dl_test_ctx *t, dl_backend *ref, dl_backend *bf, dl_rng *r,
		      const dl_conv_geom *g)
{
	size_t nx = (size_t)g->n * g->h * g->w * g->c, ny = (size_t)g->n * g->oh * g->ow * g->k;
	size_t nw = (size_t)g->k * g->kh * g->kw * g->c, nk = (size_t)g->k;
	float *x = randv(r, nx, 0), *w = randv(r, nw, 0), *b = randv(r, nk, 0);
	float *dy = randv(r, ny, 0), *dw0 = randv(r, nw, 0), *db0 = randv(r, nk, 0);
	float *ax = absv(x, nx), *aw = absv(w, nw), *ady = absv(dy, ny);
	float *y1 = malloc(ny * 4), *y2 = malloc(ny * 4), *ys = malloc(ny * 4);
	float *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4), *dxs = malloc(nx * 4);
	float *dw1 = malloc(nw * 4), *dw2 = malloc(nw * 4), *dws = calloc(nw, 4);
	float *db1 = malloc(nk * 4), *db2 = malloc(nk * 4), *dbs = calloc(nk, 4);
	float *y3 = malloc(ny * 4);
	if (!y1 || !y2 || !ys || !dx1 || !dx2 || !dxs || !dw1 || !dw2 || !dws || !db1 || !db2 ||
	    !dbs || !y3)
		abort();
	memcpy(dw1, dw0, nw * 4), memcpy(dw2, dw0, nw * 4);
	memcpy(db1, db0, nk * 4), memcpy(db2, db0, nk * 4);
	unsigned long before = cpu_dnnl_calls(cpu_of(bf));

	ref->ops->conv2d_fwd(ref, g, x, w, b, y1);
	bf->ops->conv2d_fwd(bf, g, x, w, b, y2);
	ref->ops->conv2d_fwd(ref, g, ax, aw, NULL, ys);
	/* the bias is added in fp32 on both sides: S covers the products, the
	 * 2^-22 |y| term the rounding of the sum */
	double e_fwd = within(t, "bf16 fwd y", y2, y1, ys, NULL, ny, g->kh * g->kw * g->c);
	bf->ops->conv2d_fwd(bf, g, x, w, b, y3);
	CHECK(!memcmp(y2, y3, ny * 4));   /* bit-reproducible */

	ref->ops->conv2d_bwd_data(ref, g, dy, w, dx1);
	bf->ops->conv2d_bwd_data(bf, g, dy, w, dx2);
	ref->ops->conv2d_bwd_data(ref, g, ady, aw, dxs);
	double e_bd = within(t, "bf16 bwd_data dx", dx2, dx1, dxs, NULL, nx, g->kh * g->kw * g->k);

	ref->ops->conv2d_bwd_filter(ref, g, x, dy, dw1, db1);
	bf->ops->conv2d_bwd_filter(bf, g, x, dy, dw2, db2);
	ref->ops->conv2d_bwd_filter(ref, g, ax, ady, dws, dbs);
	int kt = g->n * g->oh * g->ow;
	double e_bw = within(t, "bf16 bwd_filter dw (+=)", dw2, dw1, dws, dw0, nw, kt);
	/* db sums dy in fp32 on both sides (dy rounded to bf16 on ours) */
	within(t, "bf16 bwd_filter db (+=)", db2, db1, dbs, db0, nk, kt);

	int ran = cpu_dnnl_calls(cpu_of(bf)) - before == 4 && e_fwd > 0 && e_bd > 0 && e_bw > 0;
	float *bufs[] = { x, w, b, dy, dw0, db0, ax, aw, ady, y1, y2, ys, dx1, dx2, dxs,
			  dw1, dw2, dws, db1, db2, dbs, y3 };
	for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
		free(bufs[i]);
	return ran;
}

TEST(backend_cpu_bf16_conv_model_shapes)
{
	char why[160];
	if (!cpu_dnnl_bf16_support(why, sizeof why)) {
		fprintf(stderr, "  skipped: %s\n", why);
		return;
	}
	/* n, h, c, k, kernel, stride, pad: vgg16 (32x32), resnet18/50 at
	 * 64x64 (stem, 3x3, 1x1 bottleneck, strided downsample), gtsrb-cnn,
	 * pilotnet's 5x5 stride 2 */
	static const int shapes[][7] = {
		{ 2, 32, 3, 64, 3, 1, 1 },   { 2, 32, 64, 64, 3, 1, 1 },
		{ 2, 16, 64, 128, 3, 1, 1 }, { 2, 4, 256, 512, 3, 1, 1 },
		{ 2, 16, 64, 64, 3, 1, 1 },  { 2, 16, 256, 64, 1, 1, 0 },
		{ 2, 16, 128, 128, 3, 2, 1 }, { 2, 8, 256, 512, 1, 2, 0 },
		{ 2, 24, 100, 150, 4, 1, 0 }, { 2, 31, 24, 36, 5, 2, 0 },
	};
	dl_backend *ref = cpu_open_prec(2, "fp32", CPU_CONV_IM2COL);
	dl_backend *bf = cpu_open_prec(2, "bf16", CPU_CONV_AUTO);
	CHECK_INT(cpu_of(bf)->bf16, 1);
	dl_rng r;
	dl_rng_seed(&r, 16);
	int ran = 0, n = (int)(sizeof shapes / sizeof *shapes);
	for (int i = 0; i < n; i++) {
		dl_conv_geom g;
		fill_geom(&g, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], shapes[i][4],
			  shapes[i][5], shapes[i][6]);
		ran += check_geom(t, ref, bf, &r, &g);
	}
	/* every one of these has a bf16 kernel on an AVX512-BF16 CPU */
	CHECK_INT(ran, n);
	dl_backend_close(ref);
	dl_backend_close(bf);
}

TEST(backend_cpu_bf16_refusals)
{
	dl_backend *be = NULL;
	dl_err err;
	CHECK_INT(dl_backend_cpu_open_prec(&be, 1, "tf32", &err), DL_EUSAGE);
	CHECK_STR_HAS(err.msg, "GPU");
	CHECK_INT(dl_backend_cpu_open_prec(&be, 1, "fp16", &err), DL_EUSAGE);
	CHECK_STR_HAS(err.msg, "expected fp32, tf32 or bf16");
	char why[160];
	if (cpu_dnnl_bf16_support(why, sizeof why)) {
		setenv("DL_CONV", "im2col", 1);
		CHECK_INT(dl_backend_cpu_open_prec(&be, 1, "bf16", &err), DL_EUSAGE);
		CHECK_STR_HAS(err.msg, "DL_CONV=im2col");
		unsetenv("DL_CONV");
	} else {
		CHECK_INT(dl_backend_cpu_open_prec(&be, 1, "bf16", &err), DL_EUSAGE);
		CHECK_STR_HAS(err.msg, why);
	}
	CHECK_INT(dl_backend_cpu_open_prec(&be, 1, "fp32", &err), 0);
	CHECK_INT(cpu_of(be)->bf16, 0);
	dl_backend_close(be);
}

/* gemm (dense layers): forward y = x w^T, backward dx = dy w and the +=
 * of dw = dy^T x, plus alpha != 1, against OpenBLAS fp32 with the same
 * derived bound (S = the same gemm on |A|, |B|). */
static int check_gemm(dl_test_ctx *t, dl_backend *ref, dl_backend *bf, dl_rng *r, int ta, int tb,
		      int m, int n, int k, float alpha, float beta)
{
	int lda = ta ? m : k, ldb = tb ? k : n;
	size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
	float *a = randv(r, na, 0), *b = randv(r, nb, 0), *c0 = randv(r, nc, 0);
	float *aa = absv(a, na), *ab = absv(b, nb);
	float *c1 = malloc(nc * 4), *c2 = malloc(nc * 4), *cs = malloc(nc * 4), *c3 = malloc(nc * 4);
	if (!c1 || !c2 || !cs || !c3)
		abort();
	memcpy(c1, c0, nc * 4), memcpy(c2, c0, nc * 4), memcpy(c3, c0, nc * 4);
	ref->ops->gemm(ref, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c1, n);
	bf->ops->gemm(bf, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c2, n);
	bf->ops->gemm(bf, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c3, n);
	ref->ops->gemm(ref, ta, tb, m, n, k, fabsf(alpha), aa, lda, ab, ldb, 0.0f, cs, n);
	double e = within(t, "bf16 gemm", c2, c1, cs, beta != 0 ? c0 : NULL, nc, k);
	CHECK(!memcmp(c2, c3, nc * 4));
	float *bufs[] = { a, b, c0, aa, ab, c1, c2, cs, c3 };
	for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
		free(bufs[i]);
	return e > 0;
}

TEST(backend_cpu_bf16_gemm_dense_shapes)
{
	char why[160];
	if (!cpu_dnnl_bf16_support(why, sizeof why)) {
		fprintf(stderr, "  skipped: %s\n", why);
		return;
	}
	dl_backend *ref = cpu_open_prec(2, "fp32", CPU_CONV_IM2COL);
	dl_backend *bf = cpu_open_prec(2, "bf16", CPU_CONV_AUTO);
	dl_rng r;
	dl_rng_seed(&r, 17);
	/* batch 32: mlp 784 -> 128 -> 10, vgg16's 512 -> 512, lenet's dense */
	static const int dense[][2] = { { 784, 128 }, { 128, 10 }, { 512, 512 }, { 400, 120 } };
	int ran = 0, cases = 0;
	for (size_t i = 0; i < sizeof dense / sizeof *dense; i++) {
		int in = dense[i][0], out = dense[i][1], nb = 32;
		ran += check_gemm(t, ref, bf, &r, 0, 1, nb, out, in, 1.0f, 0.0f);   /* y = x w^T */
		ran += check_gemm(t, ref, bf, &r, 1, 0, out, in, nb, 1.0f, 1.0f);   /* dw += dy^T x */
		ran += check_gemm(t, ref, bf, &r, 0, 0, nb, in, out, 1.0f, 0.0f);   /* dx = dy w */
		cases += 3;
	}
	ran += check_gemm(t, ref, bf, &r, 1, 1, 40, 24, 72, -0.5f, 0.25f);
	cases++;
	CHECK_INT(ran, cases);
	dl_backend_close(ref);
	dl_backend_close(bf);
}

/* conv_gemm.c in bf16: the small maps whose forward and weight gradient run
 * as one im2col and one bf16 matmul hold the same derived bound. */
TEST(backend_cpu_bf16_conv_gemm_small_maps)
{
	char why[160];
	if (!cpu_dnnl_bf16_support(why, sizeof why))
		SKIP(why);
	/* n, h, c, k (3x3 pad 1), bf16 gemms expected: fwd twice and bwd_filter
	 * once when the rule takes them */
	static const int cases[][5] = {
		{ 3, 2, 256, 256, 3 },   /* 2x2: fwd and the weight gradient */
		{ 2, 4, 256, 512, 1 },   /* 4x4 from 256: the weight gradient (bf16) */
		{ 2, 8, 256, 256, 0 },   /* 8x8: oneDNN's convolutions */
	};
	dl_backend *ref = cpu_open_prec(2, "fp32", CPU_CONV_IM2COL);
	dl_backend *bf = cpu_open_prec(2, "bf16", CPU_CONV_AUTO);
	cpu_of(bf)->conv_wino = 0;   /* the matmul's rule alone (Winograd takes 4x4 first) */
	dl_rng r;
	dl_rng_seed(&r, 19);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const int *c = cases[i];
		dl_conv_geom g;
		dl_err err;
		fill_geom(&g, c[0], c[1], c[2], c[3], 3, 1, 1);
		CHECK_INT(bf->ops->conv2d_reserve(bf, &g, &err), 0);
		CHECK_INT(ref->ops->conv2d_reserve(ref, &g, &err), 0);
		unsigned long n0 = cpu_dnnl_gemm_calls(cpu_of(bf), 1);
		check_geom(t, ref, bf, &r, &g);
		CHECK_INT((int)(cpu_dnnl_gemm_calls(cpu_of(bf), 1) - n0), c[4]);
	}
	dl_backend_close(ref);
	dl_backend_close(bf);
}

/* A bf16 run takes fp32 Winograd where it measured faster than the bf16
 * kernels (256 channels and more, maps of 4x4 to 16x16): those layers are
 * then more exact than bf16, within the same derived bound; larger maps
 * with fewer channels stay on the bf16 kernels. */
TEST(backend_cpu_bf16_winograd)
{
	char why[160];
	if (!cpu_dnnl_bf16_support(why, sizeof why))
		SKIP(why);
	dl_backend *ref = cpu_open_prec(2, "fp32", CPU_CONV_IM2COL);
	dl_backend *bf = cpu_open_prec(2, "bf16", CPU_CONV_AUTO);
	dl_rng r;
	dl_rng_seed(&r, 23);
	static const int cases[][5] = {   /* n, h, c, k, Winograd */
		{ 2, 8, 256, 256, 1 }, { 2, 4, 512, 512, 1 }, { 2, 16, 256, 256, 1 },
		{ 2, 16, 128, 128, 0 }, { 1, 32, 64, 64, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const int *c = cases[i];
		dl_conv_geom g;
		dl_err err;
		fill_geom(&g, c[0], c[1], c[2], c[3], 3, 1, 1);
		CHECK_INT(bf->ops->conv2d_reserve(bf, &g, &err), 0);
		CHECK_INT(ref->ops->conv2d_reserve(ref, &g, &err), 0);
		unsigned long w0 = cpu_dnnl_wino_calls(cpu_of(bf));
		check_geom(t, ref, bf, &r, &g);
		CHECK_INT(cpu_dnnl_wino_calls(cpu_of(bf)) > w0, c[4]);
	}
	dl_backend_close(ref);
	dl_backend_close(bf);
}
