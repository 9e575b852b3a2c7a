/* dl-export: a checkpoint for other runtimes.
 *   --format safetensors : PyTorch names and layouts (common.c)
 *   --format onnx        : an ONNX model for onnxruntime & co (onnx.c)
 *   --format c           : one C source + header with the weights and a
 *                          forward function, for embedding (c_emit.c) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/guard.h"
#include "core/opt.h"
#include "export.h"

/* C identifier prefix from the output file name: "out/lenet-v2.c" -> "lenet_v2". */
static void c_prefix(const char *out, char *p, size_t n)
{
	const char *base = strrchr(out, '/');
	base = base ? base + 1 : out;
	size_t k = 0;
	for (; *base && *base != '.' && k + 1 < n; base++)
		p[k++] = (*base >= 'a' && *base <= 'z') || (*base >= 'A' && *base <= 'Z') ||
				 (*base >= '0' && *base <= '9') ? *base : '_';
	p[k] = 0;
	if (!k || (p[0] >= '0' && p[0] <= '9'))
		snprintf(p, n, "model");
}

int main(int argc, char **argv)
{
	enum { FMT_SAFETENSORS, FMT_ONNX, FMT_C } fmt = FMT_SAFETENSORS;
	static const dl_opt_choice formats[] = {
		{ "safetensors", FMT_SAFETENSORS }, { "onnx", FMT_ONNX }, { "c", FMT_C }, { NULL, 0 },
	};
	const char *out = NULL, *prefix = NULL;
	long opset = 13;
	const dl_opt opts[] = {
		DL_OPT_CHOICE('f', "format", &fmt, "FMT", formats, "what to write (default safetensors)"),
		DL_OPT_STRING('o', "output", &out, "FILE",
		  "file to write (required; - for stdout except with c; c also writes FILE's .h)"),
		DL_OPT_INT(0, "opset", &opset, "N", "ONNX opset to declare (default 13)",
			   DL_MIN(13), DL_MAX(21)),
		DL_OPT_STRING(0, "name", &prefix, "ID",
		  "C symbol prefix (default: from the file name)"),
		DL_OPT_END,
	};
	const dl_cmd cmd = {
		"dl-export", "CHECKPOINT --format safetensors|onnx|c -o FILE",
		"Writes a checkpoint for another runtime.\n"
		"  safetensors: tensor names '<i>.weight' / '<i>.bias' (and '<i>.running_mean',\n"
		"    '<i>.running_var', '<i>.num_batches_tracked') of layer i, PyTorch layouts\n"
		"    (conv [out,in,kh,kw], linear [out,in], flatten in NCHW order); for plain\n"
		"    chains metadata 'dl.torch_layers' describes the torch.nn.Sequential as\n"
		"    data (JSON, no code; loader in man dl-export) that loads it with\n"
		"    load_state_dict(strict=True).\n"
		"  onnx: input 'input' NCHW float32 [N,C,H,W], outputs 'logits' [N,K] and (for\n"
		"    classifiers) 'probabilities'; metadata_props dl.input, dl.classes, dl.model.\n"
		"  c: FILE.c + FILE.h, plain C99, no dependencies but libm: NAME_preprocess\n"
		"    (u8 HWC pixels -> input), NAME_forward (one sample, NHWC) and NAME_classes.\n"
		"Inputs everywhere: x = (u8 * scale - mean[c]) / std[c] as recorded in 'dl.input'.\n"
		"Every layer kind exports to every format; a geometry a format cannot express\n"
		"is refused (exit 3), never guessed.",
		opts,
		"examples:\n"
		"  dl-export runs/lenet/model.safetensors --format safetensors -o lenet-torch.safetensors\n"
		"  dl-export runs/lenet/model.safetensors --format onnx -o lenet.onnx\n"
		"  dl-export runs/lenet/model.safetensors --format c -o lenet.c   # and lenet.h\n",
	};
	dl_err err = { 0 };
	int npos, rc = 0;
	dl_backend *be = NULL;
	dl_model m = { 0 };
	dl_checkpoint ck = { 0 };
	float *host = NULL, *bufs = NULL;
	char pfx[64], *hpath = NULL;
	dl_guard g = { 0 };
	if ((rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err)))
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-export", &err);
	if (npos != 1)
		rc = dl_fail(&err, DL_EUSAGE, "expected one CHECKPOINT, got %d arguments", npos);
	else if (!out)
		rc = dl_fail(&err, DL_EUSAGE, "missing -o FILE");
	else if (fmt == FMT_C && !strcmp(out, "-"))
		rc = dl_fail(&err, DL_EUSAGE, "--format c writes two files: give -o FILE.c");
	else if (fmt == FMT_C && (strlen(out) < 3 || strcmp(out + strlen(out) - 2, ".c")))
		rc = dl_fail(&err, DL_EUSAGE, "--format c: -o must name a .c file, got '%s'", out);
	if (!rc && fmt == 2 && (hpath = strdup(out)))   /* FILE.c -> FILE.h */
		hpath[strlen(hpath) - 1] = 'h';
	if (!rc) {
		const dl_iofile ins[] = { { "CHECKPOINT", argv[1] } };
		const dl_iofile outs[] = { { "-o", out }, { "-o (header)", hpath } };
		rc = dl_guard_begin(&g, DL_GUARD_DIE, ins, 1, outs, 2, &err);
	}
	if (rc || (rc = dl_backend_open(&be, "cpu", 1, &err)) ||
	    (rc = dl_checkpoint_load(argv[1], &m, be, NULL, &ck, &err)))
		goto fail;
	host = malloc(sizeof(float) * (m.nparams ? m.nparams : 1));
	bufs = malloc(sizeof(float) * (m.nbuffers ? m.nbuffers : 1));
	if (!host || !bufs) {
		rc = dl_fail(&err, DL_EFAIL, "out of memory");
		goto fail;
	}
	be->ops->to_host(be, host, m.params, m.nparams * sizeof(float));
	if (m.nbuffers)
		be->ops->to_host(be, bufs, m.buffers, m.nbuffers * sizeof(float));
	ex_src src = { &m, &ck, host, bufs };
	if (fmt == FMT_C) {
		if (prefix)
			snprintf(pfx, sizeof pfx, "%s", prefix);
		else
			c_prefix(out, pfx, sizeof pfx);
	}
	rc = fmt == FMT_SAFETENSORS ? ex_write_safetensors(&src, out, &err)
	   : fmt == FMT_ONNX ? ex_write_onnx(&src, (int)opset, out, &err)
		      : ex_write_c(&src, out, pfx, &err);
	if (rc)
		goto fail;
	goto done;
fail:
	rc = dl_tool_fail("dl-export", &err);
done:
	free(host);
	free(bufs);
	dl_checkpoint_release(&ck);
	dl_model_release(&m);
	dl_backend_close(be);
	dl_guard_end(&g);
	free(hpath);
	return rc;
}
