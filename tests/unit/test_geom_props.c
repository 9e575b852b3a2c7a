/* Property tests of layer geometry (issue 12): random valid and invalid
 * geometries for every layer kind.
 *
 * 1. Convolution kernels: random geometries (padding up to twice the
 *    kernel and asymmetric, strides, dilation, groups, depthwise, 1..16
 *    channels) through the CPU backend under each DL_CONV mode (im2col,
 *    dnnl when built in, auto), forward, backward-data and backward-filter
 *    against the definition in double.  pad > kernel (a window wholly in
 *    the padding) once overflowed the heap in im2col_plain.
 * 2. Models: a random spec line of every layer kind with random options,
 *    some out of range; an independent predicate (PyTorch's rules) says
 *    whether it must be accepted and with what output shape.  Accepted
 *    ones run forward and backward in training mode and must give finite
 *    numbers; refused ones must name the spec line ("geom:2:").
 * Under `make SANITIZE=1 check` both run under ASan + UBSan. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "backend_test.h"
#include "core/rng.h"
#include "nn/model.h"

static int rnd(dl_rng *r, int lo, int hi)   /* uniform in [lo, hi] */
{
	if (hi <= lo)
		return lo;
	return lo + (int)(dl_rng_uniform(r) * (hi - lo + 1)) % (hi - lo + 1);
}

/* ---- 1. convolution kernels ---------------------------------------------- */

static void conv_ref(const dl_conv_geom *g, const float *x, const float *w, double *y)
{
	int G = g->groups, cg = g->c / G, kg = g->k / G;
	for (int n = 0; n < g->n; n++)
		for (int oy = 0; oy < g->oh; oy++)
			for (int ox = 0; ox < g->ow; ox++)
				for (int k = 0; k < g->k; k++) {
					double s = 0;
					for (int ky = 0; ky < g->kh; ky++)
						for (int kx = 0; kx < g->kw; kx++) {
							int iy = oy * g->sh - g->pt + ky * g->dh;
							int ix = ox * g->sw - g->pl + kx * g->dw;
							if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
								continue;
							for (int ci = 0; ci < cg; ci++)
								s += (double)x[((size_t)(n * g->h + iy) * g->w + ix) * g->c + k / kg * cg + ci] *
								     w[(((size_t)k * g->kh + ky) * g->kw + kx) * cg + ci];
						}
					y[((size_t)(n * g->oh + oy) * g->ow + ox) * g->k + k] = s;
				}
}

/* A random geometry whose output is at least 1x1. */
static dl_conv_geom random_conv(dl_rng *r)
{
	static const int chans[] = { 1, 2, 3, 4, 8, 16 };
	dl_conv_geom g;
	for (;;) {
		memset(&g, 0, sizeof g);
		g.n = rnd(r, 1, 2);
		g.h = rnd(r, 1, 7);
		g.w = rnd(r, 1, 7);
		g.c = chans[rnd(r, 0, 5)];
		g.kh = rnd(r, 1, 4);
		g.kw = rnd(r, 1, 4);
		g.sh = rnd(r, 1, 3);
		g.sw = rnd(r, 1, 3);
		int big = rnd(r, 0, 1);   /* half the cases: padding beyond the kernel */
		g.pt = rnd(r, 0, big ? 2 * g.kh + 1 : g.kh / 2);
		g.pl = rnd(r, 0, big ? 2 * g.kw + 1 : g.kw / 2);
		g.pb = rnd(r, 0, 1) ? g.pt : rnd(r, 0, g.kh + 1);
		g.pr = rnd(r, 0, 1) ? g.pl : rnd(r, 0, g.kw + 1);
		g.dh = rnd(r, 0, 3) ? 1 : rnd(r, 2, 3);
		g.dw = rnd(r, 0, 3) ? g.dh : rnd(r, 1, 3);
		int kind = rnd(r, 0, 3);  /* 0,1 plain; 2 grouped; 3 depthwise */
		g.groups = 1;
		g.k = rnd(r, 1, 6);
		if (kind == 2 && g.c % 2 == 0) {
			g.groups = 2;
			g.k = 2 * rnd(r, 1, 3);
		} else if (kind == 3 && g.c > 1) {
			g.groups = g.c;
			g.k = g.c;
		}
		int sh = g.dh * (g.kh - 1) + 1, sw = g.dw * (g.kw - 1) + 1;
		if (g.h + g.pt + g.pb < sh || g.w + g.pl + g.pr < sw)
			continue;
		g.oh = dl_conv_out(g.h, g.pt, g.pb, sh, g.sh);
		g.ow = dl_conv_out(g.w, g.pl, g.pr, sw, g.sw);
		return g;
	}
}

static int close_all(const float *a, const double *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(fabs(a[i] - b[i]) <= 1e-4 * (1 + fabs(b[i]))))
			return 0;
	return 1;
}

/* fwd, bwd_data and bwd_filter of g on be against the definition; the
 * gradients come from the reference as sums over the same taps. */
static int conv_props(dl_backend *be, const dl_conv_geom *g, dl_rng *r)
{
	dl_err rerr;
	if (be->ops->conv2d_reserve(be, g, &rerr))   /* scratch, as dl_model_plan reserves it */
		return 0;
	int cg = g->c / g->groups;
	size_t nx = (size_t)g->n * g->h * g->w * g->c, nw = (size_t)g->k * g->kh * g->kw * cg;
	size_t ny = (size_t)g->n * g->oh * g->ow * g->k;
	float *x = falloc(be, nx), *w = falloc(be, nw), *y = falloc(be, ny), *dy = falloc(be, ny);
	float *dx = falloc(be, nx), *dw = falloc(be, nw), *db = falloc(be, g->k);
	double *ry = calloc(ny, sizeof *ry), *rdx = calloc(nx, sizeof *rdx);
	double *rdw = calloc(nw, sizeof *rdw), *rdb = calloc((size_t)g->k, sizeof *rdb);
	fill(r, x, nx, -1, 1);
	fill(r, w, nw, -1, 1);
	fill(r, dy, ny, -1, 1);
	fill(r, dx, nx, 5, 6);   /* garbage: bwd_data overwrites */
	memset(dw, 0, nw * sizeof *dw);
	memset(db, 0, (size_t)g->k * sizeof *db);
	conv_ref(g, x, w, ry);
	be->ops->conv2d_fwd(be, g, x, w, NULL, y);
	int ok = close_all(y, ry, ny);
	/* dx = sum over taps dy * w; dw = sum over taps dy * x */
	int G = g->groups, kg = g->k / G;
	for (int n = 0; n < g->n; n++)
		for (int oy = 0; oy < g->oh; oy++)
			for (int ox = 0; ox < g->ow; ox++)
				for (int k = 0; k < g->k; k++) {
					double d = dy[((size_t)(n * g->oh + oy) * g->ow + ox) * g->k + k];
					rdb[k] += d;
					for (int ky = 0; ky < g->kh; ky++)
						for (int kx = 0; kx < g->kw; kx++) {
							int iy = oy * g->sh - g->pt + ky * g->dh;
							int ix = ox * g->sw - g->pl + kx * g->dw;
							if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
								continue;
							for (int ci = 0; ci < cg; ci++) {
								size_t xi = ((size_t)(n * g->h + iy) * g->w + ix) * g->c + k / kg * cg + ci;
								size_t wi = (((size_t)k * g->kh + ky) * g->kw + kx) * cg + ci;
								rdx[xi] += d * w[wi];
								rdw[wi] += d * x[xi];
							}
						}
				}
	be->ops->conv2d_bwd_data(be, g, dy, w, dx);
	ok &= close_all(dx, rdx, nx);
	be->ops->conv2d_bwd_filter(be, g, x, dy, dw, db);
	ok &= close_all(dw, rdw, nw) && close_all(db, rdb, (size_t)g->k);
	float *bufs[] = { x, w, y, dy, dx, dw, db };
	for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
		be->ops->free(be, bufs[i]);
	free(ry);
	free(rdx);
	free(rdw);
	free(rdb);
	return ok;
}

TEST(geom_props_conv_kernels)
{
	static const char *modes[] = { "im2col", "dnnl", "auto" };
	for (int mi = 0; mi < 3; mi++) {
		setenv("DL_CONV", modes[mi], 1);
		dl_backend *be = NULL;
		dl_err err;
		int rc = dl_backend_cpu_open(&be, 1 + mi % 2, &err);
		unsetenv("DL_CONV");
		if (rc) {   /* dnnl without oneDNN */
			printf("skipped: geom_props_conv_kernels DL_CONV=%s: %s\n", modes[mi], err.msg);
			continue;
		}
		dl_rng r;
		dl_rng_seed(&r, 1200 + mi);
		int bad = 0;
		for (int i = 0; i < 150 && bad < 5; i++) {
			dl_conv_geom g = random_conv(&r);
			if (!conv_props(be, &g, &r)) {
				bad++;
				fprintf(stderr, "  DL_CONV=%s: n%d h%d w%d c%d k%d %dx%d s%d,%d p%d,%d,%d,%d d%d,%d g%d: wrong\n",
					modes[mi], g.n, g.h, g.w, g.c, g.k, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl,
					g.pb, g.pr, g.dh, g.dw, g.groups);
			}
		}
		CHECK_INT(bad, 0);
		/* the cases: 16 channels, 3x3 pad 4 and 1x1 pad 2 */
		dl_conv_geom a = { 2, 5, 5, 16, 16, 3, 3, 1, 1, 4, 4, 4, 4, 0, 0, 1, 1, 1 };
		dl_conv_geom b = { 2, 5, 5, 16, 8, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 1, 1, 1 };
		a.oh = a.ow = dl_conv_out(5, 4, 4, 3, 1);
		b.oh = b.ow = dl_conv_out(5, 2, 2, 1, 1);
		CHECK(conv_props(be, &a, &r));
		CHECK(conv_props(be, &b, &r));
		dl_backend_close(be);
	}
}

/* ---- 2. every layer kind in a model ---------------------------------------- */

typedef struct want {
	int ok;          /* must be accepted */
	dl_shape out;    /* then: the layer's output shape */
} want;

/* An option value in [1, hi] (small, to keep the cases fast), or
 * sometimes outside the spec's range [1, max] (refusal expected). */
static int opt_val(dl_rng *r, int hi, int max, int *bad)
{
	if (rnd(r, 0, 9) == 0) {
		*bad = 1;
		return rnd(r, 0, 1) ? 1 - rnd(r, 1, 2) : max + 1;
	}
	return rnd(r, 1, hi);
}

static int out_dim(int in, int p, int span, int s)
{
	return (in + 2 * p - span) / s + 1;
}

/* Writes one random line of `kind` for input shape in into line; says
 * what the model builder must do with it. */
static want random_line(dl_rng *r, const char *kind, dl_shape in, char *line, size_t cap)
{
	want wt = { 1, in };
	int bad = 0;
	if (!strcmp(kind, "conv2d")) {
		int f = opt_val(r, 6, 1 << 16, &bad), s = opt_val(r, 5, 64, &bad);
		int st = opt_val(r, 3, 64, &bad), d = rnd(r, 0, 2) ? 1 : opt_val(r, 3, 64, &bad);
		int G = rnd(r, 0, 2) ? 1 : rnd(r, 0, 1) ? in.c : rnd(r, 1, 4);
		int p = 0, pm = rnd(r, 0, 3);
		char pad[16];
		if (pm == 0) {
			snprintf(pad, sizeof pad, "same");
			p = d * (s / 2);
			bad |= s % 2 == 0 || st != 1;
		} else if (pm == 1) {
			snprintf(pad, sizeof pad, "valid");
		} else {
			p = rnd(r, 0, 2 * s + 2);   /* beyond the kernel too: PyTorch allows it */
			snprintf(pad, sizeof pad, "%d", p);
		}
		if (G == in.c && G > 1 && f >= 1 && f <= 6 && rnd(r, 0, 1))
			f = in.c;
		bad |= G < 1 || in.c % G || f % G;
		int span = d * (s - 1) + 1;
		bad |= in.h + 2 * p < span || in.w + 2 * p < span;
		snprintf(line, cap, "conv2d filters=%d size=%d stride=%d pad=%s dilation=%d groups=%d bias=%d",
			 f, s, st, pad, d, G, rnd(r, 0, 1));
		if (!bad)
			wt.out = (dl_shape){ out_dim(in.h, p, span, st), out_dim(in.w, p, span, st), f };
	} else if (!strcmp(kind, "maxpool") || !strcmp(kind, "avgpool")) {
		int s = opt_val(r, 4, 64, &bad), st = opt_val(r, 3, 64, &bad);
		int p = rnd(r, 0, s / 2 + 1);
		bad |= p > s / 2 || s < 1 || in.h + 2 * p < s || in.w + 2 * p < s;
		snprintf(line, cap, "%s size=%d stride=%d pad=%d", kind, s, st, p);
		if (!bad)
			wt.out = (dl_shape){ out_dim(in.h, p, s, st), out_dim(in.w, p, s, st), in.c };
	} else if (!strcmp(kind, "dense")) {
		int u = opt_val(r, 7, 1 << 24, &bad);
		bad |= in.h != 1 || in.w != 1;
		snprintf(line, cap, "dense units=%d bias=%d", u, rnd(r, 0, 1));
		wt.out = (dl_shape){ 1, 1, u };
	} else if (!strcmp(kind, "flatten")) {
		snprintf(line, cap, "flatten");
		wt.out = (dl_shape){ 1, 1, in.h * in.w * in.c };
	} else if (!strcmp(kind, "gap")) {
		snprintf(line, cap, "gap");
		wt.out = (dl_shape){ 1, 1, in.c };
	} else if (!strcmp(kind, "dropout")) {
		int pc = rnd(r, 0, 10) ? rnd(r, 0, 90) : 120;
		bad |= pc > 99;
		snprintf(line, cap, "dropout p=%d.%02d", pc / 100, pc % 100);
	} else if (!strcmp(kind, "batchnorm")) {
		snprintf(line, cap, "batchnorm eps=%s", rnd(r, 0, 9) ? "1e-5" : "0");
		bad |= strstr(line, "=0") != NULL;
	} else if (!strcmp(kind, "leaky_relu")) {
		snprintf(line, cap, "leaky_relu slope=0.%d", rnd(r, 0, 9));
	} else if (!strcmp(kind, "add") || !strcmp(kind, "concat")) {
		/* second branch: a conv of the input; the join needs equal h, w
		 * (and c for add) */
		int f = rnd(r, 1, 4), s = rnd(r, 1, 3), p = rnd(r, 0, 2);
		int oh = out_dim(in.h, p, s, 1), ow = out_dim(in.w, p, s, 1);
		int fits = in.h + 2 * p >= s && in.w + 2 * p >= s;
		if (rnd(r, 0, 1)) {   /* mostly a shape-preserving branch */
			s = 1;
			p = 0;
			oh = in.h;
			ow = in.w;
			fits = 1;
			f = rnd(r, 0, 1) ? in.c : f;
		}
		snprintf(line, cap, "conv2d filters=%d size=%d pad=%d name=b\n%s from=input,b", f, s, p,
			 kind);
		bad |= !fits || oh != in.h || ow != in.w || (kind[0] == 'a' && f != in.c);
		wt.out = (dl_shape){ in.h, in.w, kind[0] == 'a' ? in.c : in.c + f };
		if (!fits)
			wt.out = in;
	} else {   /* relu, tanh, sigmoid, gelu */
		snprintf(line, cap, "%s", kind);
	}
	wt.ok = !bad;
	return wt;
}

static int all_finite(const float *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(p[i]))
			return 0;
	return 1;
}

/* Forward and backward of a built model on random input, training mode. */
static int run_model(dl_model *m, dl_backend *be, int n, dl_rng *r, dl_err *err)
{
	if (dl_model_alloc(m, be, err) || dl_model_init(m, 7, err) || dl_model_plan(m, n, err))
		return 0;
	dl_model_set_training(m, 1);
	fill(r, m->x, dl_shape_size(m->input) * n, -1, 1);
	dl_model_forward(m, n);
	size_t no = dl_shape_size(dl_model_output_shape(m)) * n;
	int ok = all_finite(dl_model_output(m), no);
	fill(r, dl_model_doutput(m), no, -1, 1);
	if (m->nparams)
		memset(m->grads, 0, m->nparams * sizeof(float));
	dl_model_backward(m, n);
	return ok && (!m->nparams || all_finite(m->grads, m->nparams));
}

TEST(geom_props_layers)
{
	static const char *kinds[] = { "conv2d", "maxpool", "avgpool", "dense", "flatten", "gap",
				       "dropout", "batchnorm", "relu", "leaky_relu", "tanh",
				       "sigmoid", "gelu", "add", "concat" };
	int nk = (int)(sizeof kinds / sizeof *kinds);
	dl_backend *be = dl_test_cpu(2);
	dl_rng r;
	dl_rng_seed(&r, 1212);
	int mism = 0, ran = 0, refused = 0, broken = 0;
	for (int i = 0; i < 40 * nk; i++) {
		const char *kind = kinds[i % nk];
		dl_shape in = { rnd(&r, 1, 7), rnd(&r, 1, 7), rnd(&r, 1, 4) };
		if (!strcmp(kind, "dense") && rnd(&r, 0, 2))
			in.h = in.w = 1;
		char line[256], spec[512];
		want wt = random_line(&r, kind, in, line, sizeof line);
		dl_shape o = wt.out;
		/* a flat end: the builder wants a 1x1 output */
		snprintf(spec, sizeof spec, "input h=%d w=%d c=%d\n%s\n%s", in.h, in.w, in.c, line,
			 o.h == 1 && o.w == 1 ? "" : "flatten\ndense units=2\n");
		dl_model m;
		dl_err err;
		int rc = dl_model_build(&m, spec, "geom", &err);
		if ((rc == 0) != wt.ok) {
			mism++;
			fprintf(stderr, "  %s: %s on %dx%dx%d (%s)\n", wt.ok ? "refused" : "accepted", line, in.h, in.w, in.c,
				rc ? err.msg : "");
			if (!rc)
				dl_model_release(&m);
			continue;
		}
		if (rc) {
			refused++;
			CHECK_STR_HAS(err.msg, "geom:");
			continue;
		}
		/* the layer's output shape (the join's for add/concat) */
		int li = !strcmp(kind, "add") || !strcmp(kind, "concat") ? 1 : 0;
		dl_shape got = m.layers[li].out;
		if (got.h != o.h || got.w != o.w || got.c != o.c) {
			mism++;
			fprintf(stderr, "  %s: output %dx%dx%d, expected %dx%dx%d\n", line, got.h, got.w,
				got.c, o.h, o.w, o.c);
		}
		if (!run_model(&m, be, rnd(&r, 1, 3), &r, &err)) {
			broken++;
			fprintf(stderr, "  %s: forward/backward not finite or failed\n", line);
		}
		ran++;
		dl_model_release(&m);
	}
	CHECK_INT(mism, 0);
	CHECK_INT(broken, 0);
	CHECK(ran > 300);
	CHECK(refused > 50);
	dl_backend_close(be);
}
