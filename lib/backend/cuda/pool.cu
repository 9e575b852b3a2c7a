/* Max and average pooling, NHWC, as our own kernels rather than cuDNN's:
 * the contract's semantics (padding never wins a max, the gradient goes to
 * the FIRST max of a window, average divisor kh*kw with padding counted,
 * top/left padding only with oh/ow given) are not all expressible with
 * cudnnPoolingDescriptor, and the kernels are memory-bound anyway.
 *
 * Forward: one thread per output element.  Backward: one thread per input
 * element, which gathers from the windows that cover it in output order,
 * so no atomics and the same additions as the CPU reference. */
#include "backend/cuda/cuda.h"

/* The output rows [*lo, *hi) whose windows cover input row i
 * (oy * s - p <= i < oy * s - p + k), clipped to [0, o). */
__device__ static void covering(int i, int k, int s, int p, int o, int *lo, int *hi)
{
	int t = i + p - k + 1;   /* oy * s >= t */
	*lo = t <= 0 ? 0 : (t + s - 1) / s;
	*hi = (i + p) / s + 1;
	if (*hi > o)
		*hi = o;
}

__global__ void maxpool_fwd_k(dl_pool_geom g, const float *x, float *y, size_t total)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x) {
		size_t r = i / (size_t)g.c;
		int ch = (int)(i % (size_t)g.c);
		int ox = (int)(r % (size_t)g.ow);
		r /= (size_t)g.ow;
		int oy = (int)(r % (size_t)g.oh);
		size_t img = r / (size_t)g.oh;
		int iy = oy * g.sh - g.pt, ix = ox * g.sw - g.pl;
		int y0 = max(iy, 0), x0 = max(ix, 0);
		int y1 = min(iy + g.kh, g.h), x1 = min(ix + g.kw, g.w);
		if (y0 >= y1 || x0 >= x1) {
			y[i] = 0;
			continue;
		}
		const float *xi = x + img * g.h * g.w * g.c + ch;
		float m = xi[((size_t)y0 * g.w + x0) * g.c];
		for (int yy = y0; yy < y1; yy++)
			for (int xx = x0; xx < x1; xx++) {
				float v = xi[((size_t)yy * g.w + xx) * g.c];
				m = v > m ? v : m;
			}
		y[i] = m;
	}
}

__global__ void maxpool_bwd_k(dl_pool_geom g, const float *x, const float *y, const float *dy,
			      float *dx, size_t total)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x) {
		size_t r = i / (size_t)g.c;
		int ch = (int)(i % (size_t)g.c);
		int px = (int)(r % (size_t)g.w);
		r /= (size_t)g.w;
		int py = (int)(r % (size_t)g.h);
		size_t img = r / (size_t)g.h;
		const float *xi = x + img * g.h * g.w * g.c + ch;
		int oy0, oy1, ox0, ox1;
		covering(py, g.kh, g.sh, g.pt, g.oh, &oy0, &oy1);
		covering(px, g.kw, g.sw, g.pl, g.ow, &ox0, &ox1);
		float d = 0;
		for (int oy = oy0; oy < oy1; oy++)
			for (int ox = ox0; ox < ox1; ox++) {
				size_t o = ((img * g.oh + oy) * g.ow + ox) * g.c + ch;
				float m = y[o];
				int iy = oy * g.sh - g.pt, ix = ox * g.sw - g.pl;
				int y0 = max(iy, 0), x0 = max(ix, 0);
				int y1 = min(iy + g.kh, g.h), x1 = min(ix + g.kw, g.w);
				/* the first cell (row-major) equal to the max takes it */
				int hit = 0;
				for (int yy = y0; yy < y1 && !hit; yy++)
					for (int xx = x0; xx < x1; xx++)
						if (xi[((size_t)yy * g.w + xx) * g.c] == m) {
							hit = 1 + (yy == py && xx == px);
							break;
						}
				if (hit == 2)
					d += dy[o];
			}
		dx[i] = d;
	}
}

__global__ void avgpool_fwd_k(dl_pool_geom g, const float *x, float *y, size_t total)
{
	float inv = 1.0f / (float)(g.kh * g.kw);
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x) {
		size_t r = i / (size_t)g.c;
		int ch = (int)(i % (size_t)g.c);
		int ox = (int)(r % (size_t)g.ow);
		r /= (size_t)g.ow;
		int oy = (int)(r % (size_t)g.oh);
		size_t img = r / (size_t)g.oh;
		int iy = oy * g.sh - g.pt, ix = ox * g.sw - g.pl;
		int y0 = max(iy, 0), x0 = max(ix, 0);
		int y1 = min(iy + g.kh, g.h), x1 = min(ix + g.kw, g.w);
		const float *xi = x + img * g.h * g.w * g.c + ch;
		float s = 0;
		for (int yy = y0; yy < y1; yy++)
			for (int xx = x0; xx < x1; xx++)
				s += xi[((size_t)yy * g.w + xx) * g.c];
		y[i] = s * inv;
	}
}

__global__ void avgpool_bwd_k(dl_pool_geom g, const float *dy, float *dx, size_t total)
{
	float inv = 1.0f / (float)(g.kh * g.kw);
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x) {
		size_t r = i / (size_t)g.c;
		int ch = (int)(i % (size_t)g.c);
		int px = (int)(r % (size_t)g.w);
		r /= (size_t)g.w;
		int py = (int)(r % (size_t)g.h);
		size_t img = r / (size_t)g.h;
		int oy0, oy1, ox0, ox1;
		covering(py, g.kh, g.sh, g.pt, g.oh, &oy0, &oy1);
		covering(px, g.kw, g.sw, g.pl, g.ow, &ox0, &ox1);
		float d = 0;
		for (int oy = oy0; oy < oy1; oy++)
			for (int ox = ox0; ox < ox1; ox++)
				d += dy[((img * g.oh + oy) * g.ow + ox) * g.c + ch];
		dx[i] = d * inv;
	}
}

void cu_maxpool_fwd(dl_backend *be, const dl_pool_geom *g, const float *x, float *y)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "maxpool_fwd");
	size_t total = (size_t)g->n * g->oh * g->ow * g->c;
	if (!total)
		return;
	maxpool_fwd_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(*g, x, y, total);
	CU_LAUNCHED();
}

void cu_maxpool_bwd(dl_backend *be, const dl_pool_geom *g, const float *x, const float *y,
		    const float *dy, float *dx)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "maxpool_bwd");
	size_t total = (size_t)g->n * g->h * g->w * g->c;
	if (!total)
		return;
	maxpool_bwd_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(*g, x, y, dy, dx,
									       total);
	CU_LAUNCHED();
}

void cu_avgpool_fwd(dl_backend *be, const dl_pool_geom *g, const float *x, float *y)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "avgpool_fwd");
	size_t total = (size_t)g->n * g->oh * g->ow * g->c;
	if (!total)
		return;
	avgpool_fwd_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(*g, x, y, total);
	CU_LAUNCHED();
}

void cu_avgpool_bwd(dl_backend *be, const dl_pool_geom *g, const float *dy, float *dx)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "avgpool_bwd");
	size_t total = (size_t)g->n * g->h * g->w * g->c;
	if (!total)
		return;
	avgpool_bwd_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(*g, dy, dx, total);
	CU_LAUNCHED();
}
