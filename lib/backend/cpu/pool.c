/* Max and average pooling, NHWC.  x [n,h,w,c] -> y [n,oh,ow,c]; window
 * (kh, kw), stride (sh, sw), padding pt/pl on top/left (bottom/right
 * padding is implied by oh/ow).  Max: padding cells never win; a window
 * with no input cell at all gives 0 and routes no gradient.  Average:
 * padding cells count as zeros (divisor kh*kw, PyTorch's
 * count_include_pad=True).  Threads split the batch: overlapping windows
 * of one image add into the same dx cells, and each image's sums are taken
 * in a fixed order, so results do not depend on the thread count. */
#include "backend/cpu/cpu.h"

#include <string.h>

#define POOL_BLOCK 16

typedef struct pool_job {
	const dl_pool_geom *g;
	const float *x, *y, *dy;
	float *out;
} pool_job;

/* The window of output (oy, ox), clipped to the image: rows [*y0, *y1),
 * columns [*x0, *x1). */
static void window(const dl_pool_geom *g, int oy, int ox, int *y0, int *y1, int *x0, int *x1)
{
	int iy = oy * g->sh - g->pt, ix = ox * g->sw - g->pl;
	*y0 = iy < 0 ? 0 : iy;
	*x0 = ix < 0 ? 0 : ix;
	*y1 = iy + g->kh < g->h ? iy + g->kh : g->h;
	*x1 = ix + g->kw < g->w ? ix + g->kw : g->w;
}

/* Channels [ch, ch + W) of one output cell; W is a constant after
 * inlining, and the work goes through local arrays so that it vectorises
 * (see act.c).  x is the image, the window rows [y0, y1) and columns
 * [x0, x1) are non-empty. */
static inline __attribute__((always_inline)) void
fwd_cell(const dl_pool_geom *g, const float *x, int y0, int y1, int x0, int x1,
	 size_t ch, int W, float *y)
{
	float m[POOL_BLOCK], v[POOL_BLOCK];
	const float *s = x + ((size_t)y0 * g->w + x0) * g->c + ch;
	for (int k = 0; k < W; k++)
		m[k] = s[k];
	for (int iy = y0; iy < y1; iy++) {
		for (int ix = x0; ix < x1; ix++) {
			s = x + ((size_t)iy * g->w + ix) * g->c + ch;
			for (int k = 0; k < W; k++)
				v[k] = s[k];
			for (int k = 0; k < W; k++)
				m[k] = v[k] > m[k] ? v[k] : m[k];
		}
	}
	for (int k = 0; k < W; k++)
		y[ch + k] = m[k];
}

/* The gradient g of each channel goes to the first cell (row-major) whose
 * x equals the forward max, then g is cleared so later ties add 0. */
static inline __attribute__((always_inline)) void
bwd_cell(const dl_pool_geom *g, const float *x, int y0, int y1, int x0, int x1,
	 size_t ch, int W, const float *y, const float *dy, float *dx)
{
	/* gr holds the bits of the gradient still to route; a select written
	 * as a bit mask, because GCC -O2 vectorises masks but not ?: here */
	float m[POOL_BLOCK], v[POOL_BLOCK], d[POOL_BLOCK];
	uint32_t gr[POOL_BLOCK];
	for (int k = 0; k < W; k++)
		m[k] = y[ch + k];
	memcpy(gr, dy + ch, (size_t)W * sizeof *gr);
	for (int iy = y0; iy < y1; iy++) {
		for (int ix = x0; ix < x1; ix++) {
			size_t o = ((size_t)iy * g->w + ix) * g->c + ch;
			for (int k = 0; k < W; k++) {
				v[k] = x[o + k];
				d[k] = dx[o + k];
			}
			for (int k = 0; k < W; k++) {
				uint32_t hit = 0u - (uint32_t)(v[k] == m[k]), tb = gr[k] & hit;
				float take;
				memcpy(&take, &tb, sizeof take);
				d[k] += take;
				gr[k] &= ~hit;
			}
			for (int k = 0; k < W; k++)
				dx[o + k] = d[k];
		}
	}
}

CPU_SIMD static void fwd_task(void *arg, int tid, int nt)
{
	const pool_job *j = arg;
	const dl_pool_geom *g = j->g;
	size_t c = (size_t)g->c, lo, hi;
	cpu_range((size_t)g->n, tid, nt, &lo, &hi);
	for (size_t img = lo; img < hi; img++) {
		const float *x = j->x + img * g->h * g->w * c;
		for (int oy = 0; oy < g->oh; oy++) {
			for (int ox = 0; ox < g->ow; ox++) {
				float *y = j->out + ((img * g->oh + oy) * g->ow + ox) * c;
				int y0, y1, x0, x1;
				window(g, oy, ox, &y0, &y1, &x0, &x1);
				if (y0 >= y1 || x0 >= x1) {
					memset(y, 0, c * sizeof *y);
					continue;
				}
				size_t ch = 0;
				for (; ch + POOL_BLOCK <= c; ch += POOL_BLOCK)
					fwd_cell(g, x, y0, y1, x0, x1, ch, POOL_BLOCK, y);
				for (; ch + 4 <= c; ch += 4)
					fwd_cell(g, x, y0, y1, x0, x1, ch, 4, y);
				for (; ch < c; ch++)
					fwd_cell(g, x, y0, y1, x0, x1, ch, 1, y);
			}
		}
	}
}

void cpu_maxpool_fwd(dl_backend *be, const dl_pool_geom *g, const float *x, float *y)
{
	pool_job j = { g, x, NULL, NULL, y };
	cpu_run_n(cpu_of(be), (size_t)g->n, 2, fwd_task, &j);
}

CPU_SIMD static void bwd_task(void *arg, int tid, int nt)
{
	const pool_job *j = arg;
	const dl_pool_geom *g = j->g;
	size_t c = (size_t)g->c, lo, hi, plane = (size_t)g->h * g->w * c;
	cpu_range((size_t)g->n, tid, nt, &lo, &hi);
	memset(j->out + lo * plane, 0, (hi - lo) * plane * sizeof(float));
	for (size_t img = lo; img < hi; img++) {
		const float *x = j->x + img * plane;
		float *dx = j->out + img * plane;
		for (int oy = 0; oy < g->oh; oy++) {
			for (int ox = 0; ox < g->ow; ox++) {
				size_t o = ((img * g->oh + oy) * g->ow + ox) * c;
				const float *y = j->y + o, *dy = j->dy + o;
				int y0, y1, x0, x1;
				window(g, oy, ox, &y0, &y1, &x0, &x1);
				size_t ch = 0;
				for (; ch + POOL_BLOCK <= c; ch += POOL_BLOCK)
					bwd_cell(g, x, y0, y1, x0, x1, ch, POOL_BLOCK, y, dy, dx);
				for (; ch + 4 <= c; ch += 4)
					bwd_cell(g, x, y0, y1, x0, x1, ch, 4, y, dy, dx);
				for (; ch < c; ch++)
					bwd_cell(g, x, y0, y1, x0, x1, ch, 1, y, dy, dx);
			}
		}
	}
}

void cpu_maxpool_bwd(dl_backend *be, const dl_pool_geom *g, const float *x,
		     const float *y, const float *dy, float *dx)
{
	pool_job j = { g, x, y, dy, dx };
	cpu_run_n(cpu_of(be), (size_t)g->n, 2, bwd_task, &j);
}

/* ---- average pooling ------------------------------------------------------ */

/* y[ch .. ch+W) = the mean of the window, W constant after inlining. */
static inline __attribute__((always_inline)) void
avg_fwd_cell(const dl_pool_geom *g, const float *x, int y0, int y1, int x0, int x1,
	     size_t ch, int W, float inv, float *y)
{
	float acc[POOL_BLOCK] = { 0 };
	for (int iy = y0; iy < y1; iy++) {
		for (int ix = x0; ix < x1; ix++) {
			const float *s = x + ((size_t)iy * g->w + ix) * g->c + ch;
			for (int k = 0; k < W; k++)
				acc[k] += s[k];
		}
	}
	for (int k = 0; k < W; k++)
		y[ch + k] = acc[k] * inv;
}

CPU_SIMD static void avg_fwd_task(void *arg, int tid, int nt)
{
	const pool_job *j = arg;
	const dl_pool_geom *g = j->g;
	size_t c = (size_t)g->c, lo, hi;
	float inv = 1.0f / ((float)g->kh * (float)g->kw);
	cpu_range((size_t)g->n, tid, nt, &lo, &hi);
	for (size_t img = lo; img < hi; img++) {
		const float *x = j->x + img * g->h * g->w * c;
		for (int oy = 0; oy < g->oh; oy++) {
			for (int ox = 0; ox < g->ow; ox++) {
				float *y = j->out + ((img * g->oh + oy) * g->ow + ox) * c;
				int y0, y1, x0, x1;
				window(g, oy, ox, &y0, &y1, &x0, &x1);
				size_t ch = 0;
				for (; ch + POOL_BLOCK <= c; ch += POOL_BLOCK)
					avg_fwd_cell(g, x, y0, y1, x0, x1, ch, POOL_BLOCK, inv, y);
				for (; ch + 4 <= c; ch += 4)
					avg_fwd_cell(g, x, y0, y1, x0, x1, ch, 4, inv, y);
				for (; ch < c; ch++)
					avg_fwd_cell(g, x, y0, y1, x0, x1, ch, 1, inv, y);
			}
		}
	}
}

void cpu_avgpool_fwd(dl_backend *be, const dl_pool_geom *g, const float *x, float *y)
{
	pool_job j = { g, x, NULL, NULL, y };
	cpu_run_n(cpu_of(be), (size_t)g->n, 2, avg_fwd_task, &j);
}

/* dx[window, ch .. ch+W) += dy[ch ..] * inv */
static inline __attribute__((always_inline)) void
avg_bwd_cell(const dl_pool_geom *g, int y0, int y1, int x0, int x1, size_t ch, int W,
	     float inv, const float *dy, float *dx)
{
	float v[POOL_BLOCK];
	for (int k = 0; k < W; k++)
		v[k] = dy[ch + k] * inv;
	for (int iy = y0; iy < y1; iy++) {
		for (int ix = x0; ix < x1; ix++) {
			float *d = dx + ((size_t)iy * g->w + ix) * g->c + ch;
			for (int k = 0; k < W; k++)
				d[k] += v[k];
		}
	}
}

CPU_SIMD static void avg_bwd_task(void *arg, int tid, int nt)
{
	const pool_job *j = arg;
	const dl_pool_geom *g = j->g;
	size_t c = (size_t)g->c, lo, hi, plane = (size_t)g->h * g->w * c;
	float inv = 1.0f / ((float)g->kh * (float)g->kw);
	cpu_range((size_t)g->n, tid, nt, &lo, &hi);
	memset(j->out + lo * plane, 0, (hi - lo) * plane * sizeof(float));
	for (size_t img = lo; img < hi; img++) {
		float *dx = j->out + img * plane;
		for (int oy = 0; oy < g->oh; oy++) {
			for (int ox = 0; ox < g->ow; ox++) {
				const float *dy = j->dy + ((img * g->oh + oy) * g->ow + ox) * c;
				int y0, y1, x0, x1;
				window(g, oy, ox, &y0, &y1, &x0, &x1);
				size_t ch = 0;
				for (; ch + POOL_BLOCK <= c; ch += POOL_BLOCK)
					avg_bwd_cell(g, y0, y1, x0, x1, ch, POOL_BLOCK, inv, dy, dx);
				for (; ch + 4 <= c; ch += 4)
					avg_bwd_cell(g, y0, y1, x0, x1, ch, 4, inv, dy, dx);
				for (; ch < c; ch++)
					avg_bwd_cell(g, y0, y1, x0, x1, ch, 1, inv, dy, dx);
			}
		}
	}
}

void cpu_avgpool_bwd(dl_backend *be, const dl_pool_geom *g, const float *dy, float *dx)
{
	pool_job j = { g, NULL, NULL, dy, dx };
	cpu_run_n(cpu_of(be), (size_t)g->n, 2, avg_bwd_task, &j);
}
