/* dl-eval: loss and accuracy of a checkpoint on a dataset; a quality gate
 * for CI and cron (--min-accuracy exits 7 when below). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/buf.h"
#include "core/opt.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

static int write_logits(const char *path, const float *logits, int n, int k, dl_err *err)
{
	dl_st_writer w;
	dl_st_writer_init(&w);
	int64_t shape[2] = { n, k };
	int rc = dl_st_add(&w, "logits", DL_F32, 2, shape, logits, err);
	if (!rc)
		rc = dl_st_write(&w, path, err);
	dl_st_writer_release(&w);
	return rc;
}

int main(int argc, char **argv)
{
	const char *device = "auto", *logits_path = NULL;
	long batch = 256, threads = 0;
	double min_acc = -1;
	int json = 0;
	const dl_opt opts[] = {
		{ 0, "json", DL_OPT_FLAG, &json, NULL, "print one JSON object on stdout instead of text" },
		{ 0, "min-accuracy", DL_OPT_FLOAT, &min_acc, "X",
		  "quality gate: exit 7 if accuracy < X (0..1)" },
		{ 0, "logits", DL_OPT_STRING, &logits_path, "FILE",
		  "also write the model's outputs, F32 [N, classes], to FILE" },
		{ 'b', "batch", DL_OPT_INT, &batch, "N", "samples per forward pass (default 256)" },
		{ 'j', "threads", DL_OPT_INT, &threads, "N", "CPU threads (default: all cores)" },
		{ 0, "device", DL_OPT_STRING, &device, "DEV", "auto (default) or cpu" },
		{ 0, NULL, 0, NULL, NULL, NULL },
	};
	const dl_cmd cmd = {
		"dl-eval", "CHECKPOINT DATASET [--json] [--min-accuracy X]",
		"Scores a checkpoint (dl-train's model.safetensors) on a dataset file: mean\n"
		"softmax cross-entropy loss and accuracy.",
		opts,
		"examples:\n"
		"  dl-eval runs/lenet/model.safetensors data/test.safetensors\n"
		"  dl-eval runs/lenet/model.safetensors data/test.safetensors --json --min-accuracy 0.85\n",
	};
	dl_err err = { 0 };
	int npos, rc = 0;
	dl_backend *be = NULL;
	dl_model m = { 0 };
	dl_checkpoint ck = { 0 };
	dl_dataset d = { 0 };
	float *logits = NULL;
	if ((rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err)))
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-eval", &err);
	if (npos != 2)
		rc = dl_fail(&err, DL_EUSAGE, "expected CHECKPOINT and DATASET, got %d arguments", npos);
	else if (batch < 1 || batch > 65536)
		rc = dl_fail(&err, DL_EUSAGE, "--batch must be in [1, 65536]");
	else if (min_acc != -1 && (min_acc < 0 || min_acc > 1))
		rc = dl_fail(&err, DL_EUSAGE, "--min-accuracy must be in [0, 1]");
	else if (threads < 0 || threads > 1024)
		rc = dl_fail(&err, DL_EUSAGE, "--threads must be in [0, 1024]");
	if (rc)
		goto fail;
	const char *ckpt = argv[1], *data = argv[2];
	if ((rc = dl_backend_open(&be, device, (int)threads, &err)) ||
	    (rc = dl_checkpoint_load(ckpt, &m, be, NULL, &ck, &err)) ||
	    (rc = dl_dataset_open(&d, data, &err)) || (rc = dl_check_fit(&m, &d, data, &err)))
		goto fail;
	int k = dl_model_output_shape(&m).c;
	if (logits_path && !(logits = malloc(sizeof(float) * (size_t)k * (size_t)(d.n ? d.n : 1)))) {
		rc = dl_fail(&err, DL_EFAIL, "out of memory");
		goto fail;
	}
	dl_metrics mt;
	if ((rc = dl_evaluate(&m, &d, &ck.norm, (int)batch, &mt, logits, &err)))
		goto fail;
	if (logits_path && (rc = write_logits(logits_path, logits, d.n, k, &err)))
		goto fail;
	if (json) {
		dl_buf b;
		dl_buf_init(&b);
		dl_buf_puts(&b, "{\"checkpoint\": ");
		dl_buf_json_string(&b, ckpt);
		dl_buf_puts(&b, ", \"dataset\": ");
		dl_buf_json_string(&b, data);
		dl_buf_puts(&b, ", \"model\": ");
		dl_buf_json_string(&b, m.name);
		dl_buf_printf(&b, ", \"n\": %ld, \"loss\": %.6f, \"accuracy\": %.6f}\n", mt.n,
			      mt.loss, mt.accuracy);
		if (b.oom) {
			dl_buf_release(&b);
			rc = dl_fail(&err, DL_EFAIL, "out of memory");
			goto fail;
		}
		fputs(b.p, stdout);
		dl_buf_release(&b);
	} else {
		printf("%s on %s: %ld samples, loss %.4f, accuracy %.4f\n", m.name, data, mt.n,
		       mt.loss, mt.accuracy);
	}
	if (fflush(stdout) || ferror(stdout)) {
		rc = dl_fail_errno(&err, DL_EIO, "stdout: write failed");
		goto fail;
	}
	if (min_acc >= 0 && mt.accuracy < min_acc) {
		rc = dl_fail(&err, DL_EGATE, "gate failed: accuracy %.4f < --min-accuracy %.4f on %s",
			     mt.accuracy, min_acc, data);
		goto fail;
	}
	goto done;
fail:
	rc = dl_tool_fail("dl-eval", &err);
done:
	free(logits);
	dl_dataset_close(&d);
	dl_checkpoint_release(&ck);
	dl_model_release(&m);
	dl_backend_close(be);
	return rc;
}
