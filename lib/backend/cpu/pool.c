/* Max pooling, NHWC.  x [n,h,w,c] -> y [n,oh,ow,c]; window (kh, kw),
 * stride (sh, sw), padding pt/pl on top/left (bottom/right padding is
 * implied by oh/ow).  Padding cells never win; a window with no input
 * cell at all gives 0 and routes no gradient.  Threads split the batch:
 * overlapping windows of one image add into the same dx cells. */
#include "backend/cpu/cpu.h"

#include <math.h>
#include <string.h>

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

static void fwd_task(void *arg, int tid, int nt)
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
				memcpy(y, x + ((size_t)y0 * g->w + x0) * c, c * sizeof *y);
				for (int iy = y0; iy < y1; iy++) {
					for (int ix = x0; ix < x1; ix++) {
						const float *s = x + ((size_t)iy * g->w + ix) * c;
						for (size_t i = 0; i < c; i++)
							y[i] = s[i] > y[i] ? s[i] : y[i];
					}
				}
			}
		}
	}
}

void cpu_maxpool_fwd(dl_backend *be, const dl_pool_geom *g, const float *x, float *y)
{
	pool_job j = { g, x, NULL, NULL, y };
	cpu_run_n(cpu_of(be), (size_t)g->n, 2, fwd_task, &j);
}

/* For each output cell and channel, the first window cell in row-major
 * scan order whose x equals the forward max gets dy. */
static void bwd_task(void *arg, int tid, int nt)
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
				for (size_t i = 0; i < c; i++) {
					for (int iy = y0; iy < y1; iy++) {
						size_t p = ((size_t)iy * g->w + x0) * c + i;
						int ix = x0;
						while (ix < x1 && x[p] != y[i]) {
							ix++;
							p += c;
						}
						if (ix < x1) {
							dx[p] += dy[i];
							break;
						}
					}
				}
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
