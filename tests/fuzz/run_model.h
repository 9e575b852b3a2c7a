/* Shared by the "file -> running model" fuzz targets: runs a built model
 * forward and backward on a tiny random batch, in evaluation and training
 * mode, on one CPU backend kept for the process (fuzz_backend).  Models
 * too large to run quickly are skipped (a harness limit, not a finding:
 * dl_model_plan's own limits are tested elsewhere). */
#ifndef DL_FUZZ_RUN_MODEL_H
#define DL_FUZZ_RUN_MODEL_H

#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "nn/model.h"

/* The fuzzer process's backend (opened once, never closed: libFuzzer
 * keeps the process). */
static dl_backend *fuzz_backend(void)
{
	static dl_backend *be;
	dl_err err;
	if (!be && dl_backend_cpu_open(&be, 1, &err))
		abort();
	return be;
}

/* Floats of activations and parameters per sample: small enough to run? */
static int fuzz_model_small(const dl_model *m)
{
	size_t act = dl_shape_size(m->input);
	for (int i = 0; i < m->nlayers; i++)
		act += dl_shape_size(m->layers[i].out);
	return m->nlayers <= 64 && act <= ((size_t)1 << 16) && m->nparams <= ((size_t)1 << 18);
}

/* m is allocated on fuzz_backend() with parameters set; plans a batch of
 * 2, runs forward and backward; the output must be where it says.  */
static void fuzz_run_model(dl_model *m)
{
	dl_err err;
	if (!fuzz_model_small(m) || dl_model_plan(m, 2, &err))
		return;
	for (int train = 0; train <= 1; train++) {
		dl_model_set_training(m, train);
		size_t nx = dl_shape_size(m->input) * 2;
		for (size_t i = 0; i < nx; i++)
			m->x[i] = (float)((i * 2654435761u) % 255) / 127.0f - 1.0f;
		dl_model_forward(m, 2);
		size_t no = dl_shape_size(dl_model_output_shape(m)) * 2;
		float *dy = dl_model_doutput(m);
		for (size_t i = 0; i < no; i++)
			dy[i] = (i % 3) ? 0.5f : -1.0f;
		if (m->nparams)
			memset(m->grads, 0, m->nparams * sizeof(float));
		dl_model_backward(m, 2);
	}
}

#endif
