/* gemm (cuBLAS), bias_add, bias_grad, and the fixed-order scalar sum the
 * loss and reduction ops share. */
#include "backend/cuda/cuda.h"

__global__ void scale2d_k(float *c, int ldc, int n, size_t total, float beta)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x) {
		float *p = c + i / (size_t)n * (size_t)ldc + i % (size_t)n;
		*p = beta == 0 ? 0.0f : beta * *p;
	}
}

/* bf16: A and B rounded into the workspace (compact: leading dimension =
 * their stored row length), the product accumulated in fp32 by cuBLAS and
 * C read and written in fp32 with alpha and beta as given: the arithmetic
 * of the CPU's bf16 gemm (cpu/gemm_dnnl.c). */
static void gemm_bf16(cu_impl *im, int ta, int tb, int m, int n, int k, float alpha,
		      const float *a, int lda, const float *b, int ldb, float beta, float *c,
		      int ldc)
{
	size_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
	size_t abytes = cu_round_up(ar * ac * 2);
	char *ws = (char *)cu_scratch(im, abytes + cu_round_up(br * bc * 2));
	if (!ws)
		return;
	cu_to_bf16(im, a, ar, ac, (size_t)lda, ws);
	cu_to_bf16(im, b, br, bc, (size_t)ldb, ws + abytes);
	BLAS_CHECK(cublasGemmEx(im->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
				ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, ws + abytes,
				CUDA_R_16BF, (int)bc, ws, CUDA_R_16BF, (int)ac, &beta, c,
				CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

/* Row-major C[m,n] = op(A) op(B) is column-major C^T[n,m] = op(B)^T op(A)^T:
 * swap the operands, keep each one's transpose flag and leading dimension. */
void cu_gemm(dl_backend *be, int ta, int tb, int m, int n, int k, float alpha, const float *a,
	     int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "gemm");
	if (m <= 0 || n <= 0)
		return;
	if (k <= 0) {
		/* an empty product: C = beta C (beta 0 writes zeros, NaN or not) */
		size_t total = (size_t)m * (size_t)n;
		scale2d_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(c, ldc, n, total, beta);
		CU_LAUNCHED();
		return;
	}
	if (im->prec == CU_BF16) {
		gemm_bf16(im, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
		return;
	}
	BLAS_CHECK(cublasSgemm(im->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
			       ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b, ldb, a, lda,
			       &beta, c, ldc));
}

__global__ void bias_add_k(float *y, const float *b, size_t total, int cols)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x)
		y[i] += b[i % (size_t)cols];
}

/* y[r, j] += b[j] */
void cu_bias_add(dl_backend *be, float *y, const float *b, int rows, int cols)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "bias_add");
	size_t total = (size_t)rows * (size_t)cols;
	if (!total)
		return;
	bias_add_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(y, b, total, cols);
	CU_LAUNCHED();
}

struct bias_term {
	const float *dy;
	int cols;
	__device__ void operator()(int r, int j, double *acc) const
	{
		acc[0] += dy[(size_t)r * cols + j];
	}
};

struct bias_acc {
	float *db;
	__device__ void operator()(int j, const double *s) const
	{
		db[j] += (float)s[0];
	}
};

/* db[j] += sum_r dy[r, j] */
void cu_bias_grad(dl_backend *be, float *db, const float *dy, int rows, int cols)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "bias_grad");
	if (cols <= 0)
		return;
	double *part = (double *)cu_scratch(im, cu_colsum_bytes(rows, cols, 1));
	if (!part)
		return;
	cu_colsum<1>(im, rows, cols, bias_term{ dy, cols }, bias_acc{ db }, part);
}

/* One block of 1024 threads: thread t sums items t, t + 1024, ... in
 * order, then a tree in shared memory; the same order every launch. */
__global__ void sum_scalar_k(const double *src, int n, int stride, float *dst, int acc)
{
	__shared__ double sh[1024];
	double s = 0;
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		s += src[(size_t)i * stride];
	sh[threadIdx.x] = s;
	__syncthreads();
	for (int w = blockDim.x / 2; w > 0; w /= 2) {
		if ((int)threadIdx.x < w)
			sh[threadIdx.x] += sh[threadIdx.x + w];
		__syncthreads();
	}
	if (threadIdx.x == 0)
		*dst = acc ? (float)((double)*dst + sh[0]) : (float)sh[0];
}

void cu_sum_to_scalar(cu_impl *im, const double *src, int n, int stride, float *dst, int acc)
{
	sum_scalar_k<<<1, 1024, 0, im->stream>>>(src, n, stride, dst, acc);
	CU_LAUNCHED();
}
