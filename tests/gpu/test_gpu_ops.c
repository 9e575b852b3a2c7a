/* Every op of backend.h: CUDA against the CPU reference on fresh random
 * inputs (relative error under GPU_TOL_FP32; exact where the op is exact:
 * argmax counts, dropout masks, gathers of integers). */
#include "gpu.h"

#include <math.h>
#include <string.h>

/* Runs BODY once per side with `be` the backend and B(x) the side's
 * pointer of gpu_buf x; fails the test if that side lacks op OP. */
#define EACH(p, OP, BODY) do {                                                 \
	for (int s_ = 0; s_ < 2; s_++) {                                       \
		dl_backend *be = s_ ? (p)->gpu : (p)->cpu;                     \
		if (!be->ops->OP) {                                            \
			fprintf(stderr, "  %s: the %s backend has no " #OP "\n", \
				t->name, be->ops->name);                       \
			t->failed = 1;                                         \
			break;                                                 \
		}                                                              \
		BODY;                                                          \
	} } while (0)
#define B(x) (s_ ? (x).g : (x).c)
#define RAW(cp, gp) (s_ ? (gp) : (cp))

TEST(gpu_cuda_available)
{
	gpu_pair p;
	if (gpu_open(t, &p, "fp32"))
		return;
	CHECK(!strcmp(p.gpu->ops->name, "cuda"));
	CHECK(dl_backend_ops_missing(p.gpu->ops) == NULL);
	gpu_close(&p);
}

/* A NaN gradient norm: clipping scales by NaN as the CPU does (the old
 * kernel skipped the scaling, hiding the divergence). */
TEST(gpu_clip_nan_norm)
{
	gpu_pair p;
	if (gpu_open(t, &p, "fp32"))
		return;
	size_t n = 1000;
	gpu_buf g = gpu_rand_buf(&p, n, -1, 1), ss = gpu_nan_buf(&p, 1);
	EACH(&p, clip_scale, be->ops->clip_scale(be, n, B(g), B(ss), 1.0f));
	float h[4];
	p.gpu->ops->to_host(p.gpu, h, g.g, sizeof h);
	CHECK(isnan(h[0]) && isnan(h[3]));
	p.cpu->ops->to_host(p.cpu, h, g.c, sizeof h);
	CHECK(isnan(h[0]) && isnan(h[3]));
	gpu_buf_free(&p, &g);
	gpu_buf_free(&p, &ss);
	gpu_check_error(t, &p);
	gpu_close(&p);
}

/* C = 0.7 op(A) op(B) + (acc ? 0.3 C : 0) for all four transposes, every
 * leading dimension wider than its row; beta 0 must not read C (NaN
 * inside [m, n], zeros in the padding). */
static void gemm_transposes(dl_test_ctx *t, gpu_pair *p, int acc, double tol)
{
	int m = 37, n = 53, k = 71;
	for (int ta = 0; ta < 2; ta++)
		for (int tb = 0; tb < 2; tb++) {
			int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2;
			gpu_buf a = gpu_rand_buf(p, (size_t)(ta ? k : m) * lda, -1, 1);
			gpu_buf b = gpu_rand_buf(p, (size_t)(tb ? n : k) * ldb, -1, 1);
			gpu_buf c = acc ? gpu_rand_buf(p, (size_t)m * ldc, -1, 1)
					: gpu_nan_buf(p, (size_t)m * ldc);
			if (!acc) {
				float *z = calloc((size_t)m * ldc, sizeof *z);
				gpu_buf_free(p, &c);
				c = gpu_buf_from(p, z, (size_t)m * ldc);
				for (int r = 0; r < m; r++)
					for (int j = 0; j < n; j++)
						z[(size_t)r * ldc + j] = NAN;
				p->cpu->ops->to_device(p->cpu, c.c, z, (size_t)m * ldc * 4);
				p->gpu->ops->to_device(p->gpu, c.g, z, (size_t)m * ldc * 4);
				free(z);
			}
			EACH(p, gemm, be->ops->gemm(be, ta, tb, m, n, k, 0.7f, B(a), lda, B(b), ldb,
						    acc ? 0.3f : 0.0f, B(c), ldc));
			CHECK_REL(p, &c, tol);
			gpu_buf_free(p, &a);
			gpu_buf_free(p, &b);
			gpu_buf_free(p, &c);
		}
}

TEST(gpu_gemm_all_transposes)
{
	gpu_pair p;
	if (gpu_open(t, &p, "fp32"))
		return;
	gemm_transposes(t, &p, 0, GPU_TOL_FP32);
	gemm_transposes(t, &p, 1, GPU_TOL_FP32);
	gpu_close(&p);
}

TEST(gpu_bias_add_grad)
{
	gpu_pair p;
	if (gpu_open(t, &p, "fp32"))
		return;
	int rows = 3001, cols = 67;
	gpu_buf y = gpu_rand_buf(&p, (size_t)rows * cols, -1, 1), b = gpu_rand_buf(&p, cols, -1, 1);
	gpu_buf db = gpu_rand_buf(&p, cols, -1, 1);
	EACH(&p, bias_add, be->ops->bias_add(be, B(y), B(b), rows, cols));
	CHECK_REL(&p, &y, GPU_TOL_FP32);
	EACH(&p, bias_grad, be->ops->bias_grad(be, B(db), B(y), rows, cols));
	CHECK_REL(&p, &db, GPU_TOL_FP32);
	gpu_buf_free(&p, &y);
	gpu_buf_free(&p, &b);
	gpu_buf_free(&p, &db);
	gpu_close(&p);
}

/* One geometry through fwd (with and without bias), bwd_data, bwd_filter. */
static void conv_case(dl_test_ctx *t, gpu_pair *p, dl_conv_geom g, double tol)
{
	int dh = g.dh ? g.dh : 1, dw = g.dw ? g.dw : 1, G = g.groups ? g.groups : 1;
	g.oh = (g.h + g.pt + g.pb - dh * (g.kh - 1) - 1) / g.sh + 1;
	g.ow = (g.w + g.pl + g.pr - dw * (g.kw - 1) - 1) / g.sw + 1;
	size_t nx = (size_t)g.n * g.h * g.w * g.c, ny = (size_t)g.n * g.oh * g.ow * g.k;
	size_t nw = (size_t)g.k * g.kh * g.kw * (g.c / G);
	gpu_buf x = gpu_rand_buf(p, nx, -1, 1), w = gpu_rand_buf(p, nw, -0.5f, 0.5f);
	gpu_buf b = gpu_rand_buf(p, g.k, -1, 1), y = gpu_nan_buf(p, ny), y0 = gpu_nan_buf(p, ny);
	gpu_buf dy = gpu_rand_buf(p, ny, -1, 1), dx = gpu_nan_buf(p, nx);
	gpu_buf dwb = gpu_rand_buf(p, nw, -1, 1), db = gpu_rand_buf(p, g.k, -1, 1);
	EACH(p, conv2d_fwd, be->ops->conv2d_fwd(be, &g, B(x), B(w), B(b), B(y)));
	EACH(p, conv2d_fwd, be->ops->conv2d_fwd(be, &g, B(x), B(w), NULL, B(y0)));
	EACH(p, conv2d_bwd_data, be->ops->conv2d_bwd_data(be, &g, B(dy), B(w), B(dx)));
	EACH(p, conv2d_bwd_filter, be->ops->conv2d_bwd_filter(be, &g, B(x), B(dy), B(dwb), B(db)));
	CHECK_REL(p, &y, tol);
	CHECK_REL(p, &y0, tol);
	CHECK_REL(p, &dx, tol);
	CHECK_REL(p, &dwb, tol);
	CHECK_REL(p, &db, tol);
	if (t->failed)
		fprintf(stderr, "  conv n%d %dx%dx%d k%d %dx%d s%d,%d pad %d,%d,%d,%d dil %d,%d groups %d\n",
			g.n, g.h, g.w, g.c, g.k, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.pb, g.pr, dh, dw,
			G);
	gpu_buf *all[] = { &x, &w, &b, &y, &y0, &dy, &dx, &dwb, &db };
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		gpu_buf_free(p, all[i]);
}

static const dl_conv_geom conv_cases[] = {
	/* n, h, w, c, k, kh, kw, sh, sw, pt, pl, pb, pr, oh, ow, dh, dw, groups */
	{ 8, 28, 28, 1, 6, 5, 5, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0, 0 },    /* lenet conv1 */
	{ 8, 14, 14, 6, 16, 5, 5, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 },   /* lenet conv2 */
	{ 4, 17, 13, 8, 12, 3, 3, 2, 2, 0, 0, 1, 1, 0, 0, 0, 0, 0 },   /* asymmetric pad */
	{ 4, 16, 16, 8, 8, 3, 3, 1, 1, 2, 2, 2, 2, 0, 0, 2, 2, 0 },    /* dilation 2 */
	{ 4, 12, 12, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 4 },   /* groups 4 */
	{ 4, 12, 12, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, 16 }, /* depthwise */
	{ 16, 8, 8, 32, 64, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 },   /* 1x1 */
};

static void conv_all(dl_test_ctx *t, gpu_pair *p, double tol)
{
	for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++)
		conv_case(t, p, conv_cases[i], tol);
}

TEST(gpu_conv_fp32)
{
	gpu_pair p;
	if (gpu_open(t, &p, "fp32"))
		return;
	conv_all(t, &p, GPU_TOL_FP32);
	gpu_close(&p);
}

/* A 256x128 = (256x512)(512x128) product GPU vs CPU: its relative error;
 * with `repeat`, the GPU's product computed again must be bit-identical. */
static double gemm_k512(dl_test_ctx *t, gpu_pair *p, int repeat)
{
	int m = 256, n = 128, k = 512;
	size_t bytes = (size_t)m * n * sizeof(float);
	gpu_buf a = gpu_rand_buf(p, (size_t)m * k, -1, 1), b = gpu_rand_buf(p, (size_t)k * n, -1, 1);
	gpu_buf c = gpu_nan_buf(p, (size_t)m * n);
	EACH(p, gemm, be->ops->gemm(be, 0, 0, m, n, k, 1, B(a), k, B(b), n, 0, B(c), n));
	double e = gpu_relerr(p, &c);
	if (repeat) {
		float *h1 = malloc(bytes), *h2 = malloc(bytes);
		p->gpu->ops->to_host(p->gpu, h1, c.g, bytes);
		p->gpu->ops->gemm(p->gpu, 0, 0, m, n, k, 1, a.g, k, b.g, n, 0, c.g, n);
		p->gpu->ops->to_host(p->gpu, h2, c.g, bytes);
		CHECK(!memcmp(h1, h2, bytes));
		free(h1);
		free(h2);
	}
	gpu_buf_free(p, &a);
	gpu_buf_free(p, &b);
	gpu_buf_free(p, &c);
	return e;
}

TEST(gpu_conv_gemm_tf32)
{
	gpu_pair p;
	if (gpu_open(t, &p, "tf32"))
		return;
	conv_all(t, &p, GPU_TOL_TF32);
	/* TF32 is on: the error is well above fp32 rounding (lower bound) */
	double e = gemm_k512(t, &p, 0);
	fprintf(stderr, "  tf32 gemm k=512: relative error %.3g (fp32 would be ~1e-7)\n", e);
	CHECK(e <= GPU_TOL_TF32 && e > GPU_TOL_TF32_MIN);
	gpu_close(&p);
}

/* bf16: every operand of a gemm or convolution rounded to 8 significant
 * bits, fp32 accumulation (docs/DESIGN.md, "bf16").  Against the fp32 CPU:
 * under GPU_TOL_BF16, and above GPU_TOL_BF16_MIN where bf16 must be on
 * (a k = 512 product, a 1x1 convolution cuDNN serves in bf16 on every
 * GPU the build accepts); a second run is bit-identical. */
TEST(gpu_conv_gemm_bf16)
{
	gpu_pair p;
	if (gpu_open(t, &p, "bf16"))
		return;
	conv_all(t, &p, GPU_TOL_BF16);
	gemm_transposes(t, &p, 0, GPU_TOL_BF16);
	gemm_transposes(t, &p, 1, GPU_TOL_BF16);
	double e = gemm_k512(t, &p, 1);
	fprintf(stderr, "  bf16 gemm k=512: relative error %.3g (tf32 ~3e-4, fp32 ~1e-7)\n", e);
	CHECK(e <= GPU_TOL_BF16 && e > GPU_TOL_BF16_MIN);
	/* a 1x1 convolution over 256 channels: bf16 rounding shows */
	dl_conv_geom g = { 8, 8, 8, 256, 64, 1, 1, 1, 1, 0, 0, 0, 0, 8, 8, 0, 0, 0 };
	size_t nx = (size_t)8 * 8 * 8 * 256, ny = (size_t)8 * 8 * 8 * 64, nw = (size_t)64 * 256;
	gpu_buf x = gpu_rand_buf(&p, nx, -1, 1), w = gpu_rand_buf(&p, nw, -1, 1);
	gpu_buf y = gpu_nan_buf(&p, ny);
	EACH(&p, conv2d_fwd, be->ops->conv2d_fwd(be, &g, B(x), B(w), NULL, B(y)));
	e = gpu_relerr(&p, &y);
	fprintf(stderr, "  bf16 conv 1x1 c=256: relative error %.3g\n", e);
	CHECK(e <= GPU_TOL_BF16 && e > GPU_TOL_BF16_MIN);
	gpu_buf_free(&p, &x);
	gpu_buf_free(&p, &w);
	gpu_buf_free(&p, &y);
	gpu_check_error(t, &p);
	gpu_close(&p);
}

/* Inputs from a few values, so windows have ties (first-max rule). */
static gpu_buf tie_buf(gpu_pair *p, size_t n)
{
	float *h = malloc(n * sizeof *h);
	for (size_t i = 0; i < n; i++)
		h[i] = (float)(int)gpu_rand(p, -3, 3);
	gpu_buf b = gpu_buf_from(p, h, n);
	free(h);
	return b;
}

TEST(gpu_pooling)
{
	gpu_pair p;
	if (gpu_open(t, &p, "fp32"))
		return;
	const dl_pool_geom cases[] = {
		/* n, h, w, c, kh, kw, sh, sw, pt, pl, oh, ow */
		{ 4, 28, 28, 6, 2, 2, 2, 2, 0, 0, 14, 14 },
		{ 3, 15, 13, 5, 3, 3, 2, 2, 1, 1, 8, 7 },
		{ 2, 7, 7, 33, 7, 7, 1, 1, 0, 0, 1, 1 },   /* global */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		dl_pool_geom g = cases[i];
		size_t nx = (size_t)g.n * g.h * g.w * g.c, ny = (size_t)g.n * g.oh * g.ow * g.c;
		gpu_buf x = tie_buf(&p, nx), y = gpu_nan_buf(&p, ny), dy = gpu_rand_buf(&p, ny, -1, 1);
		gpu_buf dx = gpu_nan_buf(&p, nx), ya = gpu_nan_buf(&p, ny), dxa = gpu_nan_buf(&p, nx);
		EACH(&p, maxpool_fwd, be->ops->maxpool_fwd(be, &g, B(x), B(y)));
		EACH(&p, maxpool_bwd, be->ops->maxpool_bwd(be, &g, B(x), B(y), B(dy), B(dx)));
		EACH(&p, avgpool_fwd, be->ops->avgpool_fwd(be, &g, B(x), B(ya)));
		EACH(&p, avgpool_bwd, be->ops->avgpool_bwd(be, &g, B(dy), B(dxa)));
		CHECK_REL(&p, &y, 0);          /* max is exact */
		CHECK_REL(&p, &dx, 1e-6);      /* same routing, same order */
		CHECK_REL(&p, &ya, GPU_TOL_FP32);
		CHECK_REL(&p, &dxa, GPU_TOL_FP32);
		gpu_buf *all[] = { &x, &y, &dy, &dx, &ya, &dxa };
		for (size_t j = 0; j < sizeof all / sizeof *all; j++)
			gpu_buf_free(&p, all[j]);
	}
	gpu_close(&p);
}

/* Batch norm, without and with a fused ReLU (relu_coef): the GPU's ops
 * against the CPU's, which with the ReLU give the bits of batch norm then
 * ReLU (tests/unit/test_fusion.c). */
TEST(gpu_batch_norm)
{
	gpu_pair p;
	if (gpu_open(t, &p, "fp32"))
		return;
	int rows = 4 * 9 * 9, c = 24;
	size_t n = (size_t)rows * c;
	for (int relu = 0; relu < 2; relu++) {
		gpu_buf x = gpu_rand_buf(&p, n, -2, 3), gm = gpu_rand_buf(&p, c, 0.5f, 1.5f);
		gpu_buf bt = gpu_rand_buf(&p, c, -1, 1), rm = gpu_rand_buf(&p, c, -1, 1);
		gpu_buf rv = gpu_rand_buf(&p, c, 0.5f, 2), sm = gpu_nan_buf(&p, c), si = gpu_nan_buf(&p, c);
		gpu_buf coef = gpu_nan_buf(&p, 2 * (size_t)c);
		gpu_buf y = gpu_nan_buf(&p, n), yi = gpu_nan_buf(&p, n), dy = gpu_rand_buf(&p, n, -1, 1);
		gpu_buf dx = gpu_nan_buf(&p, n), dg = gpu_rand_buf(&p, c, -1, 1);
		gpu_buf dbt = gpu_rand_buf(&p, c, -1, 1);
		EACH(&p, bn_fwd_train, be->ops->bn_fwd_train(be, rows, c, B(x), B(gm), B(bt), 1e-5f,
							     0.1f, B(rm), B(rv), B(sm), B(si),
							     relu ? B(coef) : NULL, B(y)));
		EACH(&p, bn_bwd, be->ops->bn_bwd(be, rows, c, B(x), B(dy), B(gm), B(sm), B(si),
						 relu ? B(coef) : NULL, B(dx), B(dg), B(dbt)));
		EACH(&p, bn_fwd_infer, be->ops->bn_fwd_infer(be, rows, c, B(x), B(gm), B(bt), B(rm),
							     B(rv), 1e-5f, relu, B(yi)));
		gpu_buf *chk[] = { &y, &rm, &rv, &sm, &si, &dx, &dg, &dbt, &yi, &coef };
		for (size_t i = 0; i < sizeof chk / sizeof *chk - !relu; i++)
			CHECK_REL(&p, chk[i], GPU_TOL_FP32);
		if (t->failed)
			fprintf(stderr, "  relu %d\n", relu);
		gpu_buf *all[] = { &x, &gm, &bt, &rm, &rv, &sm, &si, &coef, &y, &yi, &dy, &dx, &dg, &dbt };
		for (size_t i = 0; i < sizeof all / sizeof *all; i++)
			gpu_buf_free(&p, all[i]);
	}
	gpu_close(&p);
}

TEST(gpu_elementwise)
{
	gpu_pair p;
	if (gpu_open(t, &p, "fp32"))
		return;
	size_t n = 100003;
	uint64_t seed = 0x1234abcdull + (uint64_t)gpu_rand(&p, 0, 1000);
	gpu_buf x = gpu_rand_buf(&p, n, -4, 4), dy = gpu_rand_buf(&p, n, -1, 1);
	gpu_buf y = gpu_nan_buf(&p, n), dx = gpu_nan_buf(&p, n), d = gpu_nan_buf(&p, n);
	EACH(&p, dropout, be->ops->dropout(be, n, B(x), B(d), 0.3f, seed));
	CHECK_INT(gpu_zero_mismatch(&p, &d), 0);   /* the same mask, bit for bit */
	CHECK_REL(&p, &d, GPU_TOL_FP32);
	for (int k = DL_ACT_RELU; k <= DL_ACT_HARDSWISH + 1; k++) {
		/* last pass: leaky relu with a negative slope, y NULL (ops.h) */
		int neg = k > DL_ACT_HARDSWISH;
		dl_act_kind kind = neg ? DL_ACT_LEAKY_RELU : (dl_act_kind)k;
		float al = neg ? -0.3f : 0.1f;
		EACH(&p, act_fwd, be->ops->act_fwd(be, kind, al, n, B(x), B(y)));
		EACH(&p, act_bwd, be->ops->act_bwd(be, kind, al, n, B(x), neg ? NULL : B(y), B(dy),
						   B(dx)));
		CHECK_REL(&p, &y, GPU_TOL_FP32);
		CHECK_REL(&p, &dx, GPU_TOL_FP32);
		if (t->failed)
			fprintf(stderr, "  activation kind %d\n", k);
	}
	gpu_fill_nan(&p, &dx);   /* beta 0 must not read y: y is all NaN */
	EACH(&p, axpby, be->ops->axpby(be, n, 0.5f, B(x), 0, B(dx)));
	CHECK_REL(&p, &dx, GPU_TOL_FP32);
	EACH(&p, axpby, be->ops->axpby(be, n, -1.5f, B(dy), 0.25f, B(dx)));
	CHECK_REL(&p, &dx, GPU_TOL_FP32);
	for (int relu = 0; relu < 2; relu++) {   /* a sum is exact either side: bits */
		EACH(&p, add2, be->ops->add2(be, n, B(x), B(dy), relu, B(dx)));
		CHECK_REL(&p, &dx, 0);
		EACH(&p, add2, be->ops->add2(be, n, B(dx), B(x), relu, B(dx)));   /* in place */
		CHECK_REL(&p, &dx, 0);
	}
	int rows = 50, cols = 37, sld = 101, dld = 90;
	gpu_buf dst = gpu_rand_buf(&p, (size_t)rows * dld, -1, 1);
	EACH(&p, copy2d, be->ops->copy2d(be, rows, cols, B(x), sld, B(dst), dld, 0));
	EACH(&p, copy2d, be->ops->copy2d(be, rows, cols, B(dy) + 7, sld, B(dst) + 40, dld, 1));
	CHECK_REL(&p, &dst, 0);
	gpu_buf *all[] = { &x, &dy, &y, &dx, &d, &dst };
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		gpu_buf_free(&p, all[i]);
	gpu_close(&p);
}

TEST(gpu_losses)
{
	gpu_pair p;
	if (gpu_open(t, &p, "fp32"))
		return;
	int n = 300, k = 37;
	int32_t *lab = malloc(n * sizeof *lab);
	for (int i = 0; i < n; i++)
		lab[i] = (int32_t)gpu_rand(&p, 0, (float)k);
	int32_t *lc = gpu_bytes_c(&p, lab, n * sizeof *lab), *lg = gpu_bytes_g(&p, lab, n * sizeof *lab);
	gpu_buf z = gpu_rand_buf(&p, (size_t)n * k, -6, 6), d = gpu_nan_buf(&p, (size_t)n * k);
	gpu_buf st = gpu_rand_buf(&p, 3, 0, 10), pr = gpu_nan_buf(&p, (size_t)n * k);
	for (int smooth = 0; smooth < 2; smooth++) {
		EACH(&p, softmax_xent, be->ops->softmax_xent(be, n, k, B(z), RAW(lc, lg),
							     smooth ? 0.1f : 0, 1.0f / n, B(d), B(st)));
		EACH(&p, softmax_xent, be->ops->softmax_xent(be, n, k, B(z), RAW(lc, lg), 0, 1, NULL,
							     B(st)));
		CHECK_REL(&p, &d, GPU_TOL_FP32);
		CHECK_REL(&p, &st, GPU_TOL_FP32);
	}
	EACH(&p, softmax, be->ops->softmax(be, n, k, B(z), B(pr)));
	CHECK_REL(&p, &pr, GPU_TOL_FP32);
	gpu_buf tg = gpu_rand_buf(&p, (size_t)n * k, -6, 6);
	for (int kind = DL_REG_MSE; kind <= DL_REG_HUBER; kind++) {
		EACH(&p, regress_loss, be->ops->regress_loss(be, (dl_reg_kind)kind, n, k, B(z), B(tg),
							     1.5f, 0.01f, B(d), B(st)));
		CHECK_REL(&p, &d, GPU_TOL_FP32);
		CHECK_REL(&p, &st, GPU_TOL_FP32);
	}
	p.cpu->ops->free(p.cpu, lc);
	p.gpu->ops->free(p.gpu, lg);
	free(lab);
	gpu_buf *all[] = { &z, &d, &st, &pr, &tg };
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		gpu_buf_free(&p, all[i]);
	gpu_close(&p);
}

TEST(gpu_optimizers_and_clipping)
{
	gpu_pair p;
	if (gpu_open(t, &p, "fp32"))
		return;
	size_t n = 77777;
	gpu_buf w = gpu_rand_buf(&p, n, -1, 1), v = gpu_rand_buf(&p, n, 0, 0);
	gpu_buf m = gpu_rand_buf(&p, n, 0, 0), v2 = gpu_rand_buf(&p, n, 0, 0);
	gpu_buf ss = gpu_nan_buf(&p, 1);
	for (int step = 1; step <= 4; step++) {
		gpu_buf g = gpu_rand_buf(&p, n, -1, 1);
		EACH(&p, sumsq, be->ops->sumsq(be, n, B(g), B(ss)));
		CHECK_REL(&p, &ss, GPU_TOL_FP32);
		EACH(&p, clip_scale, be->ops->clip_scale(be, n, B(g), B(ss), 10.0f));
		CHECK_REL(&p, &g, GPU_TOL_FP32);
		EACH(&p, sgd_update, be->ops->sgd_update(be, n, B(w), B(g), B(v), 0.01f, 0.9f, 1e-4f,
							 step & 1));
		EACH(&p, sgd_update, be->ops->sgd_update(be, n, B(w), B(g), NULL, 0.01f, 0, 0, 0));
		float b1 = 0.9f, b2 = 0.999f;
		EACH(&p, adam_update, be->ops->adam_update(be, n, B(w), B(g), B(m), B(v2), 1e-3f, b1,
							   b2, 1e-8f, 0.01f, step & 1,
							   1 - powf(b1, (float)step),
							   1 - powf(b2, (float)step)));
		gpu_buf_free(&p, &g);
	}
	CHECK_REL(&p, &w, GPU_TOL_FP32);
	CHECK_REL(&p, &v, GPU_TOL_FP32);
	CHECK_REL(&p, &m, GPU_TOL_FP32);
	CHECK_REL(&p, &v2, GPU_TOL_FP32);
	gpu_buf *all[] = { &w, &v, &m, &v2, &ss };
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		gpu_buf_free(&p, all[i]);
	gpu_close(&p);
}

TEST(gpu_gather_and_augment)
{
	gpu_pair p;
	if (gpu_open(t, &p, "fp32"))
		return;
	int N = 50, n = 33, h = 11, w = 9, c = 3, k = 4;
	size_t img = (size_t)h * w * c;
	uint8_t *u8 = malloc(N * img);
	uint32_t idx[33];
	int32_t lab[50];
	float tg[50 * 4];
	for (size_t i = 0; i < N * img; i++)
		u8[i] = (uint8_t)gpu_rand(&p, 0, 256);
	for (int i = 0; i < n; i++)
		idx[i] = (uint32_t)gpu_rand(&p, 0, (float)N);
	for (int i = 0; i < N; i++)
		lab[i] = i * 7;
	for (int i = 0; i < N * k; i++)
		tg[i] = gpu_rand(&p, -1, 1);
	uint8_t *sc = gpu_bytes_c(&p, u8, N * img), *sg = gpu_bytes_g(&p, u8, N * img);
	uint32_t *ic = gpu_bytes_c(&p, idx, sizeof idx), *ig = gpu_bytes_g(&p, idx, sizeof idx);
	int32_t *lc = gpu_bytes_c(&p, lab, sizeof lab), *lg = gpu_bytes_g(&p, lab, sizeof lab);
	gpu_buf tgt = gpu_buf_from(&p, tg, (size_t)N * k), to = gpu_nan_buf(&p, (size_t)n * k);
	dl_norm nm = { 3, 1.0f / 255, { 0.5f, 0.4f, 0.3f }, { 0.25f, 0.2f, 0.3f } };
	for (int mode = 0; mode < 4; mode++) {
		dl_aug aug = { mode >= 2 ? 4 : 0, mode & 1, 0xfeedull + (uint64_t)mode };
		gpu_buf out = gpu_nan_buf(&p, (size_t)n * img);
		EACH(&p, gather_u8, be->ops->gather_u8(be, RAW(sc, sg), RAW(ic, ig), n, h, w, c,
						       mode ? &nm : NULL, mode ? &aug : NULL, B(out)));
		CHECK_REL(&p, &out, 1e-6);   /* same crops and flips: only rounding may differ */
		gpu_buf_free(&p, &out);
	}
	int32_t oc[33], og[33];
	int32_t *dc = p.cpu->ops->alloc(p.cpu, sizeof oc), *dg = p.gpu->ops->alloc(p.gpu, sizeof og);
	p.cpu->ops->gather_i32(p.cpu, lc, ic, n, dc);
	p.gpu->ops->gather_i32(p.gpu, lg, ig, n, dg);
	p.cpu->ops->to_host(p.cpu, oc, dc, sizeof oc);
	p.gpu->ops->to_host(p.gpu, og, dg, sizeof og);
	CHECK(!memcmp(oc, og, sizeof oc));
	EACH(&p, gather_f32, be->ops->gather_f32(be, B(tgt), RAW(ic, ig), n, k, B(to)));
	CHECK_REL(&p, &to, 0);
	p.cpu->ops->free(p.cpu, dc);
	p.gpu->ops->free(p.gpu, dg);
	p.cpu->ops->free(p.cpu, sc);
	p.gpu->ops->free(p.gpu, sg);
	p.cpu->ops->free(p.cpu, ic);
	p.gpu->ops->free(p.gpu, ig);
	p.cpu->ops->free(p.cpu, lc);
	p.gpu->ops->free(p.gpu, lg);
	gpu_buf_free(&p, &tgt);
	gpu_buf_free(&p, &to);
	free(u8);
	gpu_close(&p);
}
