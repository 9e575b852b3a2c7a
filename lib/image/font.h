/* A tiny built-in 5x7 bitmap font for labels on contact sheets and plots
 * (dl-prep show, dl-eval).  Covers digits, A-Z (lowercase is drawn as
 * uppercase), space and - _ . , : / ( ) ' + = ? ! % # & * < > [ ];
 * anything else, and each non-ASCII UTF-8 character, is drawn as '?'. */
#ifndef DL_IMAGE_FONT_H
#define DL_IMAGE_FONT_H

#include <stdint.h>
#include "image/image.h"

#define DL_FONT_W 5
#define DL_FONT_H 7
#define DL_FONT_ADVANCE 6   /* glyph width + 1 column of spacing */

/* Glyphs text takes (non-ASCII UTF-8 sequences count as one). */
int dl_font_glyphs(const char *text);
/* Width in pixels of text drawn at scale (0 for ""). */
int dl_font_text_width(const char *text, int scale);
/* Draws text with its top-left corner at (x, y), each font pixel a
 * scale x scale square of `color` (im->c bytes), clipped to the image. */
void dl_font_draw(dl_image *im, int x, int y, const char *text, int scale,
		  const uint8_t *color);

#endif
