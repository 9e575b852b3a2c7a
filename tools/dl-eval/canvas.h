/* A small RGB canvas for dl-eval's plots: rectangles, lines, text in a
 * built-in 5x7 bitmap font (scaled by an integer), written as PNG with
 * libpng (atomically). */
#ifndef DL_EVAL_CANVAS_H
#define DL_EVAL_CANVAS_H

#include <stdint.h>
#include "core/error.h"

typedef struct canvas {
	int w, h;
	uint8_t *px;          /* h * w * 3, owned */
} canvas;

typedef struct rgb {
	uint8_t r, g, b;
} rgb;

int canvas_init(canvas *c, int w, int h, rgb bg, dl_err *err);
void canvas_free(canvas *c);
/* filled rectangle [x0, x1) x [y0, y1), clipped */
void canvas_rect(canvas *c, int x0, int y0, int x1, int y1, rgb col);
/* line of the given thickness (pixels), clipped */
void canvas_line(canvas *c, int x0, int y0, int x1, int y1, rgb col, int thick);
/* text with its top-left corner at (x, y); lowercase prints as uppercase,
 * characters without a glyph as a box.  Returns the width drawn. */
int canvas_text(canvas *c, int x, int y, const char *s, rgb col, int scale);
int canvas_text_width(const char *s, int scale);
#define CANVAS_GLYPH_H 7
int canvas_save_png(const canvas *c, const char *path, dl_err *err);

#endif
