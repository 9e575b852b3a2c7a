#include "eval/infer.h"

#include <stdlib.h>

int dl_infer(dl_model *m, const uint8_t *images, long n, const dl_norm *norm, int batch,
	     float *out, dl_err *err)
{
	dl_backend *be = m->be;
	int rc = 0;
	if (batch < 1)
		return dl_fail(err, DL_EUSAGE, "batch must be at least 1");
	if (batch > n)
		batch = n > 0 ? (int)n : 1;   /* never plan for more samples than exist */
	if (m->batch < batch && (rc = dl_model_plan(m, batch, err)))
		return rc;
	size_t sample = dl_shape_size(m->input);
	int k = dl_model_output_shape(m).c;
	uint8_t *px = be->ops->alloc(be, sample * (size_t)batch);
	uint32_t *idx = be->ops->alloc(be, sizeof(uint32_t) * (size_t)batch);
	uint32_t *order = malloc(sizeof(uint32_t) * (size_t)batch);
	if (!px || !idx || !order) {
		rc = dl_fail(err, DL_EFAIL, "out of memory");
		goto out;
	}
	for (int i = 0; i < batch; i++)
		order[i] = (uint32_t)i;
	be->ops->to_device(be, idx, order, sizeof(uint32_t) * (size_t)batch);
	for (long s = 0; s < n; s += batch) {
		int b = (int)(n - s < batch ? n - s : batch);
		be->ops->to_device(be, px, images + (size_t)s * sample, sample * (size_t)b);
		be->ops->gather_u8(be, px, idx, b, m->input.h, m->input.w, m->input.c, norm, NULL,
				   m->x);
		dl_model_forward(m, b);
		be->ops->to_host(be, out + (size_t)s * (size_t)k, dl_model_output(m),
				 sizeof(float) * (size_t)b * (size_t)k);
	}
	if (!rc)
		rc = be->ops->error(be, err);
out:
	if (px)
		be->ops->free(be, px);
	if (idx)
		be->ops->free(be, idx);
	free(order);
	return rc;
}
