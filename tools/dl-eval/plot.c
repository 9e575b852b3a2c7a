/* `dl-eval plot LOG.jsonl -o curves.png`: loss and accuracy per epoch,
 * train vs validation, from dl-train's JSON-lines log; and the confusion
 * heat map of `dl-eval --plot`.  Drawn on canvas.c, written with libpng. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "canvas.h"
#include "core/guard.h"
#include "core/json.h"
#include "core/opt.h"
#include "core/readall.h"
#include "eval.h"

static const rgb WHITE = { 255, 255, 255 }, BLACK = { 0, 0, 0 }, GRID = { 225, 225, 225 },
		 TRAIN = { 31, 119, 180 }, VAL = { 255, 127, 14 };

typedef struct series {
	int n;
	double *x, *y;
} series;

/* ---- curves ------------------------------------------------------------- */

static void nice_range(double *lo, double *hi)
{
	if (!(*hi > *lo)) {
		double d = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 1;
		*lo -= d, *hi += d;
	}
	double pad = (*hi - *lo) * 0.05;
	*lo -= pad, *hi += pad;
}

/* One panel at (px, py) of size pw x ph: axes, 5 ticks per axis, lines. */
static void panel(dl_image *c, int px, int py, int pw, int ph, const char *title,
		  const series *s, const char *const *names, const rgb *cols, int ns)
{
	int l = px + 70, r = px + pw - 10, t = py + 30, b = py + ph - 40;
	double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
	for (int k = 0; k < ns; k++)
		for (int i = 0; i < s[k].n; i++) {
			x0 = fmin(x0, s[k].x[i]), x1 = fmax(x1, s[k].x[i]);
			y0 = fmin(y0, s[k].y[i]), y1 = fmax(y1, s[k].y[i]);
		}
	if (!isfinite(x0))
		x0 = 0, x1 = 1, y0 = 0, y1 = 1;
	if (!(x1 > x0))
		x0 -= 1, x1 += 1;
	nice_range(&y0, &y1);
	canvas_text(c, px + (pw - canvas_text_width(title, 2)) / 2, py + 6, title, BLACK, 2);
	char lab[32];
	for (int i = 0; i <= 4; i++) {
		int y = b - (b - t) * i / 4, x = l + (r - l) * i / 4;
		canvas_line(c, l, y, r, y, GRID, 1);
		snprintf(lab, sizeof lab, "%.3g", y0 + (y1 - y0) * i / 4);
		canvas_text(c, l - 6 - canvas_text_width(lab, 1), y - 3, lab, BLACK, 1);
		canvas_line(c, x, b, x, b + 4, BLACK, 1);
		snprintf(lab, sizeof lab, "%.3g", x0 + (x1 - x0) * i / 4);
		canvas_text(c, x - canvas_text_width(lab, 1) / 2, b + 8, lab, BLACK, 1);
	}
	canvas_text(c, (l + r - canvas_text_width("epoch", 2)) / 2, b + 20, "epoch", BLACK, 2);
	canvas_line(c, l, t, l, b, BLACK, 2);
	canvas_line(c, l, b, r, b, BLACK, 2);
	for (int k = 0; k < ns; k++) {
		int lx = 0, ly = 0;
		for (int i = 0; i < s[k].n; i++) {
			int x = l + (int)lround((s[k].x[i] - x0) / (x1 - x0) * (r - l));
			int y = b - (int)lround((s[k].y[i] - y0) / (y1 - y0) * (b - t));
			if (i)
				canvas_line(c, lx, ly, x, y, cols[k], 3);
			canvas_rect(c, x - 3, y - 3, x + 4, y + 4, cols[k]);
			lx = x, ly = y;
		}
	}
	/* legend, top right inside the panel */
	int lw = 0;
	for (int k = 0; k < ns; k++)
		lw = lw > canvas_text_width(names[k], 2) ? lw : canvas_text_width(names[k], 2);
	int gx = r - lw - 40, gy = t + 6;
	canvas_rect(c, gx - 6, gy - 6, r - 4, gy + 22 * ns, WHITE);
	for (int k = 0; k < ns; k++) {
		canvas_rect(c, gx, gy + 22 * k + 5, gx + 22, gy + 22 * k + 9, cols[k]);
		canvas_text(c, gx + 28, gy + 22 * k, names[k], BLACK, 2);
	}
}

static int add_point(series *s, double x, double y)
{
	double *nx = realloc(s->x, sizeof(double) * (size_t)(s->n + 1));
	if (!nx)
		return -1;
	s->x = nx;
	double *ny = realloc(s->y, sizeof(double) * (size_t)(s->n + 1));
	if (!ny)
		return -1;
	s->y = ny;
	s->x[s->n] = x, s->y[s->n] = y;
	s->n++;
	return 0;
}

static const char *const KEYS[4] = { "loss", "val_loss", "accuracy", "val_accuracy" };

/* Reads the "event": "epoch" lines of a dl-train log into s[0..4). */
static int read_log(const char *path, series *s, dl_err *err)
{
	unsigned char *text;
	size_t len;
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0)
		return dl_fail_errno(err, DL_EIO, "%s", path);
	int rc = dl_read_all(fd, path, 1u << 30, &text, &len, err);
	if (fd)
		close(fd);
	if (rc)
		return rc;
	char *p = (char *)text, *end = (char *)text + len;
	for (int lineno = 1; p < end && !rc; lineno++) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char what[512];
		snprintf(what, sizeof what, "%s: line %d", path, lineno);
		dl_json *j = NULL;
		if (n && (rc = dl_json_parse(p, n, what, &j, err)))
			break;
		const dl_json *ev = dl_json_get(j, "event"), *ep = dl_json_get(j, "epoch");
		if (j && ev && ev->type == DL_JSON_STRING && !strcmp(ev->str, "epoch")) {
			if (!ep || ep->type != DL_JSON_NUMBER)
				rc = dl_fail(err, DL_EDATA, "%s:%d: epoch event without a number 'epoch'",
					     path, lineno);
			for (int k = 0; k < 4 && !rc; k++) {
				const dl_json *v = dl_json_get(j, KEYS[k]);
				if (v && v->type == DL_JSON_NUMBER && add_point(&s[k], ep->number, v->number))
					rc = dl_fail(err, DL_EFAIL, "out of memory");
			}
		}
		dl_json_free(j);
		p += n + 1;
	}
	free(text);
	if (!rc && !s[0].n && !s[2].n)
		rc = dl_fail(err, DL_EDATA, "%s: no epoch lines with loss or accuracy (a dl-train log.jsonl?)",
			     path);
	return rc;
}

int plot_main(int argc, char **argv, const void *data)
{
	(void)data;
	const char *out = NULL, *title = NULL;
	long width = 1200, height = 500;
	const dl_opt opts[] = {
		DL_OPT_STRING('o', "output", &out, "FILE", "PNG to write (required)"),
		DL_OPT_STRING(0, "title", &title, "TEXT", "title (default: the log's path)"),
		DL_OPT_INT(0, "width", &width, "PX", "image width (default 1200)", DL_MIN(400),
			   DL_MAX(8000)),
		DL_OPT_INT(0, "height", &height, "PX", "image height (default 500)", DL_MIN(200),
			   DL_MAX(8000)),
		DL_OPT_END,
	};
	const dl_cmd cmd = {
		"dl-eval plot", "LOG.jsonl -o FILE.png",
		"Draws training curves from dl-train's log (runs/NAME/log.jsonl): loss and\n"
		"accuracy per epoch, train and validation, as one PNG with two panels.",
		opts, "example:\n  dl-eval plot runs/lenet/log.jsonl -o curves.png\n",
	};
	dl_err err = { 0 };
	int npos, rc;
	series s[4] = { { 0 } };
	dl_image c = { 0 };
	dl_guard g = { 0 };
	if ((rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err)))
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-eval", &err);
	const dl_iofile ins[] = { { "LOG", argv[1] } }, outs[] = { { "-o", out } };
	if (npos != 1)
		rc = dl_fail(&err, DL_EUSAGE, "expected one LOG.jsonl, got %d arguments", npos);
	else if (!out)
		rc = dl_fail(&err, DL_EUSAGE, "missing -o FILE.png");
	else
		rc = dl_guard_begin(&g, DL_GUARD_DIE, ins, 1, outs, 1, &err);
	if (!rc && !(rc = read_log(argv[1], s, &err)) &&
	    !(rc = canvas_init(&c, (int)width, (int)height, WHITE, &err))) {
		const char *t = title ? title : argv[1];
		canvas_text(&c, ((int)width - canvas_text_width(t, 2)) / 2, 6, t, BLACK, 2);
		const char *names[2] = { "train", "val" };
		const rgb cols[2] = { TRAIN, VAL };
		int half = (int)width / 2;
		panel(&c, 0, 24, half, (int)height - 24, "loss", &s[0], names, cols, s[1].n ? 2 : 1);
		panel(&c, half, 24, half, (int)height - 24, "accuracy", &s[2], names, cols,
		      s[3].n ? 2 : 1);
		rc = dl_image_save_png(out, &c, &err);
	}
	dl_image_free(&c);
	for (int k = 0; k < 4; k++) {
		free(s[k].x);
		free(s[k].y);
	}
	dl_guard_end(&g);
	return rc ? dl_tool_fail("dl-eval", &err) : 0;
}

/* ---- confusion heat map ----------------------------------------------- */

int plot_confusion(const dl_cls_metrics *m, const char *classes_json, const char *title,
		   const char *path, dl_err *err)
{
	dl_json *cl = NULL;
	if (classes_json && dl_json_parse(classes_json, strlen(classes_json), "dl.classes", &cl, err))
		cl = NULL;   /* names are decoration: fall back to numbers */
	int k = m->k, cell = k <= 10 ? 56 : k <= 30 ? 28 : k <= 100 ? 10 : 4;
	int names_w = 0;
	char lab[64];
	for (int i = 0; i < k; i++) {
		const char *nm = cl && cl->type == DL_JSON_ARRAY && (size_t)i < cl->len &&
			cl->items[i].type == DL_JSON_STRING ? cl->items[i].str : NULL;
		snprintf(lab, sizeof lab, "%d %.20s", i, nm ? nm : "");
		int w = canvas_text_width(lab, 1);
		names_w = names_w > w ? names_w : w;
	}
	int l = names_w + 20, t = 60, w = l + k * cell + 30, h = t + k * cell + 50;
	if (w < 360)
		w = 360;
	dl_image c = { 0 };
	int rc = canvas_init(&c, w, h, WHITE, err);
	if (rc) {
		dl_json_free(cl);
		return rc;
	}
	canvas_text(&c, 10, 8, title, BLACK, 2);
	canvas_text(&c, 10, 32, "rows: true class, columns: predicted, colour: share of the row", BLACK, 1);
	for (int i = 0; i < k; i++) {
		long row = m->support[i] ? m->support[i] : 1;
		for (int j = 0; j < k; j++) {
			long v = m->confusion[(size_t)i * k + j];
			double f = (double)v / (double)row;
			rgb col = { (uint8_t)(255 - 200 * f), (uint8_t)(255 - 150 * f), (uint8_t)(255 - 40 * f) };
			canvas_rect(&c, l + j * cell, t + i * cell, l + (j + 1) * cell - 1,
				    t + (i + 1) * cell - 1, col);
			if (cell >= 28) {
				snprintf(lab, sizeof lab, "%ld", v);
				canvas_text(&c, l + j * cell + (cell - canvas_text_width(lab, 1)) / 2,
					    t + i * cell + cell / 2 - 3, lab, f > 0.5 ? WHITE : BLACK, 1);
			}
		}
		const char *nm = cl && cl->type == DL_JSON_ARRAY && (size_t)i < cl->len &&
			cl->items[i].type == DL_JSON_STRING ? cl->items[i].str : NULL;
		snprintf(lab, sizeof lab, "%d %.20s", i, nm ? nm : "");
		if (cell >= 10)
			canvas_text(&c, 10, t + i * cell + cell / 2 - 3, lab, BLACK, 1);
		snprintf(lab, sizeof lab, "%d", i);
		if (cell >= 10)
			canvas_text(&c, l + i * cell + (cell - canvas_text_width(lab, 1)) / 2, t - 12, lab,
				    BLACK, 1);
	}
	dl_json_free(cl);
	rc = dl_image_save_png(path, &c, err);
	dl_image_free(&c);
	return rc;
}
