/* A stand-in for the NVIDIA driver's libcuda.so.1, built by make check into
 * build/tests/fake/libcuda.so.1: put that folder on LD_LIBRARY_PATH and the
 * real libdl-cuda.so asks it, so tests/cli/t0710 can fake the driver
 * failures a machine without a GPU cannot show:
 *   FAKE_CUDA_DRIVER=12020  the CUDA version the driver supports
 *                           (cuDriverGetVersion; default 12020: too old)
 *   FAKE_CUDA_INIT=N        cuInit's result (default 0; 100 = no device)
 * Only the calls libdl-cuda.so makes before the CUDA runtime are here. */
#include <stdlib.h>

#define EXPORT __attribute__((visibility("default")))

static int env_int(const char *name, int def)
{
	const char *v = getenv(name);
	return v && *v ? atoi(v) : def;
}

EXPORT int cuDriverGetVersion(int *v)
{
	*v = env_int("FAKE_CUDA_DRIVER", 12020);
	return 0;
}

EXPORT int cuInit(unsigned flags)
{
	(void)flags;
	return env_int("FAKE_CUDA_INIT", 0);
}

EXPORT int cuGetErrorString(int e, const char **s)
{
	*s = e == 100 ? "no CUDA-capable device is detected" : "fake driver error";
	return 0;
}
