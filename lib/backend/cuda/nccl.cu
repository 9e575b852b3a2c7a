/* NCCL for data-parallel training on GPUs (lib/dist/nccl.h): one
 * communicator per rank on the backend's GPU, sums on a stream of their own
 * ordered after the compute stream by events.  Compiled into libdl-cuda.so
 * when the Makefile finds nccl.h. */
#include <nccl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backend/cuda/cuda.h"
#include "dist/nccl.h"

#define NC_EXPORT extern "C" __attribute__((visibility("default")))

struct dl_nccl {
	ncclComm_t comm;
	cudaStream_t stream;       /* the sums */
	cudaStream_t compute;      /* the backend's */
	cudaEvent_t ready, done;
	int dev;
};

static int cuda_fail(cudaError_t e, const char *what, char *msg, size_t cap)
{
	snprintf(msg, cap, "%s: %s", what, cudaGetErrorString(e));
	return -1;
}

static int nccl_fail(ncclResult_t r, const char *what, char *msg, size_t cap)
{
	snprintf(msg, cap, "%s: %s", what, ncclGetErrorString(r));
	return -1;
}

NC_EXPORT int dl_nccl_abi(void)
{
	return DL_NCCL_ABI;
}

NC_EXPORT int dl_nccl_id(unsigned char *id, char *msg, size_t cap)
{
	ncclUniqueId u;
	ncclResult_t r = ncclGetUniqueId(&u);
	if (r != ncclSuccess)
		return nccl_fail(r, "ncclGetUniqueId", msg, cap);
	static_assert(sizeof u == DL_NCCL_ID_BYTES, "ncclUniqueId size");
	memcpy(id, &u, sizeof u);
	return 0;
}

NC_EXPORT void dl_nccl_close(dl_nccl *c)
{
	if (!c)
		return;
	cudaSetDevice(c->dev);
	if (c->comm)
		ncclCommDestroy(c->comm);
	if (c->stream)
		cudaStreamDestroy(c->stream);
	if (c->ready)
		cudaEventDestroy(c->ready);
	if (c->done)
		cudaEventDestroy(c->done);
	delete c;
}

NC_EXPORT int dl_nccl_open(dl_nccl **out, dl_backend *be, const unsigned char *id, int nranks,
			   int rank, char *msg, size_t cap)
{
	*out = NULL;
	if (strcmp(be->ops->name, "cuda"))
		return snprintf(msg, cap, "NCCL needs a CUDA backend, not %s", be->ops->name), -1;
	cu_impl *im = cu_of(be);
	dl_nccl *c = new dl_nccl();
	c->dev = im->dev;
	c->compute = im->stream;
	cudaError_t e = cudaSetDevice(c->dev);
	if (e == cudaSuccess)
		e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
	if (e == cudaSuccess)
		e = cudaEventCreateWithFlags(&c->ready, cudaEventDisableTiming);
	if (e == cudaSuccess)
		e = cudaEventCreateWithFlags(&c->done, cudaEventDisableTiming);
	if (e != cudaSuccess) {
		dl_nccl_close(c);
		return cuda_fail(e, "NCCL stream", msg, cap);
	}
	ncclUniqueId u;
	memcpy(&u, id, sizeof u);
	ncclResult_t r = ncclCommInitRank(&c->comm, nranks, u, rank);
	if (r != ncclSuccess) {
		c->comm = NULL;
		dl_nccl_close(c);
		return nccl_fail(r, "ncclCommInitRank", msg, cap);
	}
	*out = c;
	return 0;
}

NC_EXPORT int dl_nccl_sum(dl_nccl *c, float *x, size_t n, char *msg, size_t cap)
{
	cudaError_t e = cudaEventRecord(c->ready, c->compute);
	if (e == cudaSuccess)
		e = cudaStreamWaitEvent(c->stream, c->ready, 0);
	if (e != cudaSuccess)
		return cuda_fail(e, "NCCL ordering", msg, cap);
	ncclResult_t r = ncclAllReduce(x, x, n, ncclFloat, ncclSum, c->comm, c->stream);
	return r == ncclSuccess ? 0 : nccl_fail(r, "ncclAllReduce", msg, cap);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

NC_EXPORT int dl_nccl_wait(dl_nccl *c, double timeout, char *msg, size_t cap)
{
	cudaError_t e = cudaEventRecord(c->done, c->stream);
	if (e != cudaSuccess)
		return cuda_fail(e, "NCCL event", msg, cap);
	double end = now() + timeout;
	for (;;) {
		e = cudaEventQuery(c->done);
		if (e == cudaSuccess)
			break;
		if (e != cudaErrorNotReady)
			return cuda_fail(e, "NCCL sum", msg, cap);
		ncclResult_t async;
		if (ncclCommGetAsyncError(c->comm, &async) == ncclSuccess && async != ncclSuccess &&
		    async != ncclInProgress)
			return nccl_fail(async, "NCCL", msg, cap);
		if (now() > end) {
			ncclCommAbort(c->comm);
			c->comm = NULL;
			snprintf(msg, cap, "NCCL sum did not complete within %.0f s", timeout);
			return 1;
		}
		struct timespec ts = { 0, 50000 };
		nanosleep(&ts, NULL);
	}
	e = cudaStreamWaitEvent(c->compute, c->done, 0);
	return e == cudaSuccess ? 0 : cuda_fail(e, "NCCL ordering", msg, cap);
}
