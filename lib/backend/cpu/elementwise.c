/* Elementwise ops of the graph layers: inverted dropout, y = a x + b y,
 * y = a + b (with a fused ReLU), and strided 2-D copies (channel concat).  Each thread takes a contiguous
 * range of elements (rows for copy2d) and every element is computed alone,
 * so the results do not depend on the thread count. */
#include "backend/cpu/cpu.h"

#include <string.h>

#define EW_MIN_PAR (1 << 16)

typedef struct ew_job {
	size_t n;
	const float *x, *x2;
	float *y;
	int relu;
	float a, b;
	uint64_t seed;
	int rows, cols, sld, dld, acc;
} ew_job;

/* mask from the counter hash of the element's index (backend.h) */
CPU_SIMD static void dropout_task(void *arg, int tid, int nt)
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

CPU_SIMD static void axpby_task(void *arg, int tid, int nt)
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

#define EW_BLOCK 16

/* y[0..W) = a + b (max(., 0) when R) through a local block: y may alias a
 * or b, and a fixed trip count over local memory vectorises the select */
static inline __attribute__((always_inline)) void
add2_block(const float *a, const float *b, float *y, int W, int R)
{
	float v[EW_BLOCK];
	for (int k = 0; k < W; k++)
		v[k] = a[k] + b[k];
	if (R)
		for (int k = 0; k < W; k++)
			v[k] = v[k] > 0 ? v[k] : 0;
	memcpy(y, v, (size_t)W * sizeof *v);
}

CPU_SIMD static void add2_task(void *arg, int tid, int nt)
{
	const ew_job *j = arg;
	size_t lo, hi, i;
	cpu_range(j->n, tid, nt, &lo, &hi);
	for (i = lo; i + EW_BLOCK <= hi; i += EW_BLOCK) {
		if (j->relu)
			add2_block(j->x + i, j->x2 + i, j->y + i, EW_BLOCK, 1);
		else
			add2_block(j->x + i, j->x2 + i, j->y + i, EW_BLOCK, 0);
	}
	if (i < hi)
		add2_block(j->x + i, j->x2 + i, j->y + i, (int)(hi - i), j->relu);
}

void cpu_add2(dl_backend *be, size_t n, const float *a, const float *b, int relu, float *y)
{
	ew_job j = { .n = n, .x = a, .x2 = b, .y = y, .relu = relu != 0 };
	cpu_run_n(cpu_of(be), n, EW_MIN_PAR, add2_task, &j);
}

CPU_SIMD static void copy2d_task(void *arg, int tid, int nt)
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
