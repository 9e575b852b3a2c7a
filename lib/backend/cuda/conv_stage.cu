/* The element-wise kernels of the convolutions' staging (conv.cu): the
 * input padded explicitly for an asymmetric padding and/or rounded to bf16
 * (--precision bf16), and the data gradient cropped and/or widened back. */
#include "backend/cuda/cuda.h"

#include <cuda_bf16.h>

/* xp = x as the descriptor wants it, every element written: with a zero
 * border [n, h+pt+pb, w+pl+pr, c] when `border`, else the same shape; in
 * T (float or bf16). */
template <class T>
__global__ void stage_x_k(const float *x, T *xp, dl_conv_geom g, size_t total, int border)
{
	int hp = g.h + g.pt + g.pb, wp = g.w + g.pl + g.pr;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x) {
		if (!border) {
			xp[i] = (T)x[i];
			continue;
		}
		size_t r = i / (size_t)g.c;
		int ch = (int)(i % (size_t)g.c);
		int px = (int)(r % (size_t)wp) - g.pl;
		r /= (size_t)wp;
		int py = (int)(r % (size_t)hp) - g.pt;
		size_t img = r / (size_t)hp;
		xp[i] = (T)(py >= 0 && py < g.h && px >= 0 && px < g.w
				    ? x[((img * g.h + py) * g.w + px) * g.c + ch]
				    : 0.0f);
	}
}

/* dx [n,h,w,c] = dxp (T), cropped from [n, h+pt+pb, w+pl+pr, c] when
 * `border` (the inverse of stage_x_k) */
template <class T>
__global__ void unstage_dx_k(const T *dxp, float *dx, dl_conv_geom g, size_t total, int border)
{
	int hp = g.h + g.pt + g.pb, wp = g.w + g.pl + g.pr;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x) {
		if (!border) {
			dx[i] = (float)dxp[i];
			continue;
		}
		size_t r = i / (size_t)g.c;
		int ch = (int)(i % (size_t)g.c);
		int x = (int)(r % (size_t)g.w);
		r /= (size_t)g.w;
		int y = (int)(r % (size_t)g.h);
		size_t img = r / (size_t)g.h;
		dx[i] = (float)dxp[((img * hp + y + g.pt) * wp + x + g.pl) * g.c + ch];
	}
}

void cu_conv_stage_x(cu_impl *im, const float *x, void *xp, const dl_conv_geom &g, size_t total,
		     int border, int bf16)
{
	if (bf16)
		stage_x_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(x, (__nv_bfloat16 *)xp, g,
									   total, border);
	else
		stage_x_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(x, (float *)xp, g, total,
									   border);
	CU_LAUNCHED();
}

void cu_conv_unstage_dx(cu_impl *im, const void *dxp, float *dx, const dl_conv_geom &g,
			size_t total, int border, int bf16)
{
	if (bf16)
		unstage_dx_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(
			(const __nv_bfloat16 *)dxp, dx, g, total, border);
	else
		unstage_dx_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>((const float *)dxp, dx,
									      g, total, border);
	CU_LAUNCHED();
}
