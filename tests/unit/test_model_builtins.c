/* The new built-in models against their PyTorch equivalents: parameter
 * totals (what --summary prints), running-statistics buffers and output
 * widths must equal those of tests/torch/summary_totals.py (torchvision's
 * resnet18/50 with our 64x64 stem, vgg16_bn's features with our CIFAR
 * classifier, PilotNet, the GTSRB column).  Needs /usr/bin/python3 with
 * torch and torchvision (CI installs them; missing ones fail the test). */
#include "test.h"

#include <stdlib.h>

#include "nn/model.h"

static void check_one(dl_test_ctx *t, const char *name, size_t params, size_t bufs, int outs)
{
	dl_model m;
	dl_err err;
	int rc = dl_model_load(&m, name, &err);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s: %s: %s\n", t->name, name, err.msg);
		return;
	}
	if (m.nparams != params || m.nbuffers != bufs || dl_model_output_shape(&m).c != outs)
		fprintf(stderr, "  %s: %s: ours %zu params, %zu buffers, %d outputs; torch %zu, %zu, %d\n",
			t->name, name, m.nparams, m.nbuffers, dl_model_output_shape(&m).c, params,
			bufs, outs);
	CHECK_INT(m.nparams, params);
	CHECK_INT(m.nbuffers, bufs);
	CHECK_INT(dl_model_output_shape(&m).c, outs);
	/* the summary prints the same total, with thousands separators */
	char *text = NULL, want[64], digits[32];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	dl_model_summary(&m, f);
	fclose(f);
	int n = snprintf(digits, sizeof digits, "%zu", params), o = 0;
	char *w = want + snprintf(want, sizeof want, "total params: ");
	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			w[o++] = ',';
		w[o++] = digits[i];
	}
	w[o] = '\n';
	w[o + 1] = '\0';
	CHECK_STR_HAS(text, want);
	free(text);
	dl_model_release(&m);
}

TEST(model_builtins_match_torch_totals)
{
	const char *root = getenv("DL_ROOT") ? getenv("DL_ROOT") : ".";
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 %s/tests/torch/summary_totals.py 2>&1",
		 root);
	FILE *p = popen(cmd, "r");
	CHECK(p != NULL);
	if (!p)
		return;
	char line[512];
	int seen = 0;
	while (fgets(line, sizeof line, p)) {
		char name[64];
		size_t params, bufs;
		int outs;
		if (sscanf(line, "%63s %zu %zu %d", name, &params, &bufs, &outs) != 4) {
			fprintf(stderr, "  %s: summary_totals.py: %s", t->name, line);
			CHECK(0);
			continue;
		}
		check_one(t, name, params, bufs, outs);
		seen++;
	}
	CHECK_INT(pclose(p), 0);
	CHECK_INT(seen, 5);
}

TEST(model_builtins_losses_and_inputs)
{
	static const struct { const char *name; int h, w, c, regression; } want[] = {
		{ "vgg16", 32, 32, 3, 0 }, { "resnet18", 64, 64, 3, 0 }, { "resnet50", 64, 64, 3, 0 },
		{ "pilotnet", 66, 200, 3, 1 }, { "gtsrb-cnn", 48, 48, 3, 0 },
	};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		dl_model m;
		dl_err err;
		if (dl_model_load(&m, want[i].name, &err)) {
			fprintf(stderr, "  %s: %s\n", t->name, err.msg);
			CHECK(0);
			continue;
		}
		CHECK_INT(m.input.h, want[i].h);
		CHECK_INT(m.input.w, want[i].w);
		CHECK_INT(m.input.c, want[i].c);
		CHECK_INT(dl_loss_is_regression(&m.loss), want[i].regression);
		dl_model_release(&m);
	}
}
