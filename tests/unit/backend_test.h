/* Helpers shared by the CPU backend op tests (test_backend_cpu*.c). */
#ifndef DL_BACKEND_TEST_H
#define DL_BACKEND_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include "backend/backend.h"
#include "backend/cpu/cpu.h"
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

/* The CPU backend on `threads` threads at precision prec ("fp32", "bf16")
 * with cpu_impl.conv_mode = mode; prints the error and aborts the run when
 * it cannot be opened (nothing can be tested then) */
static inline dl_backend *cpu_open_prec(int threads, const char *prec, int mode)
{
	dl_backend *be = NULL;
	dl_err err;
	if (dl_backend_cpu_open_prec(&be, threads, prec, &err)) {
		fprintf(stderr, "  cpu backend (%s): %s\n", prec, err.msg);
		abort();
	}
	cpu_of(be)->conv_mode = mode;
	return be;
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
