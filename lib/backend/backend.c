/* Opening a backend by device name, and listing devices.
 *
 * The CUDA backend is a shared object (libdl-cuda.so) loaded with dlopen()
 * only when a GPU is asked for ("cuda", "cuda:N") or may be used ("auto").
 * The tools never link libcudart, cuDNN or cuBLAS, so a binary built with
 * CUDA still runs --device cpu on a machine with no GPU, driver or CUDA
 * libraries.  The library is DL_CUDA_LIB if set, else ../lib/libdl-cuda.so
 * or ../lib/dl-tools/libdl-cuda.so relative to the running executable
 * (/proc/self/exe): build/lib next to build/bin and build/tests, lib/ next
 * to bin/ in the device bundle, PREFIX/lib/dl-tools beside an installed
 * PREFIX/bin (make install).  Its cuDNN and cuBLAS are found
 * by cuda_find.c.  A library is refused unless its ABI number (derived
 * from the op list, backend.h) equals ours, and a backend whose ops table
 * has a NULL entry is refused at open.
 * The handle is never closed: the CUDA libraries keep process-wide state
 * (and dlopen counts references, so opening again is cheap).
 */
#include "backend/backend.h"
#include "backend/cuda_find.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CUDA_SO "libdl-cuda.so"

/* The library's path into buf; 0, or -1 if /proc/self/exe is unreadable. */
int dl_backend_cuda_lib(char *buf, size_t cap)
{
	const char *env = getenv("DL_CUDA_LIB");
	if (env && *env) {
		snprintf(buf, cap, "%s", env);
		return 0;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return -1;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;
	/* build/lib/ and the bundle's lib/ beside bin/; an install's
	 * PREFIX/lib/dl-tools/ (make install) */
	snprintf(buf, cap, "%s/../lib/%s", exe, CUDA_SO);
	if (access(buf, F_OK))
		snprintf(buf, cap, "%s/../lib/dl-tools/%s", exe, CUDA_SO);
	if (access(buf, F_OK))
		snprintf(buf, cap, "%s/../lib/%s", exe, CUDA_SO);   /* named in the error */
	return 0;
}

typedef struct cuda_api {
	dl_cuda_open_fn open;
	dl_cuda_list_fn list;
} cuda_api;

/* Loads the CUDA backend library.  DL_EUSAGE with a one-line reason when
 * it is absent (*absent set: a CPU-only build) or cannot be loaded
 * (missing cuDNN/cuBLAS/CUDA runtime, wrong ABI). */
static int cuda_load(cuda_api *api, int *absent, dl_err *err)
{
	char path[PATH_MAX + 32];
	*absent = 0;
	if (dl_backend_cuda_lib(path, sizeof path)) {
		*absent = 1;
		return dl_fail(err, DL_EUSAGE, "cannot locate %s (/proc/self/exe unreadable; set DL_CUDA_LIB)",
			       CUDA_SO);
	}
	if (access(path, F_OK)) {
		*absent = 1;
		return dl_fail(err, DL_EUSAGE, "this build has no CUDA backend (%s: %s)", path,
			       strerror(errno));
	}
	char why[PATH_MAX + 512];
	void *h = dl_cuda_find_open(path, why, sizeof why, NULL);
	if (!h)
		return dl_fail(err, DL_EUSAGE, "cannot load the CUDA backend: %s", why);
	dl_cuda_abi_fn abi = (dl_cuda_abi_fn)dlsym(h, "dl_cuda_abi");
	api->open = (dl_cuda_open_fn)dlsym(h, "dl_cuda_open");
	api->list = (dl_cuda_list_fn)dlsym(h, "dl_cuda_list");
	if (!abi || !api->open || !api->list)
		return dl_fail(err, DL_EUSAGE, "%s is not a dl-tools backend library (no dl_cuda_abi, "
			       "dl_cuda_open, dl_cuda_list)", path);
	int theirs = abi(), ours = DL_CUDA_ABI;
	if (theirs != ours)
		return dl_fail(err, DL_EUSAGE, "%s was built from another op list (ABI %d, this "
			       "program %d): rebuild it with make", path, theirs, ours);
	return 0;
}

/* "cuda" -> 0, "cuda:N" -> N; -1 if malformed. */
static int cuda_index(const char *name)
{
	if (!strcmp(name, "cuda"))
		return 0;
	if (strncmp(name, "cuda:", 5) || !name[5])
		return -1;
	char *end;
	errno = 0;
	long v = strtol(name + 5, &end, 10);
	if (*end || errno || v < 0 || v > 1023 || name[5] == '-' || name[5] == '+')
		return -1;
	return (int)v;
}

/* Opens the backend o names (open_opts then keeps o->log in it). */
static int open_backend(dl_backend **out, const dl_backend_opts *o, dl_err *err)
{
	const char *name = o->device ? o->device : "cpu", *precision = o->precision;
	int threads = o->threads;
	*out = NULL;
	int prec32 = !precision || !strcmp(precision, "fp32");
	if (!prec32 && strcmp(precision, "tf32") && strcmp(precision, "bf16"))
		return dl_fail(err, DL_EUSAGE, "unknown precision '%s' (expected fp32, tf32 or bf16)",
			       precision);
	if (!strcmp(name, "cpu"))   /* fp32, or bf16 where the CPU has it (cpu.c) */
		return dl_backend_cpu_open_prec(out, threads, precision, err);
	int auto_dev = !strcmp(name, "auto");
	int dev = auto_dev ? 0 : cuda_index(name);
	if (!auto_dev && !strncmp(name, "cuda", 4) && dev < 0)
		return dl_fail(err, DL_EUSAGE, "bad device '%s' (expected cuda or cuda:N)", name);
	if (dev < 0)
		return dl_fail(err, DL_EUSAGE, "unknown device '%s' (expected auto, cpu, cuda, cuda:N)",
			       name);
	cuda_api api;
	int absent, rc = cuda_load(&api, &absent, err);
	if (!rc)
		rc = api.open(out, dev, precision, err);
	const char *hole = !rc ? dl_backend_ops_missing((*out)->ops) : NULL;
	if (hole) {
		/* released through its own release, unless that is the hole */
		if ((*out)->ops->release)
			(*out)->ops->release(*out);
		*out = NULL;
		rc = dl_fail(err, DL_EUSAGE, "the CUDA backend's ops table lacks '%s' (a stale or "
			     "foreign libdl-cuda.so): rebuild it with make", hole);
	}
	if (!rc || !auto_dev) {
		if (rc) {
			/* prefix the device name unless the message starts with it */
			char msg[sizeof err->msg];
			snprintf(msg, sizeof msg, "%s", err->msg);
			if (strncmp(msg, "device ", 7))
				dl_fail(err, rc, "device '%s': %s", name, msg);
		}
		return rc;
	}
	/* auto: the CPU.  Silent when there is simply no GPU (a CPU-only
	 * build, no driver, no device: the normal case on a CPU machine, and
	 * --quiet and one-line errors must stay so); a GPU setup that exists
	 * but fails (cuDNN or cuBLAS missing, a broken driver) says why, once. */
	if (!prec32 && strcmp(precision, "bf16"))   /* tf32: the GPU's alone */
		return dl_fail(err, rc, "precision %s needs a GPU, and --device auto found none "
			       "usable (%s)", precision, err->msg);
	if (!absent && !strstr(err->msg, DL_CUDA_NO_DEVICE))
		dl_logf(&o->log, DL_LOG_NOTE, "--device auto: %s; using the CPU", err->msg);
	dl_err_clear(err);
	return dl_backend_cpu_open_prec(out, threads, precision, err);
}

int dl_backend_open_opts(dl_backend **out, const dl_backend_opts *o, dl_err *err)
{
	int rc = open_backend(out, o, err);
	if (!rc)
		(*out)->log = o->log;
	return rc;
}

int dl_backend_open(dl_backend **out, const char *name, int threads, dl_err *err)
{
	dl_backend_opts o = { .device = name, .threads = threads };
	return dl_backend_open_opts(out, &o, err);
}

void dl_backend_close(dl_backend *be)
{
	if (be)
		be->ops->release(be);
}

int dl_backend_list(FILE *f, dl_err *err)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	fprintf(f, "cpu\t%ld cores (OpenBLAS, own thread pool)\n", ncpu > 0 ? ncpu : 1);
	cuda_api api;
	int absent;
	dl_err why = { 0 };
	if (cuda_load(&api, &absent, &why))
		fprintf(f, "cuda\tnone (%s)\n", why.msg);
	else
		api.list(f);
	if (fflush(f) || ferror(f))
		return dl_fail_errno(err, DL_EIO, "stdout: write failed");
	return 0;
}
