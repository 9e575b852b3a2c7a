/* dl-export: a checkpoint's weights for other runtimes.
 *   --format safetensors : PyTorch names and layouts, loadable with
 *     torch.nn.Sequential(...).load_state_dict(strict=True). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/buf.h"
#include "core/opt.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"

/* The torch.nn.Sequential this export loads into, as Python text. */
static void torch_text(const dl_model *m, dl_buf *b)
{
	dl_buf_puts(b, "torch.nn.Sequential(");
	for (int i = 0; i < m->nlayers; i++) {
		const dl_layer *l = &m->layers[i];
		const char *k = l->kind->name;
		dl_buf_puts(b, i ? ", " : "");
		if (!strcmp(k, "conv2d"))
			dl_buf_printf(b, "Conv2d(%d, %d, %d, stride=%d, padding=%d, bias=%s)", l->in.c,
				      l->opt[0], l->opt[1], l->opt[2], l->opt[3], l->opt[4] ? "True" : "False");
		else if (!strcmp(k, "dense"))
			dl_buf_printf(b, "Linear(%d, %d, bias=%s)", l->in.c, l->opt[0],
				      l->opt[1] ? "True" : "False");
		else if (!strcmp(k, "maxpool"))
			dl_buf_printf(b, "MaxPool2d(%d, stride=%d)", l->opt[0], l->opt[1]);
		else
			dl_buf_printf(b, "%s()", l->kind->torch);
	}
	dl_buf_puts(b, ")");
}

static int export_safetensors(const dl_model *m, const dl_checkpoint *ck, const char *out,
			      dl_err *err)
{
	dl_backend *be = m->be;
	float *host = malloc(sizeof(float) * (m->nparams ? m->nparams : 1));
	float *conv = malloc(sizeof(float) * (m->nparams ? m->nparams : 1));
	if (!host || !conv) {
		free(host);
		free(conv);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	be->ops->to_host(be, host, m->params, m->nparams * sizeof(float));
	dl_st_writer w;
	dl_st_writer_init(&w);
	char names[64][32];
	int64_t shapes[64][4];
	int rc = 0, ni = 0;
	for (int i = 0; i < m->nlayers && !rc; i++) {
		const dl_layer *l = &m->layers[i];
		for (int p = 0; p < l->nparam && !rc; p++, ni++) {
			if (ni == 64) {
				rc = dl_fail(err, DL_EFAIL, "too many parameter tensors");
				break;
			}
			const dl_param *pp = &l->param[p];
			int ndim = pp->ndim;
			float *dst = conv + pp->offset;
			if (l->kind->to_torch) {
				l->kind->to_torch(l, p, host + pp->offset, dst, shapes[ni], &ndim);
			} else {
				memcpy(dst, host + pp->offset, pp->count * sizeof(float));
				memcpy(shapes[ni], pp->shape, sizeof pp->shape);
			}
			snprintf(names[ni], sizeof names[ni], "%d.%s", i, pp->name);
			rc = dl_st_add(&w, names[ni], DL_F32, ndim, shapes[ni], dst, err);
		}
	}
	char input[1024];
	dl_norm_json(&ck->norm, m->input.h, m->input.w, input, sizeof input);
	dl_buf in2, tt;
	dl_buf_init(&in2);
	dl_buf_init(&tt);
	/* tell a PyTorch user exactly how to feed the model */
	dl_buf_printf(&in2, "%.*s, \"layout\": \"NCHW float32\", \"output\": \"logits (apply softmax for probabilities)\"}",
		      (int)strlen(input) - 1, input);
	torch_text(m, &tt);
	if (in2.oom || tt.oom)
		rc = rc ? rc : dl_fail(err, DL_EFAIL, "out of memory");
	if (!rc) rc = dl_st_add_meta(&w, "dl.format", "dl-tools export safetensors-torch 1", err);
	if (!rc) rc = dl_st_add_meta(&w, "dl.input", in2.p, err);
	if (!rc) rc = dl_st_add_meta(&w, "dl.torch", tt.p, err);
	if (!rc) rc = dl_st_add_meta(&w, "dl.model_name", m->name, err);
	if (!rc && ck->classes_json) rc = dl_st_add_meta(&w, "dl.classes", ck->classes_json, err);
	if (!rc)
		rc = dl_st_write(&w, out, err);
	dl_buf_release(&in2);
	dl_buf_release(&tt);
	dl_st_writer_release(&w);
	free(host);
	free(conv);
	return rc;
}

int main(int argc, char **argv)
{
	const char *format = "safetensors", *out = NULL;
	const dl_opt opts[] = {
		{ 'f', "format", DL_OPT_STRING, &format, "FMT", "safetensors (PyTorch names and layouts; default)" },
		{ 'o', "output", DL_OPT_STRING, &out, "FILE", "file to write (required; - for stdout)" },
		{ 0, NULL, 0, NULL, NULL, NULL },
	};
	const dl_cmd cmd = {
		"dl-export", "CHECKPOINT --format safetensors -o FILE",
		"Writes a checkpoint's weights for another runtime.  safetensors: tensor names\n"
		"'<i>.weight' / '<i>.bias' of torch.nn.Sequential layer i, PyTorch layouts (conv\n"
		"[out,in,kh,kw], linear [out,in], flatten in NCHW order), so the Sequential in\n"
		"the metadata 'dl.torch' loads it with load_state_dict(strict=True).  Inputs:\n"
		"NCHW float32, x = (u8 * scale - mean[c]) / std[c] as recorded in 'dl.input'.\n"
		"Outputs are logits.",
		opts,
		"example:\n  dl-export runs/lenet/model.safetensors --format safetensors -o lenet-torch.safetensors\n",
	};
	dl_err err = { 0 };
	int npos, rc = 0;
	dl_backend *be = NULL;
	dl_model m = { 0 };
	dl_checkpoint ck = { 0 };
	if ((rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err)))
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-export", &err);
	if (npos != 1)
		rc = dl_fail(&err, DL_EUSAGE, "expected one CHECKPOINT, got %d arguments", npos);
	else if (!out)
		rc = dl_fail(&err, DL_EUSAGE, "missing -o FILE");
	else if (strcmp(format, "safetensors"))
		rc = dl_fail(&err, DL_EUSAGE, "unknown format '%s' (this version: safetensors)", format);
	if (rc || (rc = dl_backend_open(&be, "cpu", 1, &err)) ||
	    (rc = dl_checkpoint_load(argv[1], &m, be, NULL, &ck, &err)) ||
	    (rc = export_safetensors(&m, &ck, out, &err)))
		goto fail;
	goto done;
fail:
	rc = dl_tool_fail("dl-export", &err);
done:
	dl_checkpoint_release(&ck);
	dl_model_release(&m);
	dl_backend_close(be);
	return rc;
}
