/* CUDA backend internals (C++, compiled by nvcc into build/lib/libdl-cuda.so).
 *
 * One device, one compute stream: every op is enqueued on `stream` and
 * none waits for the host, except to_host and sync.  Scalar results
 * (loss sums, correct counts, sum of squares) stay in device memory.
 *
 * Memory comes from the device's stream-ordered pool (cudaMallocAsync with
 * the release threshold raised), so freeing and reallocating a buffer of
 * the same size costs no driver call.  One workspace (`ws`) serves cuDNN
 * and the scratch of our own kernels (reduction partials, padded inputs);
 * it only grows, and is ordered on the stream like everything else.
 *
 * Determinism: reductions (bias_grad, batch norm, losses, sumsq) go
 * through fixed-shape partial sums added in a fixed order, and convolution
 * backward prefers cuDNN's deterministic algorithms, so a run is repeatable
 * on one GPU.  The results are not bit-equal to the CPU's (other summation
 * order); tests/gpu/ compares within tolerances.
 *
 * Errors: geometry was validated by the layers, so a failing CUDA call
 * inside an op is a device fault (illegal address, lost device): it is
 * reported as one line naming file and line, then the process aborts.
 */
#ifndef DL_BACKEND_CUDA_H
#define DL_BACKEND_CUDA_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

extern "C" {
#include "backend/backend.h"
}

/* Arithmetic of matrix products and convolutions.  fp32 is the default and
 * matches the CPU within float rounding; tf32 lets tensor cores round the
 * operands to 10 mantissa bits; bf16 is reserved (not implemented). */
enum cu_precision { CU_FP32 = 0, CU_TF32, CU_BF16 };

enum cu_conv_kind { CU_FWD = 0, CU_BWD_DATA, CU_BWD_FILTER };

/* One cached cuDNN algorithm choice, keyed by direction and geometry. */
struct cu_algo {
	int used;
	int kind;
	dl_conv_geom g;          /* normalised: dh, dw, groups >= 1 */
	int algo;                /* cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t */
	cudnnMathType_t math;
	size_t ws;               /* workspace bytes */
};

#define CU_ALGO_CACHE 128

struct cu_impl {
	int dev;
	cu_precision prec;
	int sms;                 /* multiprocessors, for grid sizes */
	cudaStream_t stream;
	cublasHandle_t blas;
	cudnnHandle_t dnn;
	cudaMemPool_t pool;
	cudnnTensorDescriptor_t xd, yd;
	cudnnFilterDescriptor_t wd;
	cudnnConvolutionDescriptor_t cd;
	void *ws;
	size_t ws_cap;
	cu_algo algos[CU_ALGO_CACHE];
	int algo_next;           /* round-robin slot once the cache is full */
	int memstats;            /* DL_CUDA_MEMSTATS set: report peak at release */
};

static inline cu_impl *cu_of(dl_backend *be)
{
	return (cu_impl *)be->impl;
}

/* Reports a failed call (file:line, the call, the library's message) on
 * stderr and aborts: see "Errors" above. */
[[noreturn]] void cu_fatal(const char *file, int line, const char *call, const char *msg);

#define CU_CHECK(x) do { cudaError_t e_ = (x); \
	if (e_ != cudaSuccess) cu_fatal(__FILE__, __LINE__, #x, cudaGetErrorString(e_)); } while (0)
#define CU_LAUNCHED() CU_CHECK(cudaGetLastError())
#define DNN_CHECK(x) do { cudnnStatus_t s_ = (x); \
	if (s_ != CUDNN_STATUS_SUCCESS) cu_fatal(__FILE__, __LINE__, #x, cudnnGetErrorString(s_)); } while (0)
#define BLAS_CHECK(x) do { cublasStatus_t s_ = (x); \
	if (s_ != CUBLAS_STATUS_SUCCESS) cu_fatal(__FILE__, __LINE__, #x, cublasGetStatusString(s_)); } while (0)

/* Workspace of at least `bytes` (grown on the stream; the old one is
 * freed in stream order, so earlier ops still using it are safe).  Any
 * later call may move it: carve all of an op's scratch from one call. */
void *cu_scratch(cu_impl *im, size_t bytes);

/* Blocks for a grid-stride loop over n items, threads per block t. */
static inline unsigned cu_blocks(size_t n, int t)
{
	size_t b = (n + (size_t)t - 1) / (size_t)t;
	if (b < 1)
		b = 1;
	return b > (1u << 20) ? (1u << 20) : (unsigned)b;
}

#define CU_T 256   /* threads per block of the elementwise kernels */

/* Column sums in a fixed order: for each column j < cols, sums over the
 * rows r of f(r, j, acc) (which adds its NV values into acc[]), in double,
 * then calls epi(j, sums) once per column.  Blocks of 32 columns x 8 row
 * lanes each take a chunk of rows (coalesced reads of a row), write their
 * partial sums to `part` (cu_colsum_bytes from the workspace), and one
 * thread per column adds the chunks in chunk order: the result does not
 * depend on scheduling.  Used by bias_grad, conv bias and batch norm. */
static inline int cu_colsum_chunk(int rows)
{
	int chunk = 64;
	while ((rows + chunk - 1) / chunk > 2048)
		chunk *= 2;
	return chunk;
}

static inline size_t cu_colsum_bytes(int rows, int cols, int nv)
{
	int chunk = cu_colsum_chunk(rows);
	size_t nchunks = (size_t)(rows + chunk - 1) / (size_t)chunk;
	return (nchunks ? nchunks : 1) * (size_t)nv * (size_t)cols * sizeof(double);
}

template <int NV, class F>
__global__ void cu_colsum_part_k(int rows, int cols, int chunk, F f, double *part)
{
	__shared__ double sh[NV][8][33];
	int tx = threadIdx.x, ty = threadIdx.y;
	int j = blockIdx.x * 32 + tx;
	int r0 = blockIdx.y * chunk, r1 = min(rows, r0 + chunk);
	double acc[NV];
	for (int v = 0; v < NV; v++)
		acc[v] = 0;
	if (j < cols)
		for (int r = r0 + ty; r < r1; r += 8)
			f(r, j, acc);
	for (int v = 0; v < NV; v++)
		sh[v][ty][tx] = acc[v];
	__syncthreads();
	if (ty == 0 && j < cols) {
		for (int v = 0; v < NV; v++) {
			double s = 0;
			for (int t = 0; t < 8; t++)
				s += sh[v][t][tx];
			part[((size_t)blockIdx.y * NV + v) * cols + j] = s;
		}
	}
}

template <int NV, class E>
__global__ void cu_colsum_fin_k(int cols, int nchunks, const double *part, E epi)
{
	int j = blockIdx.x * blockDim.x + threadIdx.x;
	if (j >= cols)
		return;
	double s[NV];
	for (int v = 0; v < NV; v++)
		s[v] = 0;
	for (int ch = 0; ch < nchunks; ch++)
		for (int v = 0; v < NV; v++)
			s[v] += part[((size_t)ch * NV + v) * cols + j];
	epi(j, s);
}

template <int NV, class F, class E>
void cu_colsum(cu_impl *im, int rows, int cols, F f, E epi, double *part)
{
	if (cols <= 0)
		return;
	int chunk = cu_colsum_chunk(rows);
	int nchunks = rows > 0 ? (rows + chunk - 1) / chunk : 0;
	if (nchunks) {
		dim3 grid((unsigned)(cols + 31) / 32, (unsigned)nchunks), block(32, 8);
		cu_colsum_part_k<NV><<<grid, block, 0, im->stream>>>(rows, cols, chunk, f, part);
		CU_LAUNCHED();
	}
	cu_colsum_fin_k<NV><<<(unsigned)(cols + 127) / 128, 128, 0, im->stream>>>(cols, nchunks,
										   part, epi);
	CU_LAUNCHED();
}

/* Sum of `n` doubles into a float device scalar: *dst = sum (acc == 0) or
 * *dst += sum; one block, fixed order (losses, sumsq). */
void cu_sum_to_scalar(cu_impl *im, const double *src, int n, int stride, float *dst, int acc);

/* ops, one group per file */
void cu_gemm(dl_backend *be, int ta, int tb, int m, int n, int k, float alpha, const float *a,
	     int lda, const float *b, int ldb, float beta, float *c, int ldc);
void cu_bias_add(dl_backend *be, float *y, const float *b, int rows, int cols);
void cu_bias_grad(dl_backend *be, float *db, const float *dy, int rows, int cols);
void cu_conv2d_fwd(dl_backend *be, const dl_conv_geom *g, const float *x, const float *w,
		   const float *b, float *y);
void cu_conv2d_bwd_data(dl_backend *be, const dl_conv_geom *g, const float *dy,
			const float *w, float *dx);
void cu_conv2d_bwd_filter(dl_backend *be, const dl_conv_geom *g, const float *x,
			  const float *dy, float *dw, float *db);
void cu_maxpool_fwd(dl_backend *be, const dl_pool_geom *g, const float *x, float *y);
void cu_maxpool_bwd(dl_backend *be, const dl_pool_geom *g, const float *x, const float *y,
		    const float *dy, float *dx);
void cu_avgpool_fwd(dl_backend *be, const dl_pool_geom *g, const float *x, float *y);
void cu_avgpool_bwd(dl_backend *be, const dl_pool_geom *g, const float *dy, float *dx);
void cu_bn_fwd_train(dl_backend *be, int rows, int c, const float *x, const float *gamma,
		     const float *beta, float eps, float momentum, float *run_mean,
		     float *run_var, float *save_mean, float *save_invstd, float *y);
void cu_bn_fwd_infer(dl_backend *be, int rows, int c, const float *x, const float *gamma,
		     const float *beta, const float *run_mean, const float *run_var, float eps,
		     float *y);
void cu_bn_bwd(dl_backend *be, int rows, int c, const float *x, const float *dy,
	       const float *gamma, const float *save_mean, const float *save_invstd, float *dx,
	       float *dgamma, float *dbeta);
void cu_dropout(dl_backend *be, size_t n, const float *x, float *y, float p, uint64_t seed);
void cu_axpby(dl_backend *be, size_t n, float alpha, const float *x, float beta, float *y);
void cu_copy2d(dl_backend *be, int rows, int cols, const float *src, int sld, float *dst,
	       int dld, int acc);
void cu_act_fwd(dl_backend *be, dl_act_kind k, float alpha, size_t n, const float *x,
		float *y);
void cu_act_bwd(dl_backend *be, dl_act_kind k, float alpha, size_t n, const float *x,
		const float *y, const float *dy, float *dx);
void cu_softmax_xent(dl_backend *be, int n, int k, const float *logits, const int32_t *labels,
		     float smoothing, float grad_scale, float *dlogits, float *stats);
void cu_regress_loss(dl_backend *be, dl_reg_kind kind, int n, int k, const float *pred,
		     const float *target, float delta, float grad_scale, float *dpred,
		     float *stats);
void cu_softmax(dl_backend *be, int n, int k, const float *logits, float *probs);
void cu_sgd_update(dl_backend *be, size_t n, float *p, const float *g, float *v, float lr,
		   float momentum, float wd, int nesterov);
void cu_adam_update(dl_backend *be, size_t n, float *p, const float *g, float *m, float *v,
		    float lr, float b1, float b2, float eps, float wd, int decoupled, float bc1,
		    float bc2);
void cu_sumsq(dl_backend *be, size_t n, const float *x, float *out);
void cu_clip_scale(dl_backend *be, size_t n, float *x, const float *sumsq, float max_norm);
void cu_gather_u8(dl_backend *be, const uint8_t *src, const uint32_t *idx, int n, int h, int w,
		  int c, const dl_norm *norm, const dl_aug *aug, float *out);
void cu_gather_i32(dl_backend *be, const int32_t *src, const uint32_t *idx, int n,
		   int32_t *out);
void cu_gather_f32(dl_backend *be, const float *src, const uint32_t *idx, int n, int k,
		   float *out);

#endif
