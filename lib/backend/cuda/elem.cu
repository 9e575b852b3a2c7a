/* Elementwise ops: activations, dropout, axpby, add2, copy2d.  Grid-stride loops,
 * one element per thread per step (memory-bound: coalesced 4-byte
 * accesses; vectorising to 16 bytes is a later tuning step). */
#include "backend/cuda/cuda.h"

#define GRID_LOOP(i, n) \
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
	     i += (size_t)gridDim.x * blockDim.x)

__device__ static float act_f(dl_act_kind k, float alpha, float x)
{
	switch (k) {
	case DL_ACT_RELU:
		return x > 0 ? x : 0.0f;
	case DL_ACT_LEAKY_RELU:
		return x > 0 ? x : alpha * x;
	case DL_ACT_TANH:
		return tanhf(x);
	case DL_ACT_SIGMOID:
		return 1.0f / (1.0f + expf(-x));
	case DL_ACT_GELU:
		return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
	case DL_ACT_HARDSWISH:
		return x * fminf(fmaxf(x + 3.0f, 0.0f), 6.0f) / 6.0f;
	}
	return x;
}

/* f'(x) dy from x or y = f(x), reading what the CPU reference reads
 * (ops.h): relu, tanh and sigmoid read y only; leaky relu, gelu and
 * hardswish read x only (y may be NULL).  Leaky relu tests x > 0: y > 0 is
 * wrong for a negative slope, where y = alpha x > 0 when x < 0. */
__device__ static float act_df(dl_act_kind k, float alpha, const float *x, const float *y,
			       size_t i, float d)
{
	switch (k) {
	case DL_ACT_RELU:
		return y[i] > 0 ? d : 0.0f;
	case DL_ACT_LEAKY_RELU:
		return x[i] > 0 ? d : alpha * d;
	case DL_ACT_TANH: {
		float t = y[i];
		return d * (1.0f - t * t);
	}
	case DL_ACT_SIGMOID: {
		float s = y[i];
		return d * s * (1.0f - s);
	}
	case DL_ACT_GELU: {
		float v = x[i];
		float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
		float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
		return d * (cdf + v * pdf);
	}
	case DL_ACT_HARDSWISH: {
		float v = x[i];
		return v < -3.0f ? 0.0f : v <= 3.0f ? d * (v / 3.0f + 0.5f) : d;
	}
	}
	return d;
}

__global__ void act_fwd_k(dl_act_kind k, float alpha, size_t n, const float *x, float *y)
{
	GRID_LOOP(i, n)
		y[i] = act_f(k, alpha, x[i]);
}

__global__ void act_bwd_k(dl_act_kind k, float alpha, size_t n, const float *x, const float *y,
			  const float *dy, float *dx)
{
	GRID_LOOP(i, n)
		dx[i] = act_df(k, alpha, x, y, i, dy[i]);
}

void cu_act_fwd(dl_backend *be, dl_act_kind k, float alpha, size_t n, const float *x, float *y)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "act_fwd");
	if (!n)
		return;
	act_fwd_k<<<cu_blocks(n, CU_T), CU_T, 0, im->stream>>>(k, alpha, n, x, y);
	CU_LAUNCHED();
}

void cu_act_bwd(dl_backend *be, dl_act_kind k, float alpha, size_t n, const float *x,
		const float *y, const float *dy, float *dx)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "act_bwd");
	if (!n)
		return;
	act_bwd_k<<<cu_blocks(n, CU_T), CU_T, 0, im->stream>>>(k, alpha, n, x, y, dy, dx);
	CU_LAUNCHED();
}

/* The keep/drop choice is dl_hash_uniform(seed, i) >= p, the same integer
 * hash as every backend, so masks equal the CPU's bit for bit. */
__global__ void dropout_k(size_t n, const float *x, float *y, float p, uint64_t seed)
{
	float keep = 1.0f - p;
	GRID_LOOP(i, n)
		y[i] = dl_hash_uniform(seed, i) >= p ? x[i] / keep : 0.0f;
}

void cu_dropout(dl_backend *be, size_t n, const float *x, float *y, float p, uint64_t seed)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "dropout");
	if (!n)
		return;
	dropout_k<<<cu_blocks(n, CU_T), CU_T, 0, im->stream>>>(n, x, y, p, seed);
	CU_LAUNCHED();
}

__global__ void axpby_k(size_t n, float alpha, const float *x, float beta, float *y)
{
	if (beta == 0) {
		GRID_LOOP(i, n)
			y[i] = alpha * x[i];
	} else {
		GRID_LOOP(i, n)
			y[i] = alpha * x[i] + beta * y[i];
	}
}

__global__ void add2_k(size_t n, const float *a, const float *b, int relu, float *y)
{
	GRID_LOOP(i, n) {
		float v = a[i] + b[i];
		y[i] = relu && !(v > 0) ? 0.0f : v;
	}
}

void cu_add2(dl_backend *be, size_t n, const float *a, const float *b, int relu, float *y)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "add2");
	if (!n)
		return;
	add2_k<<<cu_blocks(n, CU_T), CU_T, 0, im->stream>>>(n, a, b, relu, y);
	CU_LAUNCHED();
}

void cu_axpby(dl_backend *be, size_t n, float alpha, const float *x, float beta, float *y)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "axpby");
	if (!n)
		return;
	axpby_k<<<cu_blocks(n, CU_T), CU_T, 0, im->stream>>>(n, alpha, x, beta, y);
	CU_LAUNCHED();
}

__global__ void copy2d_k(size_t total, int cols, const float *src, int sld, float *dst, int dld,
			 int acc)
{
	GRID_LOOP(i, total) {
		size_t r = i / (size_t)cols, j = i % (size_t)cols;
		float v = src[r * (size_t)sld + j];
		float *d = dst + r * (size_t)dld + j;
		*d = acc ? *d + v : v;
	}
}

void cu_copy2d(dl_backend *be, int rows, int cols, const float *src, int sld, float *dst,
	       int dld, int acc)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "copy2d");
	size_t total = rows > 0 && cols > 0 ? (size_t)rows * (size_t)cols : 0;
	if (!total)
		return;
	copy2d_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(total, cols, src, sld, dst,
									  dld, acc);
	CU_LAUNCHED();
}
