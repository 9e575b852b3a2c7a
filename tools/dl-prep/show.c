/* dl-prep show: a PNG contact sheet of a dataset's images with their labels.
 *
 * Layout (the CLI test and the man page rely on it): tiles of the images
 * scaled up by an integer factor S (nearest neighbour), in a grid of COLS
 * columns, PAD = 2 pixels of background around and between cells; a cell
 * is the tile over a label band of 7 * T + 4 pixels (T = text scale, 2 if
 * every label fits the tile width at 2, else 1), the label drawn at
 * (x, y + tile height + 2), cut to the tile width.  Tile k's top-left is
 * (PAD + (k % COLS) * (S*W + PAD), PAD + (k / COLS) * (S*H + band + PAD)).
 * The sheet has the dataset's channels (1 or 3); background 40, text 255. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guard.h"
#include "core/json.h"
#include "core/opt.h"
#include "core/rng.h"
#include "image/font.h"
#include "image/image.h"
#include "io/safetensors.h"
#include "prep.h"

#define PAD 2
#define BG 40
#define MAX_SHEET_SIDE 16384
#define LABEL_MAX 64

struct sheet_src {
	const uint8_t *images;       /* [n, h, w, c] */
	const int32_t *labels;       /* [n] or NULL */
	const float *targets;        /* [n, k] or NULL */
	int n, h, w, c, k;
	dl_json *classes;            /* array of names or NULL */
};

static int open_src(dl_st_file *f, struct sheet_src *s, dl_err *err)
{
	const dl_st_tensor *im, *lb = dl_st_find(f, "labels"), *tg = dl_st_find(f, "targets");
	int rc = dl_st_get(f, "images", DL_U8, 4, &im, err);
	if (rc)
		return rc;
	memset(s, 0, sizeof *s);
	if (im->shape[0] < 1 || im->shape[0] > INT32_MAX || im->shape[1] < 1 || im->shape[2] < 1 ||
	    im->shape[1] > 16384 || im->shape[2] > 16384 || (im->shape[3] != 1 && im->shape[3] != 3))
		return dl_fail(err, DL_EDATA, "%s: images [%lld, %lld, %lld, %lld]: need N >= 1 and 1 or 3 channels",
			       f->path, (long long)im->shape[0], (long long)im->shape[1],
			       (long long)im->shape[2], (long long)im->shape[3]);
	s->images = im->data;
	s->n = (int)im->shape[0];
	s->h = (int)im->shape[1];
	s->w = (int)im->shape[2];
	s->c = (int)im->shape[3];
	if (lb) {
		if (lb->dtype != DL_I32 || lb->ndim != 1 || lb->shape[0] != s->n)
			return dl_fail(err, DL_EDATA, "%s: labels must be I32 [%d]", f->path, s->n);
		s->labels = lb->data;
	}
	if (tg) {
		if (tg->dtype != DL_F32 || tg->ndim < 1 || tg->ndim > 2 || tg->shape[0] != s->n ||
		    (tg->ndim == 2 && tg->shape[1] < 1))
			return dl_fail(err, DL_EDATA, "%s: targets must be F32 [%d, K]", f->path, s->n);
		s->targets = tg->data;
		s->k = tg->ndim == 2 ? (int)tg->shape[1] : 1;
	}
	const char *cj = dl_st_meta_get(f, "dl.classes");
	if (cj) {
		if ((rc = dl_json_parse(cj, strlen(cj), f->path, &s->classes, err)))
			return rc;
		if (s->classes->type != DL_JSON_ARRAY)
			return dl_fail(err, DL_EDATA, "%s: metadata dl.classes is not a list of names",
				       f->path);
	}
	return 0;
}

/* The label of sample i: class name, class number, target values, or "#i". */
static void label_of(const struct sheet_src *s, int i, char *out, size_t n)
{
	out[0] = 0;
	if (s->labels) {
		int32_t l = s->labels[i];
		const dl_json *name = s->classes && l >= 0 && (size_t)l < s->classes->len
					      ? &s->classes->items[l] : NULL;
		if (name && name->type == DL_JSON_STRING)
			snprintf(out, n, "%s", name->str);
		else
			snprintf(out, n, "%d", (int)l);
	} else if (s->targets) {
		size_t len = 0;
		for (int j = 0; j < s->k && j < 4 && len < n; j++)
			len += (size_t)snprintf(out + len, n - len, "%s%.3g", j ? " " : "",
						(double)s->targets[(size_t)i * s->k + j]);
	} else {
		snprintf(out, n, "#%d", i);
	}
}

/* Cuts label (by glyphs, keeping UTF-8 sequences whole) to fit width. */
static void fit(char *label, int width, int scale)
{
	int keep = (width + 1) / (DL_FONT_ADVANCE * scale), g = 0;
	for (char *p = label; *p; p++) {
		if ((*p & 0xC0) != 0x80 && g++ == keep) {
			*p = 0;
			return;
		}
	}
}

int dl_prep_show_main(int argc, char **argv, const void *data)
{
	(void)data;
	long n = 16, seed = 1, scale = 0, cols = 0;
	int random = 0;
	const char *out = NULL;
	const dl_opt opts[] = {
		DL_OPT_STRING('o', "output", &out, "PNG", "the contact sheet to write (required)"),
		DL_OPT_INT('n', "count", &n, "N", "images to show (default 16; at most the file's)",
			   DL_MIN(1), DL_MAX(10000)),
		DL_OPT_FLAG(0, "random", &random, "pick N at random instead of the first N"),
		DL_OPT_INT(0, "seed", &seed, "S", "seed for --random (default 1)"),
		DL_OPT_INT(0, "scale", &scale, "K", "scale images up K times (default: tiles >= 64 px)",
			   DL_MIN(0), DL_MAX(64)),
		DL_OPT_INT(0, "cols", &cols, "C", "columns (default: a square-ish grid)", DL_MIN(0),
			   DL_MAX(10000)),
		DL_OPT_END,
	};
	const dl_cmd cmd = {
		"dl-prep show", "FILE -o PNG [-n N] [--random [--seed S]] [--scale K] [--cols C]",
		"Writes a PNG contact sheet of a dataset file's first N images (or N random\n"
		"ones), each scaled up (nearest) with its label underneath: the class name\n"
		"from dl.classes, else the class number, else the regression target(s).",
		opts, "example: dl-prep show data/train.safetensors -n 25 -o sheet.png\n",
	};
	dl_err err = { 0 };
	int npos;
	int rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err);
	if (rc)
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-prep", &err);
	if (npos != 1)
		rc = dl_fail(&err, DL_EUSAGE, "show: expected one FILE, got %d arguments", npos);
	else if (!out)
		rc = dl_fail(&err, DL_EUSAGE, "show: -o PNG is required");
	dl_guard g = { 0 };
	const dl_iofile ins[] = { { "FILE", argv[1] } }, outs[] = { { "-o", out } };
	if (rc || (rc = dl_guard_begin(&g, DL_GUARD_DIE, ins, 1, outs, 1, &err)))
		return dl_tool_fail("dl-prep", &err);

	dl_st_file f = { 0 };
	struct sheet_src s = { 0 };
	uint32_t *idx = NULL;
	dl_image sheet = { 0 };
	if ((rc = dl_st_open(&f, argv[1], &err)) || (rc = open_src(&f, &s, &err)))
		goto done;
	if (n > s.n)
		n = s.n;
	idx = malloc(sizeof *idx * (size_t)s.n);
	if (!idx) {
		rc = dl_fail(&err, DL_EFAIL, "out of memory");
		goto done;
	}
	for (int i = 0; i < s.n; i++)
		idx[i] = (uint32_t)i;
	if (random) {   /* the first n steps of a Fisher-Yates shuffle */
		dl_rng rng;
		dl_rng_seed(&rng, (uint64_t)seed);
		for (int i = 0; i < n; i++) {
			uint32_t j = (uint32_t)i + dl_rng_below(&rng, (uint32_t)(s.n - i));
			uint32_t t = idx[i];
			idx[i] = idx[j];
			idx[j] = t;
		}
	}
	int side = s.h > s.w ? s.h : s.w;
	int sc = scale ? (int)scale : (64 + side - 1) / side;
	if (sc < 1)
		sc = 1;
	int tw = s.w * sc, th = s.h * sc, ts = 2;
	char label[LABEL_MAX];
	for (int k = 0; k < n; k++) {
		label_of(&s, (int)idx[k], label, sizeof label);
		if (dl_font_text_width(label, 2) > tw)
			ts = 1;
	}
	int band = DL_FONT_H * ts + 4;
	int nc = cols ? (int)(cols < n ? cols : n) : (int)ceil(sqrt((double)n));
	int nr = (int)((n + nc - 1) / nc);
	long long sw = PAD + (long long)nc * (tw + PAD), sh = PAD + (long long)nr * (th + band + PAD);
	if (sw > MAX_SHEET_SIDE || sh > MAX_SHEET_SIDE) {
		rc = dl_fail(&err, DL_EUSAGE, "show: the sheet would be %lldx%lld pixels (limit %d): use a smaller -n or --scale",
			     sw, sh, MAX_SHEET_SIDE);
		goto done;
	}
	sheet.w = (int)sw;
	sheet.h = (int)sh;
	sheet.c = s.c;
	sheet.px = malloc((size_t)sw * (size_t)sh * (size_t)s.c);
	if (!sheet.px) {
		rc = dl_fail(&err, DL_EFAIL, "out of memory for a %lldx%lld sheet", sw, sh);
		goto done;
	}
	memset(sheet.px, BG, (size_t)sw * (size_t)sh * (size_t)s.c);
	const uint8_t white[3] = { 255, 255, 255 };
	for (int k = 0; k < n; k++) {
		int x0 = PAD + (k % nc) * (tw + PAD), y0 = PAD + (k / nc) * (th + band + PAD);
		const uint8_t *src = s.images + (size_t)idx[k] * s.h * s.w * s.c;
		for (int y = 0; y < th; y++) {
			uint8_t *d = sheet.px + ((size_t)(y0 + y) * sheet.w + x0) * s.c;
			const uint8_t *r = src + (size_t)(y / sc) * s.w * s.c;
			for (int x = 0; x < tw; x++)
				memcpy(d + (size_t)x * s.c, r + (size_t)(x / sc) * s.c, (size_t)s.c);
		}
		label_of(&s, (int)idx[k], label, sizeof label);
		fit(label, tw, ts);
		dl_font_draw(&sheet, x0, y0 + th + 2, label, ts, white);
	}
	rc = dl_image_save_png(out, &sheet, &err);
	if (!rc)
		fprintf(stderr, "dl-prep show: %s: %ld images, %dx%d tiles (x%d), %dx%d pixels\n", out, n,
			tw, th, sc, sheet.w, sheet.h);
done:
	free(sheet.px);
	free(idx);
	dl_json_free(s.classes);
	dl_st_close(&f);
	dl_guard_end(&g);
	return rc ? dl_tool_fail("dl-prep", &err) : 0;
}
