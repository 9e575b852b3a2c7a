/* ReLU fusion (layer.h post_relu): batch norm + ReLU (ops.h relu_coef)
 * gives the bits of batch norm followed by ReLU, on every path of bn.c and
 * bn_sync.c; add + ReLU (add2) those of the add then ReLU; dl_model_plan
 * fuses exactly the pairs it may, with a training step whose every output,
 * gradient and running statistic equals the unfused model's. */
#include "test.h"
#include "model_test.h"

#include <stdlib.h>

#include "backend/backend.h"
#include "backend/cpu/cpu.h"
#include "backend_test.h"
#include "core/rng.h"
#include "nn/model.h"

static int same(const float *a, const float *b, size_t n)
{
	return !memcmp(a, b, n * sizeof *a);
}

/* One shape on one backend: fused ops against batch norm, then ReLU. */
static void check_ops(dl_test_ctx *t, dl_backend *be, int rows, int c, uint64_t seed)
{
	dl_rng r;
	dl_rng_seed(&r, seed);
	size_t n = (size_t)rows * c;
	float *x = rand_range(&r, n, -1, 2), *dy = rand_range(&r, n, -1, 1);
	float *g = rand_range(&r, (size_t)c, 0.5f, 1.5f), *b = rand_range(&r, (size_t)c, -0.5f, 0.5f);
	float *st = calloc(16 * (size_t)c, sizeof *st);
	float *y0 = malloc(n * sizeof *y0), *y1 = malloc(n * sizeof *y1);
	float *dm = malloc(n * sizeof *dm), *dx0 = malloc(n * sizeof *dx0),
	      *dx1 = malloc(n * sizeof *dx1), *dxp = malloc(n * sizeof *dxp);
	float *rm0 = st, *rv0 = st + c, *sm0 = st + 2 * c, *si0 = st + 3 * c, *dg0 = st + 4 * c,
	      *db0 = st + 5 * c, *rm1 = st + 6 * c, *rv1 = st + 7 * c, *sm1 = st + 8 * c,
	      *si1 = st + 9 * c, *dg1 = st + 10 * c, *db1 = st + 11 * c, *coef = st + 12 * c,
	      *dgp = st + 14 * c, *dbp = st + 15 * c;
	for (int k = 0; k < c; k++)
		rv0[k] = rv1[k] = 1;
	/* unfused: batch norm, relu, relu's backward, batch norm's backward */
	be->ops->bn_fwd_train(be, rows, c, x, g, b, 1e-5f, 0.1f, rm0, rv0, sm0, si0, NULL, y0);
	be->ops->act_fwd(be, DL_ACT_RELU, 0, n, y0, y0);
	be->ops->act_bwd(be, DL_ACT_RELU, 0, n, NULL, y0, dy, dm);
	be->ops->bn_bwd(be, rows, c, x, dm, g, sm0, si0, NULL, dx0, dg0, db0);
	/* fused */
	be->ops->bn_fwd_train(be, rows, c, x, g, b, 1e-5f, 0.1f, rm1, rv1, sm1, si1, coef, y1);
	be->ops->bn_bwd(be, rows, c, x, dy, g, sm1, si1, coef, dx1, dg1, db1);
	CHECK(same(y0, y1, n));
	CHECK(same(dx0, dx1, n));
	CHECK(same(st, st + 6 * (size_t)c, 6 * (size_t)c));
	/* the mask mattered: some y are 0, and batch norm alone differs */
	size_t zeros = 0;
	for (size_t i = 0; i < n; i++)
		zeros += y1[i] == 0;
	CHECK(zeros > n / 10 && zeros < n - n / 10);
	be->ops->bn_bwd(be, rows, c, x, dy, g, sm1, si1, NULL, dxp, dgp, dbp);
	CHECK(!same(dx1, dxp, n));
	/* parameter gradients only (dx NULL), as --sync-bn asks first */
	memset(dg1, 0, 2 * (size_t)c * sizeof *dg1);
	be->ops->bn_bwd(be, rows, c, x, dy, g, sm1, si1, coef, NULL, dg1, db1);
	CHECK(same(dg0, dg1, 2 * (size_t)c));
	/* inference */
	be->ops->bn_fwd_infer(be, rows, c, x, g, b, rm0, rv0, 1e-5f, 0, y0);
	be->ops->act_fwd(be, DL_ACT_RELU, 0, n, y0, y0);
	be->ops->bn_fwd_infer(be, rows, c, x, g, b, rm0, rv0, 1e-5f, 1, y1);
	CHECK(same(y0, y1, n));
	/* the --sync-bn ops, one rank holding every row */
	float *sum = st + 2 * c, *sq = st + 3 * c, *mean = st + 12 * c, *inv = st + 13 * c;
	float *coef2 = malloc(2 * (size_t)c * sizeof *coef2), *gs = malloc(2 * (size_t)c * sizeof *gs);
	be->ops->bn_stats(be, rows, c, x, NULL, sum);
	for (int k = 0; k < c; k++)
		mean[k] = sum[k] / (float)rows;
	be->ops->bn_stats(be, rows, c, x, mean, sq);
	be->ops->bn_fwd_given(be, rows, c, rows, x, g, b, 1e-5f, 0.1f, mean, sq, rm0, rv0, inv,
			      NULL, y0);
	be->ops->act_fwd(be, DL_ACT_RELU, 0, n, y0, y0);
	be->ops->act_bwd(be, DL_ACT_RELU, 0, n, NULL, y0, dy, dm);
	memset(gs, 0, 2 * (size_t)c * sizeof *gs);
	be->ops->bn_bwd(be, rows, c, x, dm, g, mean, inv, NULL, NULL, gs, gs + c);
	be->ops->bn_bwd_given(be, rows, c, rows, x, dm, g, mean, inv, NULL, gs, gs + c, dx0);
	be->ops->bn_fwd_given(be, rows, c, rows, x, g, b, 1e-5f, 0.1f, mean, sq, rm1, rv1, inv,
			      coef2, y1);
	CHECK(same(y0, y1, n));
	memset(dg1, 0, 2 * (size_t)c * sizeof *dg1);
	be->ops->bn_bwd(be, rows, c, x, dy, g, mean, inv, coef2, NULL, dg1, db1);
	CHECK(same(gs, dg1, 2 * (size_t)c));
	be->ops->bn_bwd_given(be, rows, c, rows, x, dy, g, mean, inv, coef2, dg1, db1, dx1);
	CHECK(same(dx0, dx1, n));
	free(coef2), free(gs);
	free(x), free(dy), free(g), free(b), free(st), free(y0), free(y1), free(dm);
	free(dx0), free(dx1), free(dxp);
}

/* Every path of bn.c: the channel split (small, or one thread, or no
 * scratch) and the row split, chunk widths 64, 32, 16 and odd ones. */
TEST(fusion_bn_relu_ops_same_bits)
{
	dl_backend *bes[3] = { dl_test_cpu(1), dl_test_cpu(2), dl_test_cpu(2) };
	cpu_of(bes[2])->bn_channels_only = 1;
	const int shapes[][2] = { { 50, 24 }, { 1000, 64 }, { 700, 100 }, { 4099, 96 }, { 300, 128 } };
	for (int b = 0; b < 3; b++)
		for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
			check_ops(t, bes[b], shapes[s][0], shapes[s][1], 40 + s);
	for (int b = 0; b < 3; b++)
		dl_backend_close(bes[b]);
}

/* add2 against axpby + relu, in place too, odd lengths (the tail block) */
TEST(fusion_add2_same_bits)
{
	dl_backend *be = dl_test_cpu(2);
	dl_rng r;
	dl_rng_seed(&r, 8);
	const size_t lens[] = { 1, 17, 1000, 70001 };
	for (size_t s = 0; s < sizeof lens / sizeof *lens; s++) {
		size_t n = lens[s];
		float *a = rand_range(&r, n, -1, 1), *b = rand_range(&r, n, -1, 1);
		float *y0 = malloc(n * sizeof *y0), *y1 = malloc(n * sizeof *y1);
		for (int relu = 0; relu < 2; relu++) {
			be->ops->axpby(be, n, 1.0f, a, 0.0f, y0);
			be->ops->axpby(be, n, 1.0f, b, 1.0f, y0);
			if (relu)
				be->ops->act_fwd(be, DL_ACT_RELU, 0, n, y0, y0);
			be->ops->add2(be, n, a, b, relu, y1);
			CHECK(same(y0, y1, n));
			memcpy(y1, a, n * sizeof *y1);
			be->ops->add2(be, n, y1, b, relu, y1);   /* y = a */
			CHECK(same(y0, y1, n));
			memcpy(y1, b, n * sizeof *y1);
			be->ops->add2(be, n, a, y1, relu, y1);   /* y = b */
			CHECK(same(y0, y1, n));
		}
		size_t zeros = 0;
		for (size_t i = 0; i < n; i++)
			zeros += y1[i] == 0;
		CHECK(n < 1000 || (zeros > n / 4 && zeros < n - n / 4));
		free(a), free(b), free(y0), free(y1);
	}
	dl_backend_close(be);
}

static const char *SPEC =
	"input h=8 w=8 c=3\n"
	"conv2d filters=32 size=3 pad=1 name=c1\n"   /* 0 */
	"batchnorm name=b1\n"                        /* 1 */
	"relu name=r1\n"                             /* 2 fused: b1 read by r1 alone */
	"conv2d filters=8 size=3 pad=1 name=c2\n"    /* 3 */
	"batchnorm name=b2\n"                        /* 4 */
	"relu name=r2\n"                             /* 5 not: b2 also read by a1 */
	"add from=b2,r2 name=a1\n"                   /* 6 */
	"relu name=r3\n"                             /* 7 not: a1 also read by a2 */
	"add from=a1,r3,r2 name=a2\n"                /* 8 three inputs */
	"relu name=r4\n"                             /* 9 fused into a2 */
	"batchnorm name=b3\n"                        /* 10 */
	"leaky_relu slope=0.1\n"                     /* 11 not: only relu fuses */
	"relu\n"                                     /* 12 not: after leaky_relu */
	"gap\n"                                      /* 13 */
	"dense units=12\n"                           /* 14 */
	"batchnorm\n"                                /* 15 */
	"relu\n"                                     /* 16 fused, on a flat [n, 12] */
	"dense units=5\n";                           /* 17 */

static int ready(dl_test_ctx *t, dl_model *m, dl_backend *be, int no_fuse, int batch)
{
	return dl_test_model_ready(t, m, be, SPEC, "fuse.spec", 3, no_fuse ? DL_TEST_NO_FUSE : 0, batch);
}

/* The plan fuses r1, r4 and the last relu only; a training step and an
 * evaluation pass of the fused model give the unfused model's bits. */
TEST(fusion_model_same_bits)
{
	for (int nt = 1; nt <= 2; nt++) {
		dl_backend *be = dl_test_cpu(nt);
		dl_model m[2];
		int batch = 16;
		if (ready(t, &m[0], be, 0, batch)) {
			dl_backend_close(be);
			return;
		}
		if (ready(t, &m[1], be, 1, batch)) {
			dl_model_release(&m[0]);
			dl_backend_close(be);
			return;
		}
		int fused[32] = { 0 }, post[32] = { 0 };
		for (int i = 0; i < m[0].nlayers; i++) {
			fused[i] = m[0].layers[i].fused;
			post[i] = m[0].layers[i].post_relu;
			CHECK(!m[1].layers[i].fused && !m[1].layers[i].post_relu);
		}
		CHECK_INT(m[0].nlayers, 18);
		CHECK(post[1] && fused[2] && post[8] && fused[9] && post[15] && fused[16]);
		int nf = 0;
		for (int i = 0; i < m[0].nlayers; i++)
			nf += fused[i] + post[i];
		CHECK_INT(nf, 6);
		CHECK(m[0].y[2] == m[0].y[1] && m[0].dy[2] == m[0].dy[1]);
		CHECK(m[0].y[9] == m[0].y[8] && m[0].dy[9] == m[0].dy[8]);
		dl_rng r;
		dl_rng_seed(&r, 5);
		size_t nx = (size_t)batch * 8 * 8 * 3, nout = (size_t)batch * 5;
		float *x = rand_range(&r, nx, -1, 1), *d = rand_range(&r, nout, -1, 1);
		for (int k = 0; k < 2; k++) {
			dl_model_set_training(&m[k], 1);
			memcpy(m[k].x, x, nx * sizeof *x);
			dl_model_forward(&m[k], batch);
			memcpy(dl_model_doutput(&m[k]), d, nout * sizeof *d);
			dl_model_backward(&m[k], batch);
		}
		CHECK(same(dl_model_output(&m[0]), dl_model_output(&m[1]), nout));
		CHECK(same(m[0].grads, m[1].grads, m[0].nparams));
		CHECK(same(m[0].buffers, m[1].buffers, m[0].nbuffers));
		/* every output, but a fused batch norm's: it holds its relu's */
		for (int i = 0; i < m[0].nlayers; i++)
			CHECK(post[i] ||
			      same(m[0].y[i], m[1].y[i], (size_t)batch * dl_shape_size(m[0].layers[i].out)));
		for (int k = 0; k < 2; k++) {
			dl_model_set_training(&m[k], 0);
			dl_model_forward(&m[k], batch);
		}
		CHECK(same(dl_model_output(&m[0]), dl_model_output(&m[1]), nout));
		free(x);
		free(d);
		dl_model_release(&m[0]);
		dl_model_release(&m[1]);
		dl_backend_close(be);
	}
}
