/* Canvas drawing (see canvas.h). */
#include "canvas.h"

#include <stdlib.h>

#include "image/font.h"

int canvas_init(dl_image *c, int w, int h, rgb bg, dl_err *err)
{
	c->w = w, c->h = h, c->c = 3;
	c->px = malloc((size_t)w * (size_t)h * 3);
	if (!c->px)
		return dl_fail(err, DL_EFAIL, "out of memory");
	canvas_rect(c, 0, 0, w, h, bg);
	return 0;
}

void canvas_rect(dl_image *c, int x0, int y0, int x1, int y1, rgb col)
{
	x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
	x1 = x1 > c->w ? c->w : x1, y1 = y1 > c->h ? c->h : y1;
	for (int y = y0; y < y1; y++)
		for (int x = x0; x < x1; x++) {
			uint8_t *p = c->px + ((size_t)y * c->w + x) * 3;
			p[0] = col.r, p[1] = col.g, p[2] = col.b;
		}
}

void canvas_line(dl_image *c, int x0, int y0, int x1, int y1, rgb col, int thick)
{
	int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
	int e = dx + dy, lo = -(thick - 1) / 2, hi = lo + thick;
	for (;;) {   /* Bresenham, a thick x thick square per step */
		canvas_rect(c, x0 + lo, y0 + lo, x0 + hi, y0 + hi, col);
		if (x0 == x1 && y0 == y1)
			break;
		int e2 = 2 * e;
		if (e2 >= dy)
			e += dy, x0 += sx;
		if (e2 <= dx)
			e += dx, y0 += sy;
	}
}

void canvas_text(dl_image *c, int x, int y, const char *s, rgb col, int scale)
{
	const uint8_t color[3] = { col.r, col.g, col.b };
	dl_font_draw(c, x, y, s, scale, color);
}

int canvas_text_width(const char *s, int scale)
{
	return dl_font_text_width(s, scale);
}
