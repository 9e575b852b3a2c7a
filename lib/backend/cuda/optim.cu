/* Fused optimizer updates over the flat parameter block, the sum of
 * squares and the clip scale of gradient clipping.  The update formulas
 * are the CPU reference's (lib/backend/cpu/optim.c), term for term. */
#include "backend/cuda/cuda.h"

#define GRID_LOOP(i, n) \
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
	     i += (size_t)gridDim.x * blockDim.x)

__global__ void sgd_k(size_t n, float *p, const float *g, float *v, float lr, float momentum,
		      float wd, int nesterov)
{
	GRID_LOOP(i, n) {
		float d = g[i] + wd * p[i];
		if (momentum == 0) {
			p[i] -= lr * d;
			continue;
		}
		float vi = momentum * v[i] + d;
		v[i] = vi;
		p[i] -= lr * (nesterov ? d + momentum * vi : vi);
	}
}

void cu_sgd_update(dl_backend *be, size_t n, float *p, const float *g, float *v, float lr,
		   float momentum, float wd, int nesterov)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "sgd_update");
	if (!n)
		return;
	sgd_k<<<cu_blocks(n, CU_T), CU_T, 0, im->stream>>>(n, p, g, v, lr, momentum, wd,
								   nesterov);
	CU_LAUNCHED();
}

__global__ void adam_k(size_t n, float *p, const float *g, float *m, float *v, float lr,
		       float b1, float b2, float eps, float wd, int decoupled, float bc1,
		       float bc2)
{
	GRID_LOOP(i, n) {
		float gi = decoupled ? g[i] : g[i] + wd * p[i];
		float w = decoupled ? wd : 0.0f;
		float mi = b1 * m[i] + (1 - b1) * gi;
		float vi = b2 * v[i] + (1 - b2) * gi * gi;
		m[i] = mi;
		v[i] = vi;
		p[i] -= lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps) + w * p[i]);
	}
}

void cu_adam_update(dl_backend *be, size_t n, float *p, const float *g, float *m, float *v,
		    float lr, float b1, float b2, float eps, float wd, int decoupled, float bc1,
		    float bc2)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "adam_update");
	if (!n)
		return;
	adam_k<<<cu_blocks(n, CU_T), CU_T, 0, im->stream>>>(n, p, g, m, v, lr, b1, b2, eps,
								    wd, decoupled, bc1, bc2);
	CU_LAUNCHED();
}

#define SB 256        /* threads per block of sumsq */
#define SBLOCKS 1024  /* fixed block count: the same partials every run */

__global__ void sumsq_k(size_t n, const float *x, double *part)
{
	__shared__ double sh[SB];
	double s = 0;
	for (size_t i = blockIdx.x * (size_t)SB + threadIdx.x; i < n; i += (size_t)gridDim.x * SB)
		s += (double)x[i] * x[i];
	sh[threadIdx.x] = s;
	__syncthreads();
	for (int w = SB / 2; w > 0; w /= 2) {
		if ((int)threadIdx.x < w)
			sh[threadIdx.x] += sh[threadIdx.x + w];
		__syncthreads();
	}
	if (threadIdx.x == 0)
		part[blockIdx.x] = sh[0];
}

/* out[0] = sum x^2 (written) */
void cu_sumsq(dl_backend *be, size_t n, const float *x, float *out)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "sumsq");
	unsigned blocks = cu_blocks(n, SB);
	if (blocks > SBLOCKS)
		blocks = SBLOCKS;
	double *part = (double *)cu_scratch(im, (size_t)blocks * sizeof(double));
	if (!part)
		return;
	sumsq_k<<<blocks, SB, 0, im->stream>>>(n, x, part);
	CU_LAUNCHED();
	cu_sum_to_scalar(im, part, (int)blocks, 1, out, 0);
}

/* x *= min(1, max_norm / (sqrt(sumsq) + 1e-6)), the scale read on the
 * device; a NaN coefficient (a NaN or Inf norm) scales by NaN as the CPU
 * does, so divergence shows instead of an unclipped step. */
__global__ void clip_k(size_t n, float *x, const float *sumsq, float max_norm)
{
	float c = max_norm / (sqrtf(*sumsq) + 1e-6f);
	if (!(c < 1.0f) && !isnan(c))
		return;
	GRID_LOOP(i, n)
		x[i] *= c;
}

void cu_clip_scale(dl_backend *be, size_t n, float *x, const float *sumsq, float max_norm)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "clip_scale");
	if (!n)
		return;
	clip_k<<<cu_blocks(n, CU_T), CU_T, 0, im->stream>>>(n, x, sumsq, max_norm);
	CU_LAUNCHED();
}
