/* lib/eval/metrics: figures checked against hand computation (and
 * scikit-learn's definitions: zero_division=0, r2 uniform average). */
#include "test.h"

#include <math.h>
#include "eval/metrics.h"

#define NEAR(a, b) (fabs((double)(a) - (double)(b)) < 1e-9)

TEST(eval_metrics_classification)
{
	/* 3 classes, 5 samples; predictions (argmax): 0, 1, 1, 2, 0 */
	const float z[] = {
		2, 1, 0,      /* y 0, pred 0 */
		0, 3, 1,      /* y 1, pred 1 */
		0, 2, 1.5f,   /* y 2, pred 1; label is 2nd: top-2 hit */
		0, 0, 1,      /* y 2, pred 2 */
		1, 1, 0,      /* y 1, pred 0 (tie -> lowest index); label 2nd by tie rule */
	};
	const int32_t y[] = { 0, 1, 2, 2, 1 };
	dl_cls_metrics m;
	dl_err err = { 0 };
	CHECK_INT(dl_cls_metrics_compute(&m, z, y, 5, 3, 2, &err), 0);
	CHECK(NEAR(m.accuracy, 3.0 / 5));
	CHECK(NEAR(m.topk_accuracy, 1.0));
	/* confusion rows true, columns predicted */
	const long want[9] = { 1, 0, 0, 1, 1, 0, 0, 1, 1 };
	for (int i = 0; i < 9; i++)
		CHECK_INT(m.confusion[i], want[i]);
	CHECK(NEAR(m.precision[0], 0.5) && NEAR(m.recall[0], 1.0) && NEAR(m.f1[0], 2.0 / 3));
	CHECK(NEAR(m.precision[1], 0.5) && NEAR(m.recall[1], 0.5) && NEAR(m.f1[1], 0.5));
	CHECK(NEAR(m.precision[2], 1.0) && NEAR(m.recall[2], 0.5) && NEAR(m.f1[2], 2.0 / 3));
	CHECK(NEAR(m.macro_f1, (2.0 / 3 + 0.5 + 2.0 / 3) / 3));
	CHECK_INT(m.support[2], 2);
	double loss = 0;
	for (int i = 0; i < 5; i++) {
		double s = 0;
		for (int j = 0; j < 3; j++)
			s += exp(z[3 * i + j]);
		loss += log(s) - z[3 * i + y[i]];
	}
	CHECK(fabs(m.loss - loss / 5) < 1e-12);
	dl_cls_metrics_release(&m);

	/* top-1 equals accuracy; a class never predicted has precision 0 */
	CHECK_INT(dl_cls_metrics_compute(&m, z, y, 5, 3, 1, &err), 0);
	CHECK(NEAR(m.topk_accuracy, m.accuracy));
	dl_cls_metrics_release(&m);
}

TEST(eval_metrics_rejects_bad_input)
{
	const float z[] = { 0, NAN, 1, 2 };
	const int32_t y[] = { 0, 1 }, bad[] = { 0, 2 };
	dl_cls_metrics m;
	dl_err err = { 0 };
	CHECK_INT(dl_cls_metrics_compute(&m, z, y, 2, 2, 1, &err), DL_EDATA);
	CHECK(strstr(err.msg, "sample 0") != NULL);
	CHECK_INT(dl_cls_metrics_compute(&m, z + 2, bad, 1, 2, 1, &err), 0);
	dl_cls_metrics_release(&m);
	CHECK_INT(dl_cls_metrics_compute(&m, z + 2, bad + 1, 1, 2, 1, &err), DL_EDATA);
	CHECK_INT(dl_cls_metrics_compute(&m, z + 2, y, 1, 2, 3, &err), DL_EUSAGE);
}

TEST(eval_metrics_regression)
{
	/* 4 samples, 2 outputs */
	const float p[] = { 1, 0, 2, 0, 3, 0, 5, 0 };
	const float tg[] = { 1, 1, 2, 1, 3, 1, 4, 1 };
	dl_reg_metrics r;
	dl_loss mse = { .kind = DL_LOSS_MSE }, hub = { .kind = DL_LOSS_HUBER, .delta = 0.5f };
	dl_err err = { 0 };
	CHECK_INT(dl_reg_metrics_compute(&r, p, tg, 4, 2, &mse, &err), 0);
	CHECK(NEAR(r.mse, 5.0 / 8) && NEAR(r.mae, 5.0 / 8) && NEAR(r.loss, r.mse));
	/* column 0: mean 2.5, SS_tot 5, SS_res 1 -> 0.8; column 1 constant, missed -> 0 */
	CHECK(NEAR(r.r2, 0.4));
	CHECK_INT(dl_reg_metrics_compute(&r, p, tg, 4, 2, &hub, &err), 0);
	/* every |e| is 0 or 1 >= delta: 5 * 0.5 * (1 - 0.25) / 8 */
	CHECK(NEAR(r.loss, 5 * 0.5 * 0.75 / 8));
	CHECK_INT(dl_reg_metrics_compute(&r, tg, tg, 4, 2, &mse, &err), 0);
	CHECK(NEAR(r.r2, 1.0) && NEAR(r.mse, 0));
}
