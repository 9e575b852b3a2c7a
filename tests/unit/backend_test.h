/* Helpers shared by the CPU backend op tests (test_backend_cpu*.c). */
#ifndef DL_BACKEND_TEST_H
#define DL_BACKEND_TEST_H

#include <stdlib.h>
#include "backend/backend.h"
#include "core/rng.h"

/* n floats of device memory (at least one); aborts the run when the
 * allocation fails */
static inline float *falloc(dl_backend *be, size_t n)
{
	float *p = be->ops->alloc(be, (n ? n : 1) * sizeof *p);
	if (!p)
		abort();
	return p;
}

/* conv2d_reserve for g, as the op contract asks before any conv op on it;
 * aborts the run when it fails (nothing can be tested then) */
static inline void conv_reserve(dl_backend *be, const dl_conv_geom *g)
{
	dl_err err;
	if (be->ops->conv2d_reserve && be->ops->conv2d_reserve(be, g, &err))
		abort();
}

/* uniform in [lo, hi) */
static inline void fill(dl_rng *r, float *p, size_t n, float lo, float hi)
{
	for (size_t i = 0; i < n; i++)
		p[i] = lo + (hi - lo) * dl_rng_uniform(r);
}

/* n host floats (at least one), uniform in [lo, hi); aborts the run when
 * the allocation fails */
static inline float *rand_range(dl_rng *r, size_t n, float lo, float hi)
{
	float *p = malloc((n ? n : 1) * sizeof *p);
	if (!p)
		abort();
	fill(r, p, n, lo, hi);
	return p;
}

/* the same in [-1, 1) */
static inline float *rand_floats(dl_rng *r, size_t n)
{
	return rand_range(r, n, -1, 1);
}

/* sum y[i] * r[i] in double: a scalar loss whose gradient is r */
static inline double dot(const float *y, const float *r, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)y[i] * r[i];
	return s;
}

#endif
