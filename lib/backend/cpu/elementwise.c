/* Elementwise ops of the graph layers: inverted dropout, y = a x + b y,
 * and strided 2-D copies (channel concat).  Each thread takes a contiguous
 * range of elements (rows for copy2d) and every element is computed alone,
 * so the results do not depend on the thread count. */
#include "backend/cpu/cpu.h"

#include <string.h>

#define EW_MIN_PAR (1 << 16)

typedef struct ew_job {
	size_t n;
	const float *x;
	float *y;
	float a, b;
	uint64_t seed;
	int rows, cols, sld, dld, acc;
} ew_job;

/* mask from the counter hash of the element's index (backend.h) */
static void dropout_task(void *arg, int tid, int nt)
{
	const ew_job *j = arg;
	size_t lo, hi;
	cpu_range(j->n, tid, nt, &lo, &hi);
	for (size_t i = lo; i < hi; i++)
		j->y[i] = dl_hash_uniform(j->seed, i) >= j->a ? j->x[i] * j->b : 0.0f;
}

void cpu_dropout(dl_backend *be, size_t n, const float *x, float *y, float p, uint64_t seed)
{
	ew_job j = { .n = n, .x = x, .y = y, .a = p, .b = 1.0f / (1.0f - p), .seed = seed };
	cpu_run_n(cpu_of(be), n, EW_MIN_PAR, dropout_task, &j);
}

static void axpby_task(void *arg, int tid, int nt)
{
	const ew_job *j = arg;
	size_t lo, hi;
	cpu_range(j->n, tid, nt, &lo, &hi);
	float a = j->a, b = j->b;
	const float *x = j->x;
	float *y = j->y;
	if (b == 0.0f) {
		for (size_t i = lo; i < hi; i++)
			y[i] = a * x[i];
	} else if (a == 1.0f && b == 1.0f) {
		for (size_t i = lo; i < hi; i++)
			y[i] += x[i];
	} else {
		for (size_t i = lo; i < hi; i++)
			y[i] = a * x[i] + b * y[i];
	}
}

void cpu_axpby(dl_backend *be, size_t n, float alpha, const float *x, float beta, float *y)
{
	ew_job j = { .n = n, .x = x, .y = y, .a = alpha, .b = beta };
	cpu_run_n(cpu_of(be), n, EW_MIN_PAR, axpby_task, &j);
}

static void copy2d_task(void *arg, int tid, int nt)
{
	const ew_job *j = arg;
	size_t lo, hi;
	cpu_range((size_t)j->rows, tid, nt, &lo, &hi);
	for (size_t r = lo; r < hi; r++) {
		const float *s = j->x + r * (size_t)j->sld;
		float *d = j->y + r * (size_t)j->dld;
		if (j->acc)
			for (int k = 0; k < j->cols; k++)
				d[k] += s[k];
		else
			memcpy(d, s, (size_t)j->cols * sizeof(float));
	}
}

void cpu_copy2d(dl_backend *be, int rows, int cols, const float *src, int sld, float *dst,
		int dld, int acc)
{
	ew_job j = { .x = src, .y = dst, .rows = rows, .cols = cols, .sld = sld, .dld = dld,
		     .acc = acc };
	cpu_run_n(cpu_of(be), (size_t)rows * (size_t)cols, EW_MIN_PAR, copy2d_task, &j);
}
