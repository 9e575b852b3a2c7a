/* Helpers of the GPU suite (make check-gpu): a CPU and a CUDA backend side
 * by side, buffers mirrored on both, and the relative error between them.
 *
 * Every comparison is ||gpu - cpu|| / ||cpu|| over a whole output (NaN or
 * an unwritten element makes it infinite: outputs are poisoned with NaN
 * before each op), on fresh random inputs.  fp32 must stay under
 * GPU_TOL_FP32; tf32 under GPU_TOL_TF32 (10-bit operand mantissas: about
 * 1e-3 relative per product, documented in docs/DESIGN.md) and, for a
 * matrix product with k = 512, above GPU_TOL_TF32_MIN: fp32 lands near
 * 1e-7 there, so an error over 2e-5 proves the tensor cores rounded (TF32
 * is on).  bf16 (8 significant bits, operands rounded, fp32 sums; convs
 * also round their output) under GPU_TOL_BF16: the rounding of each
 * operand is at most 2^-8 relative (RMS about 0.4 of that), so a sum
 * of products lands near 2e-3 and a rounded output adds about 1e-3; and
 * above GPU_TOL_BF16_MIN (6e-4, twice tf32's ~3e-4) where bf16 must be
 * on.  Whole models: see test_gpu_models.c for the bounds.
 *
 * The inputs come from a seed printed at start ("gpu suite: seed N");
 * DL_GPU_SEED=N repeats a run (default: from the clock). */
#ifndef DL_TESTS_GPU_H
#define DL_TESTS_GPU_H

#include <stdint.h>
#include <stdlib.h>
#include "backend/backend.h"
#include "../unit/test.h"

#define GPU_TOL_FP32 1e-4
#define GPU_TOL_TF32 5e-3
#define GPU_TOL_TF32_MIN 2e-5
#define GPU_TOL_BF16 1.5e-2
#define GPU_TOL_BF16_MIN 6e-4
#define GPU_TOL_MODEL_FWD 1e-3
#define GPU_TOL_MODEL_GRAD 1e-2

typedef struct gpu_pair {
	dl_backend *cpu, *gpu;
	uint64_t rng;
} gpu_pair;

/* A float buffer on both backends; h is host scratch of n floats. */
typedef struct gpu_buf {
	size_t n;
	float *h, *c, *g;
} gpu_buf;

/* Opens both backends (GPU precision "fp32", "tf32" or "bf16"; the CPU fp32); on failure marks the
 * test failed with the reason and returns -1. */
int gpu_open(dl_test_ctx *t, gpu_pair *p, const char *precision);
void gpu_close(gpu_pair *p);
/* The suite's seed (DL_GPU_SEED or the clock; printed once). */
uint64_t gpu_seed(void);
/* Fails the test with the GPU backend's error, if it recorded one. */
void gpu_check_error(dl_test_ctx *t, gpu_pair *p);
/* Refills both sides of b with NaN. */
void gpu_fill_nan(gpu_pair *p, gpu_buf *b);

float gpu_rand(gpu_pair *p, float lo, float hi);
/* n random floats in [lo, hi) uploaded to both backends. */
gpu_buf gpu_rand_buf(gpu_pair *p, size_t n, float lo, float hi);
/* Same values everywhere, from host data. */
gpu_buf gpu_buf_from(gpu_pair *p, const float *src, size_t n);
/* NaN on both sides (for outputs that must be written). */
gpu_buf gpu_nan_buf(gpu_pair *p, size_t n);
void gpu_buf_free(gpu_pair *p, gpu_buf *b);
/* Device copies of raw bytes (labels, indices, images) on both. */
void *gpu_bytes_c(gpu_pair *p, const void *src, size_t bytes);
void *gpu_bytes_g(gpu_pair *p, const void *src, size_t bytes);

/* ||gpu - cpu|| / max(||cpu||, tiny); infinity if any value is NaN/Inf. */
double gpu_relerr(gpu_pair *p, const gpu_buf *b);
/* Number of positions where exactly one side is zero (dropout masks). */
size_t gpu_zero_mismatch(gpu_pair *p, const gpu_buf *b);

#define CHECK_REL(p, b, tol) do {                                              \
	double e_ = gpu_relerr((p), (b));                                      \
	if (!(e_ <= (tol))) {                                                  \
		fprintf(stderr, "  %s:%d: %s: %s: relative error %.3g > %g\n", \
			__FILE__, __LINE__, t->name, #b, e_, (double)(tol));   \
		t->failed = 1;                                                 \
	} } while (0)

#endif
