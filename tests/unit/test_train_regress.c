/* The trainer on regression targets: an mse model learns a linear target,
 * the metrics are loss/MAE/RMSE, and a resumed run is exact.  The CPU
 * backend's regress_loss comes from another part of the project, so this
 * test runs the trainer on a copy of the CPU ops table whose regress_loss is
 * the naive formula from backend.h (what the trainer needs from it is only
 * the contract). */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "io/safetensors.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "train/trainer.h"

static void naive_regress(dl_backend *be, dl_reg_kind kind, int n, int k, const float *pred,
			  const float *target, float delta, float grad_scale, float *dpred, float *stats)
{
	(void)be;
	for (int i = 0; i < n * k; i++) {
		float e = pred[i] - target[i], a = fabsf(e);
		float l = kind == DL_REG_MSE ? e * e : a < delta ? e * e / 2 : delta * (a - delta / 2);
		float d = kind == DL_REG_MSE ? 2 * e : a < delta ? e : (e > 0 ? delta : -delta);
		stats[0] += l;
		stats[1] += a;
		stats[2] += e * e;
		if (dpred)
			dpred[i] = d * grad_scale;
	}
}

enum { N = 128, H = 4 };

/* images with random pixels; target = mean brightness of the top half
 * minus the bottom half (a linear function of the input) */
static int write_regression(const char *path, dl_err *err)
{
	static uint8_t img[N * H * H];
	static float tg[N];
	dl_rng r;
	dl_rng_seed(&r, 3);
	for (int i = 0; i < N; i++) {
		double top = 0, bottom = 0;
		for (int p = 0; p < H * H; p++) {
			img[i * H * H + p] = (uint8_t)dl_rng_below(&r, 256);
			*(p < H * H / 2 ? &top : &bottom) += img[i * H * H + p] / 255.0;
		}
		tg[i] = (float)((top - bottom) / (H * H / 2));
	}
	int64_t is[4] = { N, H, H, 1 }, ts[2] = { N, 1 };
	dl_st_writer w;
	dl_st_writer_init(&w);
	int rc = dl_st_add(&w, "images", DL_U8, 4, is, img, err);
	if (!rc) rc = dl_st_add(&w, "targets", DL_F32, 2, ts, tg, err);
	if (!rc) rc = dl_st_write(&w, path, err);
	dl_st_writer_release(&w);
	return rc;
}

typedef struct reg_run {
	dl_backend_ops ops;
	dl_backend *be;
	const dl_backend_ops *cpu_ops;
	dl_model m;
	dl_optim o;
	dl_train_state st;
} reg_run;

static int reg_start(reg_run *r, const char *loss, dl_err *err)
{
	memset(r, 0, sizeof *r);
	int rc = dl_backend_cpu_open(&r->be, 2, err);
	if (rc)
		return rc;
	r->cpu_ops = r->be->ops;
	r->ops = *r->be->ops;
	r->ops.regress_loss = naive_regress;
	r->be->ops = &r->ops;
	char spec[256];
	snprintf(spec, sizeof spec, "input h=%d w=%d c=1\nflatten\ndense units=1\nloss %s\n", H, H, loss);
	if ((rc = dl_model_build(&r->m, spec, "reg", err)) || (rc = dl_model_alloc(&r->m, r->be, err)) ||
	    (rc = dl_model_init(&r->m, 5, err)) ||
	    (rc = dl_optim_init(&r->o, DL_OPTIM_ADAM, 0.05f, r->m.nparams, r->be, err)))
		return rc;
	r->st.seed = 5;
	dl_rng_seed(&r->st.rng, 5);
	return 0;
}

static void reg_release(reg_run *r)
{
	dl_optim_release(&r->o);
	dl_model_release(&r->m);
	if (r->be) {
		r->be->ops = r->cpu_ops;   /* its release lives in the CPU table */
		dl_backend_close(r->be);
	}
}

static int reg_train(reg_run *r, const dl_dataset *d, long epochs, const char *ckpt, FILE *log,
		     dl_err *err)
{
	dl_norm norm;
	dl_norm_default(&norm, 1);
	dl_train_opts o = { .epochs = epochs, .batch = 16, .checkpoint = ckpt, .log = log };
	dl_schedule_init(&o.sched, r->o.lr);
	dl_data td = { d, NULL, d->n };
	dl_train_result res;
	return dl_train(&r->m, &r->o, &r->st, &td, &td, &norm, NULL, &o, &res, err);
}

TEST(train_regression_learns_and_reports_mae_rmse)
{
	char path[512], ckpt[512];
	dl_err err;
	snprintf(path, sizeof path, "%s/reg.ds", dl_test_tmpdir());
	snprintf(ckpt, sizeof ckpt, "%s/reg.ckpt", dl_test_tmpdir());
	CHECK_INT(write_regression(path, &err), 0);
	dl_dataset d;
	int rc = dl_dataset_open(&d, path, &err);
	CHECK_INT(rc, 0);
	if (rc)
		return;
	const char *losses[] = { "kind=mse", "kind=huber delta=0.5" };
	for (int li = 0; li < 2; li++) {
		reg_run r;
		if ((rc = reg_start(&r, losses[li], &err))) {
			fprintf(stderr, "  %s\n", err.msg);
			CHECK(0);
			reg_release(&r);
			continue;
		}
		CHECK_INT(dl_check_fit(&r.m, &d, path, &err), 0);
		CHECK_INT(dl_model_plan(&r.m, 16, &err), 0);
		dl_metrics before, after;
		CHECK_INT(dl_evaluate(&r.m, &d, &(dl_norm){ .c = 1, .scale = 1.0f / 255, .std = { 1 } }, 16,
				      &before, NULL, &err), 0);
		char *log = NULL;
		size_t len = 0;
		FILE *lf = open_memstream(&log, &len);
		rc = reg_train(&r, &d, 30, ckpt, lf, &err);
		fclose(lf);
		CHECK_INT(rc, 0);
		if (rc)
			fprintf(stderr, "  %s\n", err.msg);
		CHECK_INT(dl_evaluate(&r.m, &d, &(dl_norm){ .c = 1, .scale = 1.0f / 255, .std = { 1 } }, 16,
				      &after, NULL, &err), 0);
		if (getenv("VERBOSE"))
			fprintf(stderr, "  %s: mae %.4f -> %.4f rmse %.4f -> %.4f\n", losses[li], before.mae,
				after.mae, before.rmse, after.rmse);
		CHECK_INT(after.regression, 1);
		CHECK(after.mae < before.mae * 0.5);
		CHECK(after.rmse >= after.mae);             /* RMSE >= MAE always */
		CHECK(after.rmse < 0.1);
		if (li == 0)
			CHECK_NEAR(after.loss, after.rmse * after.rmse, 1e-6);   /* mse = rmse^2 */
		CHECK_STR_HAS(log, "\"val_mae\"");
		CHECK_STR_HAS(log, "\"rmse\"");
		CHECK(!strstr(log, "accuracy"));
		free(log);
		reg_release(&r);
	}
	/* a classifier refuses a targets-only file */
	dl_model cm;
	CHECK_INT(dl_model_build(&cm, "input h=4 w=4 c=1\nflatten\ndense units=2\n", "cls", &err), 0);
	CHECK_INT(dl_check_fit(&cm, &d, path, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "labels");
	dl_model_release(&cm);
	dl_dataset_close(&d);
}
