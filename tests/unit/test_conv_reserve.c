/* conv2d_reserve: the CPU backend's convolution scratch is sized once (by
 * the op, which dl_model_plan calls per conv layer) and the conv ops then
 * run without growing it. */
#include "test.h"
#include "backend_test.h"

#include "backend/cpu/cpu.h"
#include "nn/model.h"

TEST(backend_cpu_conv_reserve_sizes_scratch_once)
{
	dl_backend *be = dl_test_cpu(2);
	cpu_impl *im = cpu_of(be);
	/* one im2col row (K = 3*3*16384) larger than the default scratch */
	dl_conv_geom g = { 1, 3, 3, 16384, 2, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1 };
	size_t K = 3 * 3 * 16384;
	CHECK(im->scratch[0].col_cap < K);
	dl_err err;
	CHECK_INT(be->ops->conv2d_reserve(be, &g, &err), 0);
	size_t col[2], part[2];
	for (int th = 0; th < 2; th++) {
		CHECK(im->scratch[th].col_cap >= K);
		CHECK(im->scratch[th].part_cap >= 2 * K + 2);
		col[th] = im->scratch[th].col_cap;
		part[th] = im->scratch[th].part_cap;
	}
	float *x = falloc(be, K), *w = falloc(be, 2 * K), *y = falloc(be, 2), *dw = falloc(be, 2 * K);
	dl_rng r;
	dl_rng_seed(&r, 3);
	fill(&r, x, K, -1, 1);
	fill(&r, w, 2 * K, -1, 1);
	be->ops->conv2d_fwd(be, &g, x, w, NULL, y);
	double want = 0;
	for (size_t i = 0; i < K; i++)
		want += (double)x[i] * w[i];
	CHECK_NEAR(y[0], want, 1e-3 * (1 + fabs(want)));
	be->ops->zero(be, dw, 2 * K * sizeof(float));
	be->ops->conv2d_bwd_filter(be, &g, x, y, dw, NULL);
	be->ops->conv2d_bwd_data(be, &g, y, w, x);
	for (int th = 0; th < 2; th++) {
		CHECK_INT(im->scratch[th].col_cap, col[th]);
		CHECK_INT(im->scratch[th].part_cap, part[th]);
	}
	be->ops->free(be, x);
	be->ops->free(be, w);
	be->ops->free(be, y);
	be->ops->free(be, dw);
	dl_backend_close(be);
}

TEST(model_plan_reserves_conv_scratch)
{
	dl_backend *be = dl_test_cpu(2);
	cpu_impl *im = cpu_of(be);
	dl_model m;
	dl_err err;
	int rc = dl_model_build(&m, "input h=6 w=6 c=3\nconv2d filters=8 size=3 pad=same\n"
				"conv2d filters=8 size=3 groups=8 pad=same\nflatten\ndense units=2\n",
				"t.spec", &err);
	CHECK_INT(rc, 0);
	if (rc) {
		dl_backend_close(be);
		return;
	}
	CHECK_INT(dl_model_alloc(&m, be, &err), 0);
	CHECK_INT(im->scratch[1].part_cap, 0);
	CHECK_INT(dl_model_plan(&m, 4, &err), 0);
	/* the first conv's partial dw [8, 27] + db [8] on the second thread */
	CHECK(im->scratch[1].part_cap >= 8 * 27 + 8);
	size_t part = im->scratch[1].part_cap, col = im->scratch[0].col_cap;
	dl_model_forward(&m, 4);
	be->ops->zero(be, m.grads, m.nparams * sizeof(float));
	dl_model_backward(&m, 4);
	CHECK_INT(im->scratch[1].part_cap, part);
	CHECK_INT(im->scratch[0].col_cap, col);
	dl_model_release(&m);
	dl_backend_close(be);
}
