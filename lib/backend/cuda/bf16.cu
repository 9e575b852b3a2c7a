/* Conversions between fp32 and bf16 for --precision bf16 (blas.cu, conv.cu).
 *
 * Tensors stay fp32 in the backend's memory, as the ops' contract has them;
 * a gemm or convolution in bf16 rounds its operands into the workspace with
 * cu_to_bf16, runs cuBLAS / cuDNN on them with fp32 accumulation, and, where
 * the library writes bf16 (cuDNN's legacy API wants x, w and y of one type),
 * widens the result back with cu_from_bf16.  The rounding is the hardware's
 * round-to-nearest-even, so a run repeats bit for bit. */
#include "backend/cuda/cuda.h"

#include <cuda_bf16.h>

__global__ void to_bf16_k(const float *src, size_t cols, size_t ld, size_t total,
			  __nv_bfloat16 *dst)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x)
		dst[i] = __float2bfloat16_rn(src[i / cols * ld + i % cols]);
}

void cu_to_bf16(cu_impl *im, const float *src, size_t rows, size_t cols, size_t ld, void *dst)
{
	size_t total = rows * cols;
	if (!total)
		return;
	to_bf16_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(src, cols, ld, total,
								  (__nv_bfloat16 *)dst);
	CU_LAUNCHED();
}

__global__ void from_bf16_k(const __nv_bfloat16 *src, size_t n, float *dst, int acc)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x) {
		float v = __bfloat162float(src[i]);
		dst[i] = acc ? dst[i] + v : v;
	}
}

void cu_from_bf16(cu_impl *im, const void *src, size_t n, float *dst, int acc)
{
	if (!n)
		return;
	from_bf16_k<<<cu_blocks(n, CU_T), CU_T, 0, im->stream>>>((const __nv_bfloat16 *)src, n,
								 dst, acc);
	CU_LAUNCHED();
}
