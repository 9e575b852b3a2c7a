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
 * Errors: no op aborts.  A failing CUDA, cuBLAS or cuDNN call inside an
 * op (a lost device, out of memory for a workspace, a kernel fault) is
 * recorded in the backend once, as one line naming the op, the file and
 * line, the call and the library's message; every later op then does
 * nothing, and the caller reads the error through the `error` op (the
 * trainer at each sync, evaluation and checkpoint writing before they
 * trust the numbers).  Kernels fault asynchronously: a fault surfaces at
 * the next synchronising call (to_host, sync) and is reported there with
 * the last op enqueued; DL_CUDA_SYNC=1 synchronises after every op, so
 * the op that faulted is the one named.  cu_release reports an error
 * nobody read through the opener's logger (dl_backend.log) rather than
 * dropping it.
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
 * operands to 10 mantissa bits; bf16 rounds the operands of every gemm and
 * convolution to bf16 (8 significant bits) and accumulates in fp32 (bf16.cu,
 * "bf16" in docs/DESIGN.md).  Everything else stays fp32. */
enum cu_precision { CU_FP32 = 0, CU_TF32, CU_BF16 };

enum cu_conv_kind { CU_FWD = 0, CU_BWD_DATA, CU_BWD_FILTER };

/* One cached cuDNN algorithm choice, keyed by direction and geometry. */
struct cu_algo {
	int used;
	int kind;
	dl_conv_geom g;          /* normalised: dh, dw, groups >= 1 */
	int algo;                /* cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t */
	int bf16;                /* runs on bf16 tensors (else fp32; see conv.cu) */
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
	int sync_each;           /* DL_CUDA_SYNC=1: synchronise after every op */
	size_t ws_limit;         /* cuDNN workspace cap (DL_CUDA_WS_MB, default 1 GiB) */
	const char *op;          /* the op running or last enqueued */
	int failed;              /* an error is recorded in msg */
	int reported;            /* it was handed to the caller (error op) */
	char msg[sizeof(((dl_err *)0)->msg)];
};

static inline cu_impl *cu_of(dl_backend *be)
{
	return (cu_impl *)be->impl;
}

/* Records a failed call (the first one only; see "Errors" above). */
void cu_fail(cu_impl *im, const char *file, int line, const char *call, const char *msg);

/* The checks need `im` (the cu_impl) in scope; after a failure the op
 * goes on to its end but every later op returns at CU_OP. */
#define CU_CHECK(x) do { cudaError_t e_ = (x); \
	if (e_ != cudaSuccess) cu_fail(im, __FILE__, __LINE__, #x, cudaGetErrorString(e_)); } while (0)
#define CU_LAUNCHED() CU_CHECK(cudaGetLastError())
#define DNN_CHECK(x) do { cudnnStatus_t s_ = (x); \
	if (s_ != CUDNN_STATUS_SUCCESS) cu_fail(im, __FILE__, __LINE__, #x, cudnnGetErrorString(s_)); } while (0)
#define BLAS_CHECK(x) do { cublasStatus_t s_ = (x); \
	if (s_ != CUBLAS_STATUS_SUCCESS) cu_fail(im, __FILE__, __LINE__, #x, cublasGetStatusString(s_)); } while (0)

/* Every op begins with CU_OP(im, "name"): with DL_CUDA_SYNC=1 the previous
 * op is waited for first (a fault is then its own); the op is named for
 * the error messages; an op after a failure returns at once. */
void cu_op_begin(cu_impl *im, const char *op);
#define CU_OP(im, name) do { cu_op_begin((im), (name)); if ((im)->failed) return; } while (0)

/* Workspace of at least `bytes` (grown on the stream; the old one is
 * freed in stream order, so earlier ops still using it are safe).  Any
 * later call may move it: carve all of an op's scratch from one call.
 * NULL (and the backend failed) when the device is out of memory. */
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

/* Bytes rounded up to 256, so that buffers carved one after another from
 * one workspace stay aligned for every library. */
static inline size_t cu_round_up(size_t bytes)
{
	return (bytes + 255) & ~(size_t)255;
}

/* bf16.cu: dst[r * cols + c] = bf16(src[r * ld + c]) for a rows x cols
 * block of floats with leading dimension ld (rounded to nearest even). */
void cu_to_bf16(cu_impl *im, const float *src, size_t rows, size_t cols, size_t ld, void *dst);
/* bf16.cu: dst[i] = src[i] (acc 0) or dst[i] += src[i] (acc 1), bf16 to fp32. */
void cu_from_bf16(cu_impl *im, const void *src, size_t n, float *dst, int acc);

/* conv_stage.cu: xp = x (n images [h, w, c]) with a zero border of the
 * geometry's padding when `border`, in bf16 when `bf16` (else fp32); total
 * elements of xp.  And its inverse for the data gradient: dx = dxp cropped
 * (when `border`) and widened from bf16 (when `bf16`); total elements of dx. */
void cu_conv_stage_x(cu_impl *im, const float *x, void *xp, const dl_conv_geom &g, size_t total,
		     int border, int bf16);
void cu_conv_unstage_dx(cu_impl *im, const void *dxp, float *dx, const dl_conv_geom &g,
			size_t total, int border, int bf16);

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

/* Every op of lib/backend/ops.h as cu_<op> (memory in cuda.cu, gemm and
 * bias in blas.cu, conv.cu, pool.cu, norm.cu, elem.cu, loss.cu, optim.cu,
 * gather.cu). */
DL_BACKEND_PROTOTYPES(cu)

#endif
