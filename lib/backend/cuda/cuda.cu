/* The CUDA backend: the entry points libdl-cuda.so exports (open, list,
 * ABI check), memory, and the ops table.  See cuda.h for the design. */
#include "backend/cuda/cuda.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CU_EXPORT extern "C" __attribute__((visibility("default")))

/* dl_fail lives in the tools' static library, which this .so does not
 * link: fill the error ourselves. */
static int cu_errf(dl_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int cu_errf(dl_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	e->code = code;
	return code;
}

void cu_fatal(const char *file, int line, const char *call, const char *msg)
{
	fprintf(stderr, "dl: cuda: %s:%d: %s: %s\n", file, line, call, msg);
	fflush(stderr);
	abort();
}

void *cu_scratch(cu_impl *im, size_t bytes)
{
	if (bytes <= im->ws_cap)
		return im->ws;
	size_t cap = im->ws_cap ? im->ws_cap : (size_t)1 << 20;
	while (cap < bytes)
		cap *= 2;
	if (im->ws)
		CU_CHECK(cudaFreeAsync(im->ws, im->stream));
	im->ws = NULL;
	im->ws_cap = 0;
	CU_CHECK(cudaMallocAsync(&im->ws, cap, im->stream));
	im->ws_cap = cap;
	return im->ws;
}

static void cu_release(dl_backend *be)
{
	cu_impl *im = cu_of(be);
	if (im) {
		if (im->stream)
			cudaStreamSynchronize(im->stream);
		if (im->memstats && im->pool) {
			uint64_t high = 0;
			if (cudaMemPoolGetAttribute(im->pool, cudaMemPoolAttrUsedMemHigh, &high) ==
			    cudaSuccess)
				fprintf(stderr, "dl: cuda:%d: peak device memory %.1f MiB\n", im->dev,
					(double)high / (1024.0 * 1024.0));
		}
		if (im->ws)
			cudaFreeAsync(im->ws, im->stream);
		if (im->cd)
			cudnnDestroyConvolutionDescriptor(im->cd);
		if (im->wd)
			cudnnDestroyFilterDescriptor(im->wd);
		if (im->xd)
			cudnnDestroyTensorDescriptor(im->xd);
		if (im->yd)
			cudnnDestroyTensorDescriptor(im->yd);
		if (im->dnn)
			cudnnDestroy(im->dnn);
		if (im->blas)
			cublasDestroy(im->blas);
		if (im->stream) {
			cudaStreamSynchronize(im->stream);
			cudaStreamDestroy(im->stream);
		}
		free(im);
	}
	free(be);
}

/* Device memory, zeroed (contract), from the stream-ordered pool: 256-byte
 * aligned, which covers the contract's 64. */
static void *cu_alloc(dl_backend *be, size_t bytes)
{
	cu_impl *im = cu_of(be);
	void *p = NULL;
	if (cudaMallocAsync(&p, bytes ? bytes : 1, im->stream) != cudaSuccess) {
		cudaGetLastError();   /* clear the sticky-free error for the next call */
		return NULL;
	}
	CU_CHECK(cudaMemsetAsync(p, 0, bytes, im->stream));
	return p;
}

static void cu_free(dl_backend *be, void *p)
{
	if (p)
		CU_CHECK(cudaFreeAsync(p, cu_of(be)->stream));
}

/* From pageable host memory the copy has left `src` when this returns, so
 * the caller may reuse it at once. */
static void cu_to_device(dl_backend *be, void *dst, const void *src, size_t bytes)
{
	if (bytes)
		CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice,
					 cu_of(be)->stream));
}

static void cu_to_host(dl_backend *be, void *dst, const void *src, size_t bytes)
{
	cu_impl *im = cu_of(be);
	if (bytes)
		CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, im->stream));
	CU_CHECK(cudaStreamSynchronize(im->stream));
}

static void cu_zero(dl_backend *be, void *p, size_t bytes)
{
	if (bytes)
		CU_CHECK(cudaMemsetAsync(p, 0, bytes, cu_of(be)->stream));
}

static void cu_sync(dl_backend *be)
{
	CU_CHECK(cudaStreamSynchronize(cu_of(be)->stream));
}

static dl_backend_ops cu_make_ops(void)
{
	dl_backend_ops o;
	memset(&o, 0, sizeof o);
	o.name = "cuda";
	o.release = cu_release;
	o.alloc = cu_alloc;
	o.free = cu_free;
	o.to_device = cu_to_device;
	o.to_host = cu_to_host;
	o.zero = cu_zero;
	o.sync = cu_sync;
	o.gemm = cu_gemm;
	o.bias_add = cu_bias_add;
	o.bias_grad = cu_bias_grad;
	o.conv2d_fwd = cu_conv2d_fwd;
	o.conv2d_bwd_data = cu_conv2d_bwd_data;
	o.conv2d_bwd_filter = cu_conv2d_bwd_filter;
	o.maxpool_fwd = cu_maxpool_fwd;
	o.maxpool_bwd = cu_maxpool_bwd;
	o.avgpool_fwd = cu_avgpool_fwd;
	o.avgpool_bwd = cu_avgpool_bwd;
	o.bn_fwd_train = cu_bn_fwd_train;
	o.bn_fwd_infer = cu_bn_fwd_infer;
	o.bn_bwd = cu_bn_bwd;
	o.dropout = cu_dropout;
	o.axpby = cu_axpby;
	o.copy2d = cu_copy2d;
	o.act_fwd = cu_act_fwd;
	o.act_bwd = cu_act_bwd;
	o.softmax_xent = cu_softmax_xent;
	o.regress_loss = cu_regress_loss;
	o.softmax = cu_softmax;
	o.sgd_update = cu_sgd_update;
	o.adam_update = cu_adam_update;
	o.sumsq = cu_sumsq;
	o.clip_scale = cu_clip_scale;
	o.gather_u8 = cu_gather_u8;
	o.gather_i32 = cu_gather_i32;
	o.gather_f32 = cu_gather_f32;
	return o;
}

static const dl_backend_ops cu_ops = cu_make_ops();

CU_EXPORT int dl_cuda_abi(void)
{
	return DL_CUDA_ABI;
}

/* Opens GPU `device`; every failure is a one-line DL_EUSAGE naming what is
 * missing (driver, device, cuBLAS, cuDNN), as a CUDA device that cannot be
 * used is a device the command line should not have asked for. */
CU_EXPORT int dl_cuda_open(dl_backend **out, int device, const char *precision, dl_err *err)
{
	*out = NULL;
	cu_precision prec = CU_FP32;
	if (!precision || !strcmp(precision, "fp32"))
		prec = CU_FP32;
	else if (!strcmp(precision, "tf32"))
		prec = CU_TF32;
	else if (!strcmp(precision, "bf16"))
		return cu_errf(err, DL_EUSAGE, "precision bf16 is not implemented yet (use fp32 or tf32)");
	else
		return cu_errf(err, DL_EUSAGE, "unknown precision '%s' (expected fp32 or tf32)", precision);
	int count = 0;
	cudaError_t ce = cudaGetDeviceCount(&count);
	if (ce != cudaSuccess || count == 0) {
		cudaGetLastError();
		return cu_errf(err, DL_EUSAGE, "device 'cuda:%d': " DL_CUDA_NO_DEVICE " (%s)", device,
			       ce != cudaSuccess ? cudaGetErrorString(ce) : "the driver sees no GPU");
	}
	if (device < 0 || device >= count)
		return cu_errf(err, DL_EUSAGE, "device 'cuda:%d': no such CUDA device (%d found)",
			       device, count);
	if ((ce = cudaSetDevice(device)) != cudaSuccess)
		return cu_errf(err, DL_EUSAGE, "device 'cuda:%d': %s", device, cudaGetErrorString(ce));
	dl_backend *be = (dl_backend *)calloc(1, sizeof *be);
	cu_impl *im = (cu_impl *)calloc(1, sizeof *im);
	if (!be || !im) {
		free(be);
		free(im);
		return cu_errf(err, DL_EFAIL, "cuda backend: out of memory");
	}
	be->ops = &cu_ops;
	be->threads = 1;
	be->impl = im;
	im->dev = device;
	im->prec = prec;
	im->memstats = getenv("DL_CUDA_MEMSTATS") != NULL;
	cudaDeviceProp prop;
	int rc = 0;
	cublasStatus_t bs;
	cudnnStatus_t ds;
	if ((ce = cudaGetDeviceProperties(&prop, device)) != cudaSuccess ||
	    (ce = cudaStreamCreateWithFlags(&im->stream, cudaStreamNonBlocking)) != cudaSuccess ||
	    (ce = cudaDeviceGetDefaultMemPool(&im->pool, device)) != cudaSuccess) {
		rc = cu_errf(err, DL_EUSAGE, "device 'cuda:%d': %s", device, cudaGetErrorString(ce));
		goto fail;
	}
	im->sms = prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
	{
		/* keep freed blocks in the pool: a training step reallocates the
		 * same sizes, and returning memory to the driver would sync */
		uint64_t keep = ~(uint64_t)0;
		cudaMemPoolSetAttribute(im->pool, cudaMemPoolAttrReleaseThreshold, &keep);
		uint64_t zero = 0;
		cudaMemPoolSetAttribute(im->pool, cudaMemPoolAttrUsedMemHigh, &zero);
	}
	if ((bs = cublasCreate(&im->blas)) != CUBLAS_STATUS_SUCCESS ||
	    (bs = cublasSetStream(im->blas, im->stream)) != CUBLAS_STATUS_SUCCESS ||
	    (bs = cublasSetMathMode(im->blas, prec == CU_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH
							      : CUBLAS_DEFAULT_MATH)) !=
		    CUBLAS_STATUS_SUCCESS) {
		rc = cu_errf(err, DL_EUSAGE, "device 'cuda:%d': cuBLAS: %s", device,
			     cublasGetStatusString(bs));
		goto fail;
	}
	if ((ds = cudnnCreate(&im->dnn)) != CUDNN_STATUS_SUCCESS ||
	    (ds = cudnnSetStream(im->dnn, im->stream)) != CUDNN_STATUS_SUCCESS ||
	    (ds = cudnnCreateTensorDescriptor(&im->xd)) != CUDNN_STATUS_SUCCESS ||
	    (ds = cudnnCreateTensorDescriptor(&im->yd)) != CUDNN_STATUS_SUCCESS ||
	    (ds = cudnnCreateFilterDescriptor(&im->wd)) != CUDNN_STATUS_SUCCESS ||
	    (ds = cudnnCreateConvolutionDescriptor(&im->cd)) != CUDNN_STATUS_SUCCESS) {
		rc = cu_errf(err, DL_EUSAGE, "device 'cuda:%d': cuDNN: %s", device,
			     cudnnGetErrorString(ds));
		goto fail;
	}
	*out = be;
	return 0;
fail:
	cudaGetLastError();
	cu_release(be);
	return rc;
}

/* One line per GPU, or one line saying why there is none. */
CU_EXPORT int dl_cuda_list(FILE *f)
{
	int count = 0, drv = 0, rt = 0;
	cudaError_t ce = cudaGetDeviceCount(&count);
	if (ce != cudaSuccess || count == 0) {
		cudaGetLastError();
		fprintf(f, "cuda\tnone (%s)\n",
			ce != cudaSuccess ? cudaGetErrorString(ce) : "the driver sees no GPU");
		return 0;
	}
	cudaDriverGetVersion(&drv);
	cudaRuntimeGetVersion(&rt);
	for (int d = 0; d < count; d++) {
		cudaDeviceProp p;
		if (cudaGetDeviceProperties(&p, d) != cudaSuccess) {
			cudaGetLastError();
			fprintf(f, "cuda:%d\tunreadable\n", d);
			continue;
		}
		fprintf(f, "cuda:%d\t%s, %.1f GiB, sm_%d%d, %d SMs, driver %d.%d, runtime %d.%d, "
			   "cuDNN %zu, cuBLAS %d\n",
			d, p.name, (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), p.major,
			p.minor, p.multiProcessorCount, drv / 1000, drv % 1000 / 10, rt / 1000,
			rt % 1000 / 10, cudnnGetVersion(), CUBLAS_VERSION);
	}
	return 0;
}
