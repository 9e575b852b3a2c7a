/* The oneDNN convolution path (lib/backend/cpu/conv_dnnl.c) against the
 * im2col + OpenBLAS path on random geometries: strides, asymmetric
 * padding, dilation, groups (depthwise included), batch 1..4, with and
 * without bias, for fwd, bwd_data and bwd_filter's accumulation (+=).
 * Built without oneDNN, the tests check that DL_CONV=dnnl is refused and
 * that DL_CONV=auto runs im2col. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend_test.h"
#include "core/rng.h"

static dl_backend *open_mode(dl_test_ctx *t, int threads, int mode)
{
	dl_backend *be = NULL;
	dl_err err;
	int rc = dl_backend_cpu_open(&be, threads, &err);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s\n", err.msg);
		exit(1);
	}
	if (cpu_dnnl_available())   /* without oneDNN open has set im2col */
		cpu_of(be)->conv_mode = mode;
	return be;
}

/* max |a - b| / max |b| <= tol */
static void rel_close(dl_test_ctx *t, const char *what, const dl_conv_geom *g, const float *a,
		      const float *b, size_t n, double tol)
{
	double md = 0, mb = 1e-30;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - b[i]);
		if (d > md || isnan(d))
			md = isnan(d) ? INFINITY : d;
		if (fabs(b[i]) > mb)
			mb = fabs(b[i]);
	}
	if (!(md / mb <= tol)) {
		fprintf(stderr, "  %s: rel err %.3g > %.1g (n%d %dx%dx%d k%d %dx%d s%d,%d "
			"p%d,%d,%d,%d d%d,%d g%d)\n", what, md / mb, tol, g->n, g->h, g->w, g->c,
			g->k, g->kh, g->kw, g->sh, g->sw, g->pt, g->pl, g->pb, g->pr, g->dh, g->dw,
			g->groups);
		CHECK(md / mb <= tol);
	}
}

static dl_conv_geom random_geom(dl_rng *r)
{
	dl_conv_geom g = { 0 };
	static const int gs[] = { 1, 1, 1, 2, 4 };
	int G = gs[dl_rng_below(r, 5)];
	int depthwise = dl_rng_below(r, 6) == 0;
	g.n = 1 + (int)dl_rng_below(r, 4);
	g.c = G * (1 + (int)dl_rng_below(r, 24));
	g.k = G * (1 + (int)dl_rng_below(r, 24));
	if (depthwise) {
		g.c = g.k = 8 + (int)dl_rng_below(r, 24);
		G = g.c;
	}
	g.groups = G;
	g.kh = 1 + (int)dl_rng_below(r, 5);
	g.kw = 1 + (int)dl_rng_below(r, 5);
	g.sh = 1 + (int)dl_rng_below(r, 2);
	g.sw = 1 + (int)dl_rng_below(r, 3);
	g.dh = 1 + (int)(dl_rng_below(r, 4) == 0);
	g.dw = 1 + (int)(dl_rng_below(r, 4) == 0);
	g.pt = (int)dl_rng_below(r, (uint32_t)g.kh);
	g.pb = (int)dl_rng_below(r, (uint32_t)g.kh);
	g.pl = (int)dl_rng_below(r, (uint32_t)g.kw);
	g.pr = (int)dl_rng_below(r, (uint32_t)g.kw);
	int ekh = (g.kh - 1) * g.dh + 1, ekw = (g.kw - 1) * g.dw + 1;
	g.h = ekh + (int)dl_rng_below(r, 12);
	g.w = ekw + (int)dl_rng_below(r, 12);
	g.oh = (g.h + g.pt + g.pb - ekh) / g.sh + 1;
	g.ow = (g.w + g.pl + g.pr - ekw) / g.sw + 1;
	return g;
}

/* One geometry through both backends, twice; returns 1 if oneDNN ran all
 * six calls. */
static int compare_geom(dl_test_ctx *t, dl_backend *ref, dl_backend *dn, dl_rng *r,
			const dl_conv_geom *g, int bias)
{
	size_t nx = (size_t)g->n * g->h * g->w * g->c, ny = (size_t)g->n * g->oh * g->ow * g->k;
	size_t nw = (size_t)g->k * g->kh * g->kw * (g->c / g->groups);
	float *x = rand_floats(r, nx), *w = rand_floats(r, nw), *b = rand_floats(r, (size_t)g->k);
	float *dy = rand_floats(r, ny), *dw0 = rand_floats(r, nw), *db0 = rand_floats(r, (size_t)g->k);
	float *y1 = rand_floats(r, ny), *y2 = rand_floats(r, ny), *dx1 = rand_floats(r, nx), *dx2 = rand_floats(r, nx);
	float *dw1 = malloc(nw * sizeof *dw1), *dw2 = malloc(nw * sizeof *dw2);
	float *db1 = malloc((size_t)g->k * sizeof *db1), *db2 = malloc((size_t)g->k * sizeof *db2);
	memcpy(dw1, dw0, nw * sizeof *dw1);
	memcpy(dw2, dw0, nw * sizeof *dw2);
	memcpy(db1, db0, (size_t)g->k * sizeof *db1);
	memcpy(db2, db0, (size_t)g->k * sizeof *db2);
	unsigned long before = cpu_dnnl_calls(cpu_of(dn));
	const float *bb = bias ? b : NULL;
	float *dbb1 = bias ? db1 : NULL, *dbb2 = bias ? db2 : NULL;
	for (int rep = 0; rep < 2; rep++) {   /* the second call hits the cache */
		conv_reserve(ref, g);
		ref->ops->conv2d_fwd(ref, g, x, w, bb, y1);
		conv_reserve(dn, g);
		dn->ops->conv2d_fwd(dn, g, x, w, bb, y2);
		rel_close(t, "fwd y", g, y2, y1, ny, 1e-4);
		ref->ops->conv2d_bwd_data(ref, g, dy, w, dx1);
		dn->ops->conv2d_bwd_data(dn, g, dy, w, dx2);
		rel_close(t, "bwd_data dx", g, dx2, dx1, nx, 1e-4);
		ref->ops->conv2d_bwd_filter(ref, g, x, dy, dw1, dbb1);
		dn->ops->conv2d_bwd_filter(dn, g, x, dy, dw2, dbb2);
		rel_close(t, "bwd_filter dw (+=)", g, dw2, dw1, nw, 1e-4);
		rel_close(t, "bwd_filter db (+=)", g, db2, db1, (size_t)g->k, 1e-4);
	}
	int took = cpu_dnnl_calls(cpu_of(dn)) - before == 6;   /* 3 ops, twice */
	float *bufs[] = { x, w, b, dy, dw0, db0, y1, y2, dx1, dx2, dw1, dw2, db1, db2 };
	for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
		free(bufs[i]);
	return took;
}

TEST(backend_cpu_dnnl_random_geometries)
{
	if (!cpu_dnnl_available()) {
		fprintf(stderr, "  built without oneDNN (DNNL=0 or no libdnnl-dev): "
			"checking that only im2col runs\n");
		dl_backend *be = open_mode(t, 2, CPU_CONV_AUTO);
		CHECK_INT(cpu_of(be)->conv_mode, CPU_CONV_IM2COL);
		dl_backend_close(be);
		return;
	}
	dl_rng r;
	dl_rng_seed(&r, 2026);
	for (int threads = 1; threads <= 2; threads++) {
		dl_backend *ref = open_mode(t, threads, CPU_CONV_IM2COL);
		dl_backend *dn = open_mode(t, threads, CPU_CONV_DNNL);
		int took = 0, cases = 30;
		for (int i = 0; i < cases; i++) {
			dl_conv_geom g = random_geom(&r);
			took += compare_geom(t, ref, dn, &r, &g, (int)dl_rng_below(&r, 2));
		}
		/* DL_CONV=dnnl: oneDNN takes every geometry it accepts */
		CHECK_INT(took, cases);
		CHECK_INT((int)cpu_dnnl_calls(cpu_of(ref)), 0);
		dl_backend_close(ref);
		dl_backend_close(dn);
	}
}

TEST(backend_cpu_dnnl_auto_rule)
{
	dl_backend *ref = open_mode(t, 2, CPU_CONV_IM2COL);
	dl_backend *au = open_mode(t, 2, CPU_CONV_AUTO);
	if (!cpu_dnnl_available())
		CHECK_INT(cpu_of(au)->conv_mode, CPU_CONV_IM2COL);
	dl_rng r;
	dl_rng_seed(&r, 7);
	/* a VGG-style layer: oneDNN under auto when built in */
	dl_conv_geom rich = { 2, 8, 8, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 8, 8, 1, 1, 1 };
	CHECK_INT(compare_geom(t, ref, au, &r, &rich, 1), cpu_dnnl_available());
	/* LeNet's first layer (c = 1): only fwd (twice) on oneDNN under auto */
	dl_conv_geom thin = { 3, 12, 12, 1, 20, 5, 5, 1, 1, 2, 2, 2, 2, 12, 12, 1, 1, 1 };
	unsigned long n = cpu_dnnl_calls(cpu_of(au));
	compare_geom(t, ref, au, &r, &thin, 1);
	CHECK(cpu_dnnl_calls(cpu_of(au)) == n + (cpu_dnnl_available() ? 2 : 0));
	/* few outputs (k = 8): im2col */
	dl_conv_geom few = { 3, 12, 12, 32, 8, 3, 3, 1, 1, 1, 1, 1, 1, 12, 12, 1, 1, 1 };
	n = cpu_dnnl_calls(cpu_of(au));
	compare_geom(t, ref, au, &r, &few, 1);
	CHECK(cpu_dnnl_calls(cpu_of(au)) == n);
	dl_backend_close(ref);
	dl_backend_close(au);
}

/* More geometries than the cache holds: entries are evicted and rebuilt. */
TEST(backend_cpu_dnnl_cache_eviction)
{
	if (!cpu_dnnl_available())
		SKIP("built without oneDNN (DNNL=0 or no libdnnl-dev)");
	dl_backend *ref = open_mode(t, 2, CPU_CONV_IM2COL);
	dl_backend *dn = open_mode(t, 2, CPU_CONV_DNNL);
	dl_rng r;
	dl_rng_seed(&r, 11);
	for (int pass = 0; pass < 2; pass++)
		for (int c = 1; c <= 24; c++) {
			dl_conv_geom g = { 1, 5, 5, c, 3, 3, 3, 1, 1, 1, 1, 1, 1, 5, 5, 1, 1, 1 };
			CHECK(compare_geom(t, ref, dn, &r, &g, c & 1));
		}
	CHECK_INT(cpu_dnnl_entries(cpu_of(dn)), 64);   /* 24 x 3 = 72 keys, 64 slots */
	dl_backend_close(ref);
	dl_backend_close(dn);
}

TEST(backend_cpu_dnnl_env)
{
	const char *old = getenv("DL_CONV");
	char *save = old ? strdup(old) : NULL;
	dl_backend *be = NULL;
	dl_err err;
	setenv("DL_CONV", "fast", 1);
	CHECK_INT(dl_backend_cpu_open(&be, 1, &err), DL_EUSAGE);
	CHECK_STR_HAS(err.msg, "DL_CONV=fast");
	setenv("DL_CONV", "im2col", 1);
	CHECK_INT(dl_backend_cpu_open(&be, 1, &err), 0);
	CHECK_INT(cpu_of(be)->conv_mode, CPU_CONV_IM2COL);
	dl_backend_close(be);
	setenv("DL_CONV", "dnnl", 1);
	if (cpu_dnnl_available()) {
		CHECK_INT(dl_backend_cpu_open(&be, 1, &err), 0);
		CHECK_INT(cpu_of(be)->conv_mode, CPU_CONV_DNNL);
		dl_backend_close(be);
	} else {
		CHECK_INT(dl_backend_cpu_open(&be, 1, &err), DL_EUSAGE);
		CHECK_STR_HAS(err.msg, "without oneDNN");
	}
	if (save)
		setenv("DL_CONV", save, 1);
	else
		unsetenv("DL_CONV");
	free(save);
}

/* Runs the three ops of g on a fresh backend of `threads` threads in conv
 * mode `mode` (all three must go to oneDNN); out gets y, dx, dw (dw from
 * zero).  Returns how many ran on Winograd. */
static unsigned long run_three(dl_test_ctx *t, int threads, int mode, const dl_conv_geom *g,
			       const float *x, const float *w, const float *dy, float *y, float *dx,
			       float *dw, float *db)
{
	dl_backend *be = open_mode(t, threads, mode);
	size_t nw = (size_t)g->k * g->kh * g->kw * (g->c / g->groups);
	memset(dw, 0, nw * sizeof *dw);
	memset(db, 0, (size_t)g->k * sizeof *db);
	conv_reserve(be, g);
	be->ops->conv2d_fwd(be, g, x, w, NULL, y);
	be->ops->conv2d_bwd_data(be, g, dy, w, dx);
	be->ops->conv2d_bwd_filter(be, g, x, dy, dw, db);
	CHECK(cpu_dnnl_calls(cpu_of(be)) == 3);
	unsigned long wino = cpu_dnnl_wino_calls(cpu_of(be));
	dl_backend_close(be);
	return wino;
}

/* Same thread count: bit-identical from one backend (process) to the next,
 * which the bit-exact resume test (t0310) relies on.  1 and 2 threads agree
 * to rounding (oneDNN does not promise the same bits across counts). */
TEST(backend_cpu_dnnl_determinism)
{
	if (!cpu_dnnl_available())
		SKIP("built without oneDNN (DNNL=0 or no libdnnl-dev)");
	dl_conv_geom g = { 16, 14, 14, 32, 48, 3, 3, 1, 1, 1, 1, 1, 1, 14, 14, 1, 1, 1 };
	size_t nx = (size_t)g.n * g.h * g.w * g.c, ny = (size_t)g.n * g.oh * g.ow * g.k;
	size_t nw = (size_t)g.k * g.kh * g.kw * g.c, cnt[4] = { ny, nx, nw, (size_t)g.k };
	dl_rng r;
	dl_rng_seed(&r, 3);
	float *x = rand_floats(&r, nx), *w = rand_floats(&r, nw), *dy = rand_floats(&r, ny);
	float *o[3][4];
	for (int v = 0; v < 3; v++)
		for (int i = 0; i < 4; i++)
			o[v][i] = malloc(cnt[i] * sizeof(float));
	run_three(t, 2, CPU_CONV_DNNL, &g, x, w, dy, o[0][0], o[0][1], o[0][2], o[0][3]);
	run_three(t, 2, CPU_CONV_DNNL, &g, x, w, dy, o[1][0], o[1][1], o[1][2], o[1][3]);
	run_three(t, 1, CPU_CONV_DNNL, &g, x, w, dy, o[2][0], o[2][1], o[2][2], o[2][3]);
	int same12 = 1;
	for (int i = 0; i < 4; i++) {
		CHECK(!memcmp(o[0][i], o[1][i], cnt[i] * sizeof(float)));
		rel_close(t, "1 vs 2 threads", &g, o[2][i], o[0][i], cnt[i], 1e-4);
		same12 &= !memcmp(o[0][i], o[2][i], cnt[i] * sizeof(float));
	}
	if (getenv("DL_TEST_VERBOSE"))
		fprintf(stderr, "  oneDNN 1 vs 2 threads bit-identical: %s\n", same12 ? "yes" : "no");
	for (int v = 0; v < 3; v++)
		for (int i = 0; i < 4; i++)
			free(o[v][i]);
	free(x);
	free(w);
	free(dy);
}

/* conv_gemm.c: small maps with many channels run as one im2col and one
 * oneDNN matmul under DL_CONV=auto, within 1e-4 of the im2col reference. */
TEST(backend_cpu_conv_gemm_small_maps)
{
	if (!cpu_dnnl_available())
		SKIP("built without oneDNN");
	dl_backend *ref = open_mode(t, 2, CPU_CONV_IM2COL);
	dl_backend *au = open_mode(t, 2, CPU_CONV_AUTO);
	cpu_of(au)->conv_wino = 0;   /* the matmul's rule alone (Winograd takes 4x4 first) */
	dl_rng r;
	dl_rng_seed(&r, 18);
	/* n, h=w, c, k; 3x3 pad 1; the gemms expected per compare_geom (twice
	 * each of fwd and bwd_filter when the rule takes them) */
	static const int cases[][5] = {
		{ 3, 2, 256, 256, 4 },   /* 2x2: fwd and the weight gradient */
		{ 2, 4, 512, 256, 2 },   /* 4x4 from 512 channels: fwd only (fp32) */
		{ 2, 4, 256, 256, 0 },   /* 4x4 from 256: oneDNN's convolutions */
		{ 2, 2, 128, 256, 0 },   /* too few input channels */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const int *c = cases[i];
		dl_conv_geom g = { c[0], c[1], c[1], c[2], c[3], 3, 3, 1, 1, 1, 1, 1, 1,
				   c[1], c[1], 1, 1, 1 };
		unsigned long n0 = cpu_dnnl_gemm_calls(cpu_of(au), 0);
		compare_geom(t, ref, au, &r, &g, 1);
		if (cpu_dnnl_gemm_calls(cpu_of(au), 0) - n0 != (unsigned long)c[4]) {
			fprintf(stderr, "  case %zu: %lu gemms, expected %d\n", i,
				cpu_dnnl_gemm_calls(cpu_of(au), 0) - n0, c[4]);
			CHECK(0);
		}
		CHECK_INT(cpu_conv_gemm_rule(&g, CPU_DNNL_FWD, 0), c[4] > 0);
		g.n = 1;   /* the rule does not look at the batch */
		CHECK_INT(cpu_conv_gemm_rule(&g, CPU_DNNL_FWD, 0), c[4] > 0);
	}
	dl_backend_close(ref);
	dl_backend_close(au);
}

/* fp32 Winograd (conv_dnnl.c wino_wants): the 3x3 stride-1 layers of the
 * built-in models run all three passes on it under DL_CONV=auto, within
 * 1e-4 of the im2col reference (bias and the += of the weight gradient
 * included), the same bits from one backend to the next, and not at all
 * with conv_wino = 0 (DL_WINO=0) or in bf16. */
TEST(backend_cpu_dnnl_winograd)
{
	if (!cpu_dnnl_available())
		SKIP("built without oneDNN (DNNL=0 or no libdnnl-dev)");
	dl_backend *ref = open_mode(t, 2, CPU_CONV_IM2COL);
	dl_backend *au = open_mode(t, 2, CPU_CONV_AUTO);
	dl_rng r;
	dl_rng_seed(&r, 33);
	/* n, h = w, c, k: vgg16, resnet18 and resnet50 3x3 layers (small batch) */
	static const int cases[][4] = {
		{ 2, 32, 64, 64 }, { 2, 16, 128, 128 }, { 2, 8, 256, 256 }, { 1, 8, 512, 512 },
		{ 1, 64, 64, 64 }, { 2, 16, 64, 64 }, { 2, 8, 96, 64 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const int *c = cases[i];
		dl_conv_geom g = { c[0], c[1], c[1], c[2], c[3], 3, 3, 1, 1, 1, 1, 1, 1,
				   c[1], c[1], 1, 1, 1 };
		unsigned long w0 = cpu_dnnl_wino_calls(cpu_of(au));
		CHECK(compare_geom(t, ref, au, &r, &g, (int)(i & 1)));
		CHECK_INT(cpu_dnnl_wino_calls(cpu_of(au)) - w0, 6);   /* 3 ops, twice */
	}
	/* a 4x4 map of 512 channels: Winograd before conv_gemm.c's matmul */
	dl_conv_geom four = { 2, 4, 4, 512, 512, 3, 3, 1, 1, 1, 1, 1, 1, 4, 4, 1, 1, 1 };
	unsigned long w4 = cpu_dnnl_wino_calls(cpu_of(au));
	CHECK(compare_geom(t, ref, au, &r, &four, 1));
	CHECK_INT(cpu_dnnl_wino_calls(cpu_of(au)) - w4, 6);
	/* outside the rule: too few channels, a 2x2 map, stride 2 */
	static const dl_conv_geom no[] = {
		{ 2, 16, 16, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1, 16, 16, 1, 1, 1 },
		{ 2, 2, 2, 256, 256, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1 },
		{ 2, 16, 16, 64, 64, 3, 3, 2, 2, 1, 1, 1, 1, 8, 8, 1, 1, 1 },
	};
	for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
		unsigned long w0 = cpu_dnnl_wino_calls(cpu_of(au));
		compare_geom(t, ref, au, &r, &no[i], 1);
		CHECK_INT(cpu_dnnl_wino_calls(cpu_of(au)) - w0, 0);
	}
	/* conv_wino = 1: every 3x3 stride-1 pad-1 layer oneDNN has it for,
	 * odd channel counts included (refused ones run direct); all agree */
	dl_backend *wi = open_mode(t, 1, CPU_CONV_DNNL);
	cpu_of(wi)->conv_wino = 1;
	int took = 0;
	for (int i = 0; i < 12; i++) {
		int h = 3 + (int)dl_rng_below(&r, 14);
		dl_conv_geom g = { 1 + (int)dl_rng_below(&r, 3), h, h, 1 + (int)dl_rng_below(&r, 70),
				   1 + (int)dl_rng_below(&r, 70), 3, 3, 1, 1, 1, 1, 1, 1, h, h, 1, 1, 1 };
		took += compare_geom(t, ref, wi, &r, &g, (int)dl_rng_below(&r, 2));
	}
	CHECK_INT(took, 12);
	CHECK(cpu_dnnl_wino_calls(cpu_of(wi)) > 0);
	/* conv_wino = 0 (DL_WINO=0): the direct kernel */
	dl_backend *off = open_mode(t, 2, CPU_CONV_AUTO);
	cpu_of(off)->conv_wino = 0;
	dl_conv_geom g = { 2, 16, 16, 128, 128, 3, 3, 1, 1, 1, 1, 1, 1, 16, 16, 1, 1, 1 };
	CHECK(compare_geom(t, ref, off, &r, &g, 1));
	CHECK_INT(cpu_dnnl_wino_calls(cpu_of(off)), 0);
	dl_backend_close(off);
	dl_backend_close(wi);
	dl_backend_close(ref);
	dl_backend_close(au);
}

/* Winograd repeats bit for bit from one backend to the next (bit-exact
 * resume, t0310, relies on it). */
TEST(backend_cpu_dnnl_winograd_determinism)
{
	if (!cpu_dnnl_available())
		SKIP("built without oneDNN (DNNL=0 or no libdnnl-dev)");
	dl_conv_geom g = { 4, 16, 16, 64, 128, 3, 3, 1, 1, 1, 1, 1, 1, 16, 16, 1, 1, 1 };
	size_t nx = (size_t)g.n * g.h * g.w * g.c, ny = (size_t)g.n * g.oh * g.ow * g.k;
	size_t nw = (size_t)g.k * 9 * g.c, cnt[4] = { ny, nx, nw, (size_t)g.k };
	dl_rng r;
	dl_rng_seed(&r, 4);
	float *x = rand_floats(&r, nx), *w = rand_floats(&r, nw), *dy = rand_floats(&r, ny);
	float *o[2][4];
	for (int v = 0; v < 2; v++) {
		for (int i = 0; i < 4; i++)
			o[v][i] = malloc(cnt[i] * sizeof(float));
		CHECK_INT(run_three(t, 2, CPU_CONV_AUTO, &g, x, w, dy, o[v][0], o[v][1], o[v][2],
				    o[v][3]), 3);
	}
	for (int i = 0; i < 4; i++)
		CHECK(!memcmp(o[0][i], o[1][i], cnt[i] * sizeof(float)));
	for (int v = 0; v < 2; v++)
		for (int i = 0; i < 4; i++)
			free(o[v][i]);
	free(x);
	free(w);
	free(dy);
}
