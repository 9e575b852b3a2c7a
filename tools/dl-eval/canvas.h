/* A small RGB canvas for dl-eval's plots: rectangles and lines on a
 * dl_image (c = 3); text with lib/image's 5x7 font; PNG via lib/image's
 * encoder (atomic write). */
#ifndef DL_EVAL_CANVAS_H
#define DL_EVAL_CANVAS_H

#include <stdint.h>
#include "core/error.h"
#include "image/image.h"

typedef struct rgb {
	uint8_t r, g, b;
} rgb;

int canvas_init(dl_image *c, int w, int h, rgb bg, dl_err *err);
/* filled rectangle [x0, x1) x [y0, y1), clipped */
void canvas_rect(dl_image *c, int x0, int y0, int x1, int y1, rgb col);
/* line of the given thickness (pixels), clipped */
void canvas_line(dl_image *c, int x0, int y0, int x1, int y1, rgb col, int thick);
/* text with its top-left corner at (x, y) (lib/image/font.h) */
void canvas_text(dl_image *c, int x, int y, const char *s, rgb col, int scale);
int canvas_text_width(const char *s, int scale);

#endif
