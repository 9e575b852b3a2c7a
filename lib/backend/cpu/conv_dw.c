/* Depthwise convolution (groups = c = k), direct loops, NHWC.
 *
 * As per-group sgemms (conv.c) a depthwise conv is c tiny products of
 * [rows, kh*kw] by [kh*kw, 1], 30-40x slower than this.  Here every output
 * pixel is a sum over taps of x[in_pixel, :] * wt[tap, :], a vector over
 * channels, with the weights [c, kh, kw, 1] transposed once per call to
 * wt [kh*kw, c] so that both operands are contiguous in the channel.
 *
 * fwd splits output rows over threads; bwd_data splits images (the taps
 * of neighbouring pixels add into the same dx cells); bwd_filter gives
 * each thread a partial [kh*kw, c] (+ db [c]) in its scratch, added into
 * dw in thread order, so results depend on the thread count only.
 */
#include "backend/cpu/cpu.h"

#include <string.h>

typedef struct dw_job {
	const dl_conv_geom *g;
	const float *x, *wt, *b, *dy;
	float *y, *dx;
	cpu_scratch *scratch;
} dw_job;

int cpu_conv_is_depthwise(const dl_conv_geom *g)
{
	return g->c > 1 && g->groups == g->c && g->k == g->c;
}

static int taps(const dl_conv_geom *g)
{
	return g->kh * g->kw;
}

/* Input pixel index (within the batch) of tap (ky, kx) for output row r,
 * or -1 when it falls in the padding. */
static long tap_pixel(const dl_conv_geom *g, size_t img, int oy, int ox, int ky, int kx)
{
	int dh = g->dh > 1 ? g->dh : 1, dw = g->dw > 1 ? g->dw : 1;
	int iy = oy * g->sh - g->pt + ky * dh, ix = ox * g->sw - g->pl + kx * dw;
	if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
		return -1;
	return (long)((img * g->h + iy) * g->w + ix);
}

void cpu_conv_dw_needs(const dl_conv_geom *g, size_t *col, size_t *part)
{
	*col = (size_t)taps(g) * g->c;         /* transposed weights */
	*part = (size_t)taps(g) * g->c + g->c; /* partial dw [T, c] + db [c] */
}

/* Checks that conv2d_reserve gave every thread `col` and `part` floats:
 * 0, or -1 with the fault recorded for the error op (a caller bug). */
static int dw_scratch(cpu_impl *im, const char *op, size_t col, size_t part)
{
	for (int t = 0; t < im->nt; t++)
		if (im->scratch[t].col_cap < col || (part && im->scratch[t].part_cap < part))
			return cpu_fault(im, op, "depthwise convolution without conv2d_reserve "
					 "for its geometry (a caller bug)");
	return 0;
}

/* y[ch0 .. ch0+W) of output row r: the taps summed in a local array (W
 * constant after inlining), so the sum stays in vector registers. */
static inline __attribute__((always_inline)) void
dw_fwd_block(const dw_job *j, size_t img, int oy, int ox, size_t ch0, int W, float *y)
{
	const dl_conv_geom *g = j->g;
	size_t c = (size_t)g->c;
	float acc[16];
	for (int k = 0; k < W; k++)
		acc[k] = j->b ? j->b[ch0 + k] : 0.0f;
	for (int ky = 0; ky < g->kh; ky++)
		for (int kx = 0; kx < g->kw; kx++) {
			long p = tap_pixel(g, img, oy, ox, ky, kx);
			if (p < 0)
				continue;
			const float *xp = j->x + (size_t)p * c + ch0;
			const float *wp = j->wt + ((size_t)ky * g->kw + kx) * c + ch0;
			for (int k = 0; k < W; k++)
				acc[k] += xp[k] * wp[k];
		}
	for (int k = 0; k < W; k++)
		y[ch0 + k] = acc[k];
}

CPU_SIMD static void dw_fwd_task(void *arg, int tid, int nt)
{
	const dw_job *j = arg;
	const dl_conv_geom *g = j->g;
	size_t c = (size_t)g->c, P = (size_t)g->oh * g->ow, lo, hi;
	cpu_range((size_t)g->n * P, tid, nt, &lo, &hi);
	for (size_t r = lo; r < hi; r++) {
		size_t img = r / P, ch = 0;
		int oy = (int)(r % P / g->ow), ox = (int)(r % P % g->ow);
		float *y = j->y + r * c;
		for (; ch + 16 <= c; ch += 16)
			dw_fwd_block(j, img, oy, ox, ch, 16, y);
		for (; ch + 4 <= c; ch += 4)
			dw_fwd_block(j, img, oy, ox, ch, 4, y);
		for (; ch < c; ch++)
			dw_fwd_block(j, img, oy, ox, ch, 1, y);
	}
}

/* wt [T, c] = w [c, T] transposed, into the caller's scratch */
static const float *transpose_w(cpu_impl *im, const dl_conv_geom *g, const float *w)
{
	size_t c = (size_t)g->c, T = (size_t)taps(g);
	float *wt = im->scratch[0].col;
	for (size_t ch = 0; ch < c; ch++)
		for (size_t t = 0; t < T; t++)
			wt[t * c + ch] = w[ch * T + t];
	return wt;
}

void cpu_conv_dw_fwd(dl_backend *be, const dl_conv_geom *g, const float *x, const float *w,
		     const float *b, float *y)
{
	cpu_impl *im = cpu_of(be);
	if (dw_scratch(im, "conv2d_fwd", (size_t)taps(g) * g->c, 0))
		return;
	dw_job j = { .g = g, .x = x, .b = b, .y = y, .scratch = im->scratch };
	j.wt = transpose_w(im, g, w);
	cpu_run_n(im, (size_t)g->n * g->oh * g->ow, 64, dw_fwd_task, &j);
}

CPU_SIMD static void dw_bwd_data_task(void *arg, int tid, int nt)
{
	const dw_job *j = arg;
	const dl_conv_geom *g = j->g;
	size_t c = (size_t)g->c, P = (size_t)g->oh * g->ow, plane = (size_t)g->h * g->w * c;
	size_t lo, hi;
	cpu_range((size_t)g->n, tid, nt, &lo, &hi);
	memset(j->dx + lo * plane, 0, (hi - lo) * plane * sizeof(float));
	for (size_t r = lo * P; r < hi * P; r++) {
		size_t img = r / P;
		int oy = (int)(r % P / g->ow), ox = (int)(r % P % g->ow);
		const float *dy = j->dy + r * c;
		for (int ky = 0; ky < g->kh; ky++)
			for (int kx = 0; kx < g->kw; kx++) {
				long p = tap_pixel(g, img, oy, ox, ky, kx);
				if (p < 0)
					continue;
				float *dxp = j->dx + (size_t)p * c;
				const float *wp = j->wt + ((size_t)ky * g->kw + kx) * c;
				for (size_t ch = 0; ch < c; ch++)
					dxp[ch] += dy[ch] * wp[ch];
			}
	}
}

void cpu_conv_dw_bwd_data(dl_backend *be, const dl_conv_geom *g, const float *dy,
			  const float *w, float *dx)
{
	cpu_impl *im = cpu_of(be);
	if (dw_scratch(im, "conv2d_bwd_data", (size_t)taps(g) * g->c, 0))
		return;
	dw_job j = { .g = g, .dy = dy, .dx = dx, .scratch = im->scratch };
	j.wt = transpose_w(im, g, w);
	cpu_run_n(im, (size_t)g->n, 2, dw_bwd_data_task, &j);
}

/* part [T*c] += x taps * dy, part[T*c ..] += dy (db), rows of this thread */
CPU_SIMD static void dw_bwd_filter_task(void *arg, int tid, int nt)
{
	const dw_job *j = arg;
	const dl_conv_geom *g = j->g;
	size_t c = (size_t)g->c, T = (size_t)taps(g), P = (size_t)g->oh * g->ow, lo, hi;
	float *part = j->scratch[tid].part, *pdb = part + T * c;
	memset(part, 0, (T * c + c) * sizeof *part);
	cpu_range((size_t)g->n * P, tid, nt, &lo, &hi);
	for (size_t r = lo; r < hi; r++) {
		size_t img = r / P;
		int oy = (int)(r % P / g->ow), ox = (int)(r % P % g->ow);
		const float *dy = j->dy + r * c;
		for (int ky = 0; ky < g->kh; ky++)
			for (int kx = 0; kx < g->kw; kx++) {
				long p = tap_pixel(g, img, oy, ox, ky, kx);
				if (p < 0)
					continue;
				const float *xp = j->x + (size_t)p * c;
				float *pp = part + ((size_t)ky * g->kw + kx) * c;
				for (size_t ch = 0; ch < c; ch++)
					pp[ch] += xp[ch] * dy[ch];
			}
		for (size_t ch = 0; ch < c; ch++)
			pdb[ch] += dy[ch];
	}
}

void cpu_conv_dw_bwd_filter(dl_backend *be, const dl_conv_geom *g, const float *x,
			    const float *dy, float *dw, float *db)
{
	cpu_impl *im = cpu_of(be);
	size_t c = (size_t)g->c, T = (size_t)taps(g), M = (size_t)g->n * g->oh * g->ow;
	if (dw_scratch(im, "conv2d_bwd_filter", 1, T * c + c))
		return;
	dw_job j = { .g = g, .x = x, .dy = dy, .scratch = im->scratch };
	int nparts = M >= 64 ? im->nt : 1;
	if (nparts > 1)
		cpu_run(im, dw_bwd_filter_task, &j);
	else
		dw_bwd_filter_task(&j, 0, 1);
	/* dw [c, T] (+ db) += the partials [T, c], in thread order */
	for (int t = 0; t < nparts; t++) {
		const float *part = im->scratch[t].part;
		for (size_t ch = 0; ch < c; ch++)
			for (size_t k = 0; k < T; k++)
				dw[ch * T + k] += part[k * c + ch];
		if (db)
			for (size_t ch = 0; ch < c; ch++)
				db[ch] += part[T * c + ch];
	}
}
