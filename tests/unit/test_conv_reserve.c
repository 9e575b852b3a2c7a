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

/* A conv op on a geometry nobody reserved is a caller bug: the CPU backend
 * records it for the error op, naming the op, writes nothing and goes on
 * (it used to abort the process). */
TEST(backend_cpu_conv_without_reserve_is_an_error)
{
	dl_backend *be = dl_test_cpu(2);
	cpu_impl *im = cpu_of(be);
	im->conv_mode = CPU_CONV_IM2COL;   /* oneDNN needs no im2col scratch */
	dl_conv_geom g = { 1, 3, 3, 16384, 2, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1 };
	size_t K = 3 * 3 * 16384;
	CHECK(im->scratch[0].col_cap < K);
	float *x = falloc(be, K), *w = falloc(be, 2 * K), *y = falloc(be, 2);
	y[0] = y[1] = 7.0f;
	dl_err err = { 0 };
	CHECK_INT(be->ops->error(be, &err), 0);
	be->ops->conv2d_fwd(be, &g, x, w, NULL, y);
	CHECK(y[0] == 7.0f && y[1] == 7.0f);
	be->ops->conv2d_bwd_data(be, &g, y, w, x);   /* a second fault: the first stays */
	CHECK_INT(be->ops->error(be, &err), DL_EFAIL);
	CHECK_STR_HAS(err.msg, "cpu: op conv2d_fwd: ");
	CHECK_STR_HAS(err.msg, "without conv2d_reserve");
	CHECK_INT(be->ops->error(be, &err), DL_EFAIL);   /* sticky */
	be->ops->free(be, x);
	be->ops->free(be, w);
	be->ops->free(be, y);
	dl_backend_close(be);

	/* depthwise: its filter gradient needs the per-thread partials; the
	 * same call runs once they are reserved (a fresh backend: faults stick) */
	dl_conv_geom d = { 1, 4, 4, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 4, 4, 1, 1, 8 };
	for (int reserved = 0; reserved < 2; reserved++) {
		be = dl_test_cpu(2);
		cpu_of(be)->conv_mode = CPU_CONV_IM2COL;
		if (reserved)
			conv_reserve(be, &d);
		float *xd = falloc(be, 4 * 4 * 8), *dy = falloc(be, 4 * 4 * 8), *dw = falloc(be, 8 * 9);
		xd[0] = dy[0] = 1.0f;   /* channel 0's centre tap (dw[4]) sees 1 * 1 */
		be->ops->conv2d_bwd_filter(be, &d, xd, dy, dw, NULL);
		CHECK(dw[4] == (reserved ? 1.0f : 0.0f));
		CHECK_INT(be->ops->error(be, &err), reserved ? 0 : DL_EFAIL);
		if (!reserved)
			CHECK_STR_HAS(err.msg, "cpu: op conv2d_bwd_filter: depthwise convolution "
				      "without conv2d_reserve");
		be->ops->free(be, xd);
		be->ops->free(be, dy);
		be->ops->free(be, dw);
		dl_backend_close(be);
	}
}
