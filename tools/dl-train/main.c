/* dl-train: train a model on a dataset file; writes RUNDIR/model.safetensors
 * (checkpoint, after every epoch) and RUNDIR/log.jsonl. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/afile.h"
#include "core/opt.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "train/trainer.h"

int main(int argc, char **argv)
{
	const char *model = NULL, *train_path = NULL, *val_path = NULL, *out = NULL;
	const char *optim = "adam", *device = "auto", *log_path = NULL;
	long epochs = 1, batch = 128, seed = 1, threads = 0;
	double lr = NAN, momentum = 0, wd = 0;   /* lr NAN: not given */
	int summary = 0, quiet = 0, devices = 0;
	const dl_opt opts[] = {
		{ 'm', "model", DL_OPT_STRING, &model, "MODEL",
		  "built-in model (perceptron, mlp, lenet) or a .spec file" },
		{ 0, "train", DL_OPT_STRING, &train_path, "FILE", "training dataset (dl-prep output)" },
		{ 0, "val", DL_OPT_STRING, &val_path, "FILE", "validation dataset, scored after each epoch" },
		{ 'o', "output", DL_OPT_STRING, &out, "DIR",
		  "run directory: model.safetensors and log.jsonl are written there" },
		{ 'e', "epochs", DL_OPT_INT, &epochs, "N", "passes over the training set (default 1)" },
		{ 'b', "batch", DL_OPT_INT, &batch, "N", "samples per step (default 128)" },
		{ 0, "lr", DL_OPT_FLOAT, &lr, "LR", "learning rate (default 0.001 adam, 0.01 sgd)" },
		{ 0, "optimizer", DL_OPT_STRING, &optim, "NAME", "adam (default) or sgd" },
		{ 0, "momentum", DL_OPT_FLOAT, &momentum, "M", "SGD momentum (default 0)" },
		{ 0, "weight-decay", DL_OPT_FLOAT, &wd, "WD",
		  "L2 penalty for sgd, decoupled (AdamW) for adam (default 0)" },
		{ 0, "seed", DL_OPT_INT, &seed, "S", "seed of initialisation and shuffling (default 1)" },
		{ 'j', "threads", DL_OPT_INT, &threads, "N", "CPU threads (default: all cores)" },
		{ 0, "device", DL_OPT_STRING, &device, "DEV", "auto (default), cpu, cuda or cuda:N" },
		{ 0, "devices", DL_OPT_FLAG, &devices, NULL, "list the CPU and CUDA devices and exit" },
		{ 0, "log", DL_OPT_STRING, &log_path, "FILE", "JSON-lines log (default RUNDIR/log.jsonl)" },
		{ 0, "summary", DL_OPT_FLAG, &summary, NULL,
		  "print the model's layers and parameter counts (alone: print and exit)" },
		{ 'q', "quiet", DL_OPT_FLAG, &quiet, NULL, "no epoch lines on stderr" },
		{ 0, NULL, 0, NULL, NULL, NULL },
	};
	const dl_cmd cmd = {
		"dl-train",
		"-m MODEL --train FILE [--val FILE] -o RUNDIR [options]\n-m MODEL --summary",
		"Trains a model with softmax cross-entropy.  One line per epoch on stderr\n"
		"(loss, accuracy, val_loss, val_accuracy, seconds, images/s); the same as JSON\n"
		"lines in the log.  The checkpoint (weights, optimizer state, model spec,\n"
		"training state) is rewritten atomically after every epoch.  A CPU run is\n"
		"bit-reproducible for a fixed --seed and --threads.",
		opts,
		"examples:\n"
		"  dl-train -m lenet --summary\n"
		"  dl-train -m lenet --train train.safetensors --val val.safetensors -o runs/lenet \\\n"
		"      --epochs 5 --optimizer adam --lr 1e-3 --batch 128\n",
	};
	dl_err err = { 0 };
	int npos, rc = 0;
	dl_model m = { 0 };
	dl_optim o = { 0 };
	dl_backend *be = NULL;
	dl_dataset tr = { 0 }, va = { 0 };
	FILE *log = NULL;
	char *ckpt = NULL, *logp = NULL;
	if ((rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err)))
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-train", &err);
	if (devices)
		return dl_backend_list(stdout, &err) ? dl_tool_fail("dl-train", &err) : 0;
	dl_optim_kind ok;
	if (npos)
		rc = dl_fail(&err, DL_EUSAGE, "unexpected argument '%s'", argv[1]);
	else if (!model)
		rc = dl_fail(&err, DL_EUSAGE, "missing -m MODEL");
	else if (!summary && (!train_path || !out))
		rc = dl_fail(&err, DL_EUSAGE, "missing %s", !train_path ? "--train FILE" : "-o RUNDIR");
	else if (epochs < 1 || epochs > 1000000)
		rc = dl_fail(&err, DL_EUSAGE, "--epochs must be in [1, 1000000]");
	else if (batch < 1 || batch > 65536)
		rc = dl_fail(&err, DL_EUSAGE, "--batch must be in [1, 65536]");
	else if (threads < 0 || threads > 1024)
		rc = dl_fail(&err, DL_EUSAGE, "--threads must be in [0, 1024]");
	else if (dl_optim_parse(optim, &ok))
		rc = dl_fail(&err, DL_EUSAGE, "unknown optimizer '%s' (expected adam or sgd)", optim);
	else if ((!isnan(lr) && !(lr > 0)) || momentum < 0 || momentum >= 1 || wd < 0)
		rc = dl_fail(&err, DL_EUSAGE, "--lr must be > 0, --momentum in [0, 1), --weight-decay >= 0");
	if (rc || (rc = dl_model_load(&m, model, &err)))
		goto fail;
	if (summary) {
		dl_model_summary(&m, stdout);
		if (!train_path)
			goto done;
	}
	if ((rc = dl_dataset_open(&tr, train_path, &err)) ||
	    (rc = dl_check_fit(&m, &tr, train_path, &err)))
		goto fail;
	if (val_path && ((rc = dl_dataset_open(&va, val_path, &err)) ||
			 (rc = dl_check_fit(&m, &va, val_path, &err))))
		goto fail;
	if ((rc = dl_backend_open(&be, device, (int)threads, &err)) ||
	    (rc = dl_model_alloc(&m, be, &err)) || (rc = dl_model_init(&m, (uint64_t)seed, &err)) ||
	    (rc = dl_optim_init(&o, ok, (float)(!isnan(lr) ? lr : ok == DL_OPTIM_ADAM ? 1e-3 : 1e-2),
				m.nparams, be, &err)))
		goto fail;
	o.momentum = (float)momentum;
	o.weight_decay = (float)wd;
	if ((rc = dl_optim_ready(&o, &err)) || (rc = dl_mkdir_p(out, &err)))
		goto fail;
	size_t n = strlen(out) + 32;
	ckpt = malloc(n);
	logp = malloc(n);
	if (!ckpt || !logp) {
		rc = dl_fail(&err, DL_EFAIL, "out of memory");
		goto fail;
	}
	snprintf(ckpt, n, "%s/model.safetensors", out);
	snprintf(logp, n, "%s/log.jsonl", out);
	if (!log_path)
		log_path = logp;
	log = !strcmp(log_path, "-") ? stdout : fopen(log_path, "w");
	if (!log) {
		rc = dl_fail_errno(&err, DL_EIO, "%s: cannot open log", log_path);
		goto fail;
	}
	dl_norm norm;
	dl_norm_default(&norm, m.input.c);
	dl_train_state st = { 0 };
	st.seed = (uint64_t)seed;
	/* shuffling draws from its own stream, so changing the model's init
	 * does not change the data order */
	dl_rng_seed(&st.rng, (uint64_t)seed ^ 0x5eed5eed5eed5eedULL);
	if (!quiet)
		fprintf(stderr, "dl-train: %s, %zu parameters, %d train samples%s, %s lr %g, batch %ld, %s with %d threads\n",
			m.name, m.nparams, tr.n, val_path ? " (+ val)" : "", dl_optim_name(o.kind),
			(double)o.lr, batch, be->ops->name, be->threads);
	dl_train_opts to = {
		.epochs = (int)epochs, .batch = (int)batch, .seed = (uint64_t)seed,
		.checkpoint = ckpt, .log = log, .progress = quiet ? NULL : stderr,
		.device_name = be->ops->name, .threads = be->threads,
	};
	if ((rc = dl_train(&m, &o, &st, &tr, val_path ? &va : NULL, &norm, tr.classes_json, &to, &err)))
		goto fail;
	if (!quiet)
		fprintf(stderr, "dl-train: wrote %s\n", ckpt);
	goto done;
fail:
	rc = dl_tool_fail("dl-train", &err);
done:
	if (log && log != stdout && fclose(log) && !rc) {
		dl_fail_errno(&err, DL_EIO, "%s: write failed", log_path);
		rc = dl_tool_fail("dl-train", &err);
	}
	if (fflush(stdout) && !rc) {
		dl_fail_errno(&err, DL_EIO, "stdout: write failed");
		rc = dl_tool_fail("dl-train", &err);
	}
	free(ckpt);
	free(logp);
	dl_optim_release(&o);
	dl_model_release(&m);
	dl_dataset_close(&tr);
	dl_dataset_close(&va);
	dl_backend_close(be);
	return rc;
}
