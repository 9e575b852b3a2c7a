/* `dl-eval predict CKPT [IMAGE...]`: the deployment path.  Image files
 * (PNG, JPEG, PPM/PGM; paths as arguments, or one per line on stdin) are
 * decoded, converted to the model's channels, fitted to its input size
 * (stretch, or centre crop then resize) and normalised exactly as the
 * checkpoint's dl.input says, then classified in batches.  Output: TSV
 * "path, class, probability" (top-k: more class/probability pairs), or JSON
 * lines; regression models print their outputs.  A file that cannot be
 * read is reported on stderr and skipped; the exit code is then 3.  An image
 * whose outputs are NaN/Inf (a broken checkpoint) gets no line, a message on
 * stderr, and exit 9. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/opt.h"
#include "eval.h"
#include "eval/infer.h"
#include "eval/predict.h"
#include "image/image.h"
#include "train/checkpoint.h"

typedef struct pctx {
	dl_model *m;
	dl_checkpoint *ck;
	const dl_json *classes;     /* array of names or NULL */
	int batch, topk, json, crop, reg;
	uint8_t *px;                /* [batch, h, w, c] */
	float *out;                 /* [batch, K] */
	char **paths;               /* the batch's paths (owned copies) */
	int n;                      /* images in the batch */
	long bad;                   /* files that could not be read */
	long nonfinite;             /* images whose outputs were NaN/Inf */
} pctx;

/* Runs the batch and prints one line per image. */
static int flush_batch(pctx *p, dl_err *err)
{
	if (!p->n)
		return 0;
	int k = dl_model_output_shape(p->m).c;
	int rc = dl_infer(p->m, p->px, p->n, &p->ck->norm, p->batch, p->out, err);
	dl_buf b;
	dl_buf_init(&b);
	for (int i = 0; i < p->n && !rc; i++) {
		float *z = p->out + (size_t)i * (size_t)k;
		int finite = 1;
		for (int j = 0; j < k; j++)
			finite &= isfinite(z[j]) != 0;
		if (!finite) {   /* no line (TSV/JSON stay valid); exit 9 at the end */
			fprintf(stderr, "dl-eval: %s: the model's outputs are not finite (NaN/Inf)\n", p->paths[i]);
			p->nonfinite++;
			continue;
		}
		if (p->json) {
			dl_buf_puts(&b, "{\"path\": ");
			dl_buf_json_string(&b, p->paths[i]);
			dl_buf_puts(&b, ", ");
		} else {
			for (const char *c = p->paths[i]; *c; c++)   /* TSV: no tabs in a field */
				dl_buf_append(&b, *c == '\t' ? " " : c, 1);
		}
		dl_predict_answer(&b, p->out + (size_t)i * (size_t)k, k, p->topk, p->reg, p->classes,
				  p->json);
		dl_buf_puts(&b, p->json ? "}\n" : "\n");
	}
	if (!rc && b.oom)
		rc = dl_fail(err, DL_EFAIL, "out of memory");
	if (!rc && b.len && (fwrite(b.p, 1, b.len, stdout) != b.len || fflush(stdout)))
		rc = dl_fail_errno(err, DL_EIO, "stdout: write failed");
	dl_buf_release(&b);
	for (int i = 0; i < p->n; i++)
		free(p->paths[i]);
	p->n = 0;
	return rc;
}

static int add_path(pctx *p, const char *path, dl_err *err)
{
	dl_err e = { 0 };
	uint8_t *dst = p->px + dl_shape_size(p->m->input) * (size_t)p->n;
	if (dl_predict_load(path, p->m->input, p->crop, dst, &e)) {
		fprintf(stderr, "dl-eval: %s\n", e.msg);   /* skip it, go on, exit 3 at the end */
		p->bad++;
		return e.code == DL_EFAIL ? dl_fail(err, DL_EFAIL, "%s", e.msg) : 0;
	}
	if (!(p->paths[p->n] = strdup(path)))
		return dl_fail(err, DL_EFAIL, "out of memory");
	p->n++;
	return p->n == p->batch ? flush_batch(p, err) : 0;
}

/* Paths from stdin, one per line, read with our own buffer so we know when
 * no more input is waiting: the images gathered so far are then answered
 * before read(2) blocks.  In a pipe each line is answered as soon as it
 * arrives; a file or a fast producer still fills whole batches. */
static int read_stdin(pctx *p, dl_err *err)
{
	enum { MAX_LINE = 1 << 20 };
	size_t cap = 1 << 16, len = 0, off = 0;
	char *buf = malloc(cap);
	int rc = 0;
	if (!buf)
		return dl_fail(err, DL_EFAIL, "out of memory");
	for (;;) {
		char *nl;
		while (!rc && (nl = memchr(buf + off, '\n', len - off))) {
			char *line = buf + off;
			size_t n = (size_t)(nl - line);
			off += n + 1;
			while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
				n--;
			line[n] = 0;
			if (n)
				rc = add_path(p, line, err);
		}
		if (rc)
			break;
		memmove(buf, buf + off, len - off);
		len -= off;
		off = 0;
		if (len + 1 >= cap) {
			if (cap >= MAX_LINE) {
				rc = dl_fail(err, DL_EDATA, "stdin: a line is longer than 1 MiB");
				break;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = dl_fail(err, DL_EFAIL, "out of memory");
				break;
			}
			buf = nb;
			cap *= 2;
		}
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		if (p->n && poll(&pfd, 1, 0) == 0 && (rc = flush_batch(p, err)))
			break;
		ssize_t r = read(0, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = dl_fail_errno(err, DL_EIO, "stdin: read failed");
			break;
		}
		if (r == 0) {
			while (len > 0 && (buf[len - 1] == '\r'))
				len--;
			buf[len] = 0;
			if (len)
				rc = add_path(p, buf, err);
			break;
		}
		len += (size_t)r;
	}
	free(buf);
	return rc;
}

int predict_main(int argc, char **argv, const void *data)
{
	(void)data;
	const char *device = "auto";
	long batch = 64, threads = 0, topk = 1;
	int json = 0, crop = 0;
	static const dl_opt_choice fits[] = { { "stretch", 0 }, { "crop", 1 }, { NULL, 0 } };
	const dl_opt opts[] = {
		DL_OPT_INT('k', "top-k", &topk, "K", "print the K most probable classes (default 1)",
			   DL_MIN(1)),
		DL_OPT_FLAG(0, "json", &json, "one JSON object per image instead of TSV"),
		DL_OPT_CHOICE(0, "fit", &crop, "HOW", fits,
		  "stretch (default): resize to the model's size; crop: centre crop to its aspect first"),
		DL_OPT_INT('b', "batch", &batch, "N", "images per forward pass (default 64)", DL_MIN(1),
			   DL_MAX(4096)),
		DL_OPT_INT('j', "threads", &threads, "N", "CPU threads (default: all cores)", DL_MIN(0),
			   DL_MAX(1024)),
		DL_OPT_STRING(0, "device", &device, "DEV", "auto (default) or cpu"),
		DL_OPT_END,
	};
	const dl_cmd cmd = {
		"dl-eval predict", "CHECKPOINT [IMAGE...]   (no IMAGE, or -: paths on stdin, one per line)",
		"Classifies image files (PNG, JPEG, PPM/PGM) with a checkpoint.  Each image is\n"
		"converted to the model's channels (RGB -> gray: ITU-R 601-2 luma), resized to\n"
		"its input size (area averaging down, bilinear up) and normalised with the\n"
		"checkpoint's recorded scale/mean/std, as training saw its data.  Output, one\n"
		"line per image on stdout: path TAB class TAB probability (more pairs with -k);\n"
		"class is the name when the checkpoint has class names.  Regression models:\n"
		"path TAB outputs.  Unreadable files: an error on stderr each, exit 3 at the end.",
		opts,
		"examples:\n"
		"  dl-eval predict runs/lenet/model.safetensors shirt.png boot.jpg\n"
		"  find photos -name '*.jpg' | dl-eval predict runs/lenet/model.safetensors -k 3\n",
	};
	dl_err err = { 0 };
	int npos, rc = 0;
	dl_backend *be = NULL;
	dl_model m = { 0 };
	dl_checkpoint ck = { 0 };
	dl_json *classes = NULL;
	pctx p = { 0 };
	if ((rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err)))
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-eval", &err);
	if (npos < 1)
		rc = dl_fail(&err, DL_EUSAGE, "expected CHECKPOINT [IMAGE...]");
	dl_backend_opts bo = { .device = device, .threads = (int)threads,
			       .log = dl_logger_stderr("dl-eval") };
	if (rc || (rc = dl_backend_open_opts(&be, &bo, &err)) ||
	    (rc = dl_checkpoint_load(argv[1], &m, be, NULL, &ck, &err)))
		goto fail;
	int k = dl_model_output_shape(&m).c;
	if (ck.classes_json &&
	    dl_json_parse(ck.classes_json, strlen(ck.classes_json), "dl.classes", &classes, &err))
		goto fail;
	p = (pctx){ .m = &m, .ck = &ck, .batch = (int)batch, .json = json,
		    .topk = (int)(topk < k ? topk : k), .crop = crop,
		    .reg = dl_loss_is_regression(&m.loss),
		    .classes = classes && classes->type == DL_JSON_ARRAY ? classes : NULL };
	p.px = malloc(dl_shape_size(m.input) * (size_t)batch);
	p.out = malloc(sizeof(float) * (size_t)k * (size_t)batch);
	p.paths = calloc((size_t)batch, sizeof *p.paths);
	if (!p.px || !p.out || !p.paths) {
		rc = dl_fail(&err, DL_EFAIL, "out of memory");
		goto fail;
	}
	int from_stdin = npos == 1 || (npos == 2 && !strcmp(argv[2], "-"));
	if (from_stdin) {
		rc = read_stdin(&p, &err);
	} else {
		for (int i = 2; i <= npos && !rc; i++)
			rc = add_path(&p, argv[i], &err);
	}
	if (!rc)
		rc = flush_batch(&p, &err);
	if (!rc && p.nonfinite)
		rc = dl_fail(&err, DL_EDIVERGED, "%s: %ld image%s gave non-finite outputs (NaN/Inf weights?)",
			     argv[1], p.nonfinite, p.nonfinite == 1 ? "" : "s");
	if (!rc && p.bad)
		rc = dl_fail(&err, DL_EDATA, "%ld image file%s could not be read (see above)", p.bad,
			     p.bad == 1 ? "" : "s");
	if (rc)
		goto fail;
	goto done;
fail:
	rc = dl_tool_fail("dl-eval", &err);
done:
	for (int i = 0; p.paths && i < p.n; i++)
		free(p.paths[i]);
	free(p.paths);
	free(p.px);
	free(p.out);
	dl_json_free(classes);
	dl_checkpoint_release(&ck);
	dl_model_release(&m);
	dl_backend_close(be);
	return rc;
}
