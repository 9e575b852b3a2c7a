/* Batched inference on u8 images on any backend: the deployment path
 * shared by dl-eval's metrics and `dl-eval predict`.
 *
 * Each batch of u8 pixels is copied to the device, normalised there
 * (gather_u8 with the checkpoint's dl_norm) and run forward; the outputs
 * come back to the host.  The model must be allocated on a backend and in
 * evaluation mode; dl_infer plans it for `batch` samples if needed. */
#ifndef DL_EVAL_INFER_H
#define DL_EVAL_INFER_H

#include <stdint.h>
#include "nn/model.h"

/* out [n, K] (host) = model(normalise(images [n, h, w, c] u8, host)). */
int dl_infer(dl_model *m, const uint8_t *images, long n, const dl_norm *norm, int batch,
	     float *out, dl_err *err);

#endif
