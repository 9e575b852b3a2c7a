/* A stand-in for libdl-cuda.so, built by make check (build/tests/fake/
 * libdl-fake-backend.so) so tests/cli/t0710 can show that the loader
 * refuses what it must, on any machine:
 *   FAKE_DL_MODE=abi   dl_cuda_abi returns another number (a library built
 *                      from a different op list: a changed signature)
 *   FAKE_DL_MODE=hole  dl_cuda_open hands back an ops table without gemm
 *   FAKE_DL_MODE=nodev dl_cuda_open says "no CUDA device" (as the real one
 *                      does on a machine without a GPU)
 * It is compiled against the same backend.h, so with no mode set its ABI
 * number is the program's. */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"

#define EXPORT __attribute__((visibility("default")))

static const char *mode(void)
{
	const char *m = getenv("FAKE_DL_MODE");
	return m ? m : "";
}

EXPORT int dl_cuda_abi(void)
{
	return DL_CUDA_ABI + (strcmp(mode(), "abi") == 0);
}

static void fake_release(dl_backend *be)
{
	free(be);
}

static dl_backend_ops fake_ops;

EXPORT int dl_cuda_open(dl_backend **out, int device, const char *precision, dl_err *err)
{
	(void)precision;
	*out = NULL;
	if (!strcmp(mode(), "nodev")) {
		snprintf(err->msg, sizeof err->msg, "device 'cuda:%d': " DL_CUDA_NO_DEVICE " (fake)",
			 device);
		return err->code = DL_EUSAGE;
	}
	/* every op but gemm points at release: never called, only checked */
	typedef void (*fn)(void);
	fn *slot = (fn *)((char *)&fake_ops + sizeof(const char *));
	size_t nops = (sizeof fake_ops - sizeof(const char *)) / sizeof(fn);
	for (size_t i = 0; i < nops; i++)
		slot[i] = (fn)fake_release;
	fake_ops.name = "fake";
	fake_ops.release = fake_release;
	fake_ops.gemm = NULL;
	dl_backend *be = calloc(1, sizeof *be);
	if (!be)
		return err->code = DL_EFAIL;
	be->ops = &fake_ops;
	*out = be;
	return 0;
}

EXPORT int dl_cuda_list(FILE *f)
{
	fprintf(f, "cuda\tnone (fake backend, mode '%s')\n", mode());
	return 0;
}
