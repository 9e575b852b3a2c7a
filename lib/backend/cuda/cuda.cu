/* The CUDA backend: the entry points libdl-cuda.so exports (open, list,
 * ABI check), memory, and the ops table.  See cuda.h for the design. */
#include "backend/cuda/cuda.h"

#include <dlfcn.h>
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

void cu_fail(cu_impl *im, const char *file, int line, const char *call, const char *msg)
{
	if (im->failed)
		return;
	const char *f = strrchr(file, '/');
	snprintf(im->msg, sizeof im->msg, "cuda:%d: op %s: %s:%d: %s: %s", im->dev,
		 im->op ? im->op : "open", f ? f + 1 : file, line, call, msg);
	im->failed = 1;
}

/* Waits for the stream; an error there is an asynchronous fault of work
 * enqueued earlier, named after the last op (the faulting one itself
 * under DL_CUDA_SYNC=1). */
static void cu_wait(cu_impl *im, const char *where)
{
	cudaError_t e = cudaStreamSynchronize(im->stream);
	if (e == cudaSuccess || im->failed)
		return;
	char call[160];
	snprintf(call, sizeof call, "%s%s", where,
		 im->sync_each ? "" : " (a fault of this or an earlier op; DL_CUDA_SYNC=1 names it)");
	cu_fail(im, __FILE__, __LINE__, call, cudaGetErrorString(e));
}

void cu_op_begin(cu_impl *im, const char *op)
{
	if (im->sync_each && im->op && !im->failed)
		cu_wait(im, "after the op");
	im->op = op;
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
	if (im->failed) {
		im->ws = NULL;
		return NULL;
	}
	im->ws_cap = cap;
	return im->ws;
}

int cu_error(dl_backend *be, dl_err *err)
{
	cu_impl *im = cu_of(be);
	if (!im->failed)
		return 0;
	im->reported = 1;
	snprintf(err->msg, sizeof err->msg, "%s", im->msg);
	err->code = DL_EFAIL;
	return DL_EFAIL;
}

void cu_release(dl_backend *be)
{
	cu_impl *im = cu_of(be);
	if (im) {
		if (im->stream) {
			im->op = im->op ? im->op : "release";
			cu_wait(im, "at release");
		}
		/* an error nobody asked for is not dropped: the opener's log */
		if (im->failed && !im->reported)
			dl_logf(&be->log, DL_LOG_ERROR, "%s", im->msg);
		if (im->memstats && im->pool) {
			uint64_t high = 0;
			if (cudaMemPoolGetAttribute(im->pool, cudaMemPoolAttrUsedMemHigh, &high) ==
			    cudaSuccess)
				dl_logf(&be->log, DL_LOG_NOTE, "cuda:%d: peak device memory %.1f MiB",
					im->dev, (double)high / (1024.0 * 1024.0));
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
 * aligned, which covers the contract's 64.  Out of memory is NULL (the
 * contract's one recoverable failure), not a backend error. */
void *cu_alloc(dl_backend *be, size_t bytes)
{
	cu_impl *im = cu_of(be);
	im->op = "alloc";
	if (im->failed)
		return NULL;
	void *p = NULL;
	if (cudaMallocAsync(&p, bytes ? bytes : 1, im->stream) != cudaSuccess) {
		cudaGetLastError();   /* clear the sticky-free error for the next call */
		return NULL;
	}
	CU_CHECK(cudaMemsetAsync(p, 0, bytes, im->stream));
	return p;
}

void cu_free(dl_backend *be, void *p)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "free");
	if (p)
		CU_CHECK(cudaFreeAsync(p, im->stream));
}

/* From pageable host memory the copy has left `src` when this returns, so
 * the caller may reuse it at once. */
void cu_to_device(dl_backend *be, void *dst, const void *src, size_t bytes)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "to_device");
	if (bytes)
		CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, im->stream));
}

/* After a failure dst is filled with NaN, so a caller that does not check
 * the error op sees poisoned numbers rather than stale ones. */
void cu_to_host(dl_backend *be, void *dst, const void *src, size_t bytes)
{
	cu_impl *im = cu_of(be);
	cu_op_begin(im, "to_host");
	if (!im->failed && bytes)
		CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, im->stream));
	if (!im->failed)
		cu_wait(im, "to_host");
	if (im->failed)
		memset(dst, 0xff, bytes);
}

void cu_zero(dl_backend *be, void *p, size_t bytes)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "zero");
	if (bytes)
		CU_CHECK(cudaMemsetAsync(p, 0, bytes, im->stream));
}

void cu_sync(dl_backend *be)
{
	cu_impl *im = cu_of(be);
	cu_op_begin(im, "sync");
	cu_wait(im, "sync");
}

static const dl_backend_ops cu_ops = DL_BACKEND_TABLE(cu, "cuda");

CU_EXPORT int dl_cuda_abi(void)
{
	return DL_CUDA_ABI;
}

/* The driver, asked directly (libcuda.so.1 through dlopen, as the static
 * CUDA runtime does), so that each way of having no usable GPU gets its
 * own message.  0 with *count set, or nonzero with `why` filled: 1 when
 * the machine simply has no GPU (no driver, or the driver sees none: the
 * message holds DL_CUDA_NO_DEVICE and auto stays silent), 2 when a GPU
 * setup exists but cannot serve this library (a driver older than the
 * CUDA runtime it was built with, an initialisation failure). */
static int driver_probe(int *count, char *why, size_t n)
{
	typedef int (*ver_fn)(int *);
	typedef int (*init_fn)(unsigned);
	typedef int (*str_fn)(int, const char **);
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, n, DL_CUDA_NO_DEVICE " (no NVIDIA driver: libcuda.so.1 not found)");
		return 1;
	}
	ver_fn ver = (ver_fn)dlsym(h, "cuDriverGetVersion");
	init_fn init = (init_fn)dlsym(h, "cuInit");
	str_fn str = (str_fn)dlsym(h, "cuGetErrorString");
	int drv = 0;
	if (!ver || !init || ver(&drv) != 0) {
		snprintf(why, n, "the NVIDIA driver (libcuda.so.1) is unusable: cuDriverGetVersion missing or failing");
		return 2;
	}
	if (drv < CUDART_VERSION) {
		snprintf(why, n, "the NVIDIA driver is too old for this CUDA runtime: it supports CUDA %d.%d, "
			 "libdl-cuda.so was built with CUDA %d.%d (update the driver, or build with an older CUDA)",
			 drv / 1000, drv % 1000 / 10, CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
		return 2;
	}
	int r = init(0);
	if (r == 100 /* CUDA_ERROR_NO_DEVICE */) {
		snprintf(why, n, DL_CUDA_NO_DEVICE " (the driver sees no GPU)");
		return 1;
	}
	if (r != 0) {
		const char *m = NULL;
		if (!str || str(r, &m) != 0 || !m)
			m = "unknown error";
		snprintf(why, n, "the NVIDIA driver failed to initialise: cuInit: %s (error %d)", m, r);
		return 2;
	}
	cudaError_t ce = cudaGetDeviceCount(count);
	if (ce != cudaSuccess || *count == 0) {
		cudaGetLastError();
		if (ce == cudaErrorInsufficientDriver || ce == cudaErrorCompatNotSupportedOnDevice ||
		    ce == cudaErrorSystemDriverMismatch) {
			snprintf(why, n, "the CUDA runtime cannot use this driver: %s", cudaGetErrorString(ce));
			return 2;
		}
		snprintf(why, n, DL_CUDA_NO_DEVICE " (%s)",
			 ce == cudaSuccess || ce == cudaErrorNoDevice ? "the driver sees no GPU"
								       : cudaGetErrorString(ce));
		return ce == cudaSuccess || ce == cudaErrorNoDevice ? 1 : 2;
	}
	return 0;
}

#ifndef DL_CUDA_ARCHS
#define DL_CUDA_ARCHS "90"
#endif
#ifndef DL_CUDA_PTX
#define DL_CUDA_PTX "90"
#endif

__global__ void cu_probe_k(int *p)
{
	if (p)
		*p = 1;
}

/* Can this build run on compute capability major.minor?  Machine code for
 * sm_XY runs on X.Z with Z >= Y; PTX for compute_XY is compiled by the
 * driver for any newer GPU.  Then the runtime confirms it (a kernel image
 * loads).  0, or nonzero with `why` filled. */
static int arch_check(const cudaDeviceProp *p, int device, char *why, size_t n)
{
	int cc = p->major * 10 + p->minor, ok = 0;
	char list[128];
	snprintf(list, sizeof list, "%s", DL_CUDA_ARCHS);
	for (char *t = strtok(list, " ,"); t && !ok; t = strtok(NULL, " ,")) {
		int a = atoi(t);
		ok = a / 10 == p->major && a % 10 <= p->minor;
	}
	int ptx = atoi(DL_CUDA_PTX);
	ok = ok || (ptx > 0 && ptx <= cc);
	cudaFuncAttributes fa;
	cudaError_t ce = ok ? cudaFuncGetAttributes(&fa, cu_probe_k) : cudaSuccess;
	if (ok && ce == cudaSuccess)
		return 0;
	cudaGetLastError();
	snprintf(why, n, "device 'cuda:%d': %s (sm_%d%d) is not supported by this build "
		 "(machine code for sm_{%s}, PTX for compute_%s%s%s); rebuild with make CUDA_ARCH=%d",
		 device, p->name, p->major, p->minor, DL_CUDA_ARCHS, DL_CUDA_PTX,
		 ce != cudaSuccess ? ": " : "", ce != cudaSuccess ? cudaGetErrorString(ce) : "", cc);
	return -1;
}

/* Opens GPU `device`; every failure is a one-line DL_EUSAGE naming what is
 * missing (driver, device, cuBLAS, cuDNN) or too old (driver, GPU), as a
 * CUDA device that cannot be used is a device the command line should not
 * have asked for. */
CU_EXPORT int dl_cuda_open(dl_backend **out, int device, const char *precision, dl_err *err)
{
	*out = NULL;
	cu_precision prec = CU_FP32;
	if (!precision || !strcmp(precision, "fp32"))
		prec = CU_FP32;
	else if (!strcmp(precision, "tf32"))
		prec = CU_TF32;
	else if (!strcmp(precision, "bf16"))
		prec = CU_BF16;
	else
		return cu_errf(err, DL_EUSAGE, "unknown precision '%s' (expected fp32, tf32 or bf16)", precision);
	int count = 0;
	char why[512];
	cudaError_t ce;
	if (driver_probe(&count, why, sizeof why))
		return cu_errf(err, DL_EUSAGE, "device 'cuda:%d': %s", device, why);
	if (device < 0 || device >= count)
		return cu_errf(err, DL_EUSAGE, "device 'cuda:%d': no such CUDA device (%d found)",
			       device, count);
	if ((ce = cudaSetDevice(device)) != cudaSuccess)
		return cu_errf(err, DL_EUSAGE, "device 'cuda:%d': %s", device, cudaGetErrorString(ce));
	{
		cudaDeviceProp p0;
		if ((ce = cudaGetDeviceProperties(&p0, device)) != cudaSuccess)
			return cu_errf(err, DL_EUSAGE, "device 'cuda:%d': %s", device,
				       cudaGetErrorString(ce));
		if (arch_check(&p0, device, why, sizeof why))
			return cu_errf(err, DL_EUSAGE, "%s", why);
		if (prec != CU_FP32 && p0.major < 8)
			return cu_errf(err, DL_EUSAGE, "device 'cuda:%d' (%s, compute capability "
				       "%d.%d): precision %s needs compute capability 8.0 or newer",
				       device, p0.name, p0.major, p0.minor, precision);
	}
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
	{
		const char *sy = getenv("DL_CUDA_SYNC");
		im->sync_each = sy && *sy && strcmp(sy, "0");
		const char *wm = getenv("DL_CUDA_WS_MB");
		long mb = wm && *wm ? atol(wm) : 1024;
		im->ws_limit = (size_t)(mb > 0 ? mb : 0) << 20;
	}
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

/* The file a symbol was loaded from (which cuDNN, which cuBLAS). */
static const char *lib_of(const void *sym)
{
	Dl_info di;
	return dladdr(sym, &di) && di.dli_fname ? di.dli_fname : "?";
}

/* One line per GPU, or one line saying why there is none, then the
 * libraries in use. */
CU_EXPORT int dl_cuda_list(FILE *f)
{
	int count = 0, drv = 0, rt = 0;
	char why[512];
	if (driver_probe(&count, why, sizeof why)) {
		fprintf(f, "cuda\tnone (%s)\n", why);
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
	fprintf(f, "cuda-libs\tcuDNN %s; cuBLAS %s; built for sm_{%s} + compute_%s\n",
		lib_of((const void *)cudnnCreate), lib_of((const void *)cublasCreate_v2), DL_CUDA_ARCHS,
		DL_CUDA_PTX);
	return 0;
}
