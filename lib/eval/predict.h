/* The deployment path of `dl-eval predict`, shared with `dl-eval serve`:
 * how an image file becomes the model's u8 input, and how one image's
 * outputs become an answer line.  Keeping both here is what makes a served
 * answer equal to a predicted one.
 *
 * Preprocessing: decode (lib/image: PNG, JPEG, PPM/PGM) converting to the
 * model's channels, then fit to its input size: `crop` = centre crop to the
 * input's aspect first (only when the aspect differs), then resize (area
 * averaging down, bilinear up) when the size differs.  Normalisation to the
 * checkpoint's scale/mean/std happens on the device in dl_infer.
 *
 * Answers: softmax over the K outputs, the top-k classes (largest first,
 * NaN outputs skipped) with their names from dl.classes when present;
 * regression models give their K outputs. */
#ifndef DL_EVAL_PREDICT_H
#define DL_EVAL_PREDICT_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/json.h"
#include "image/image.h"
#include "nn/model.h"

/* dst [in.h, in.w, in.c] = im fitted to the input (im already has in.c
 * channels). */
int dl_predict_fit(const dl_image *im, dl_shape in, int crop, uint8_t *dst, dl_err *err);
/* Decodes the bytes (name for messages; lim NULL: the defaults) and fits. */
int dl_predict_decode(const void *data, size_t len, const char *name,
		      const dl_image_limits *lim, dl_shape in, int crop, uint8_t *dst,
		      dl_err *err);
/* Reads the file, decodes and fits. */
int dl_predict_load(const char *path, dl_shape in, int crop, uint8_t *dst, dl_err *err);

/* Class i's name from a dl.classes array (may be NULL), or NULL. */
const char *dl_predict_class_name(const dl_json *classes, int i);

/* Appends one image's answer for outputs z [k] (not changed):
 *   json:  "top": [{"class": C, "name": N|null, "probability": P}, ...]
 *          or, reg != 0, "outputs": [V, ...]   (members, no braces)
 *   text:  TAB name-or-class TAB probability per top class, or TAB V per
 *          output (no newline).
 * topk is clamped to [1, k]. */
void dl_predict_answer(dl_buf *b, const float *z, int k, int topk, int reg,
		       const dl_json *classes, int json);

#endif
