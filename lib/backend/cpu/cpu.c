/* The CPU backend: open/release, memory, and the ops table.
 * Device memory is host memory; every op is a plain C loop or an OpenBLAS
 * sgemm, parallelised by the backend's own thread pool (threads.c), except
 * channel-rich convolutions, which go to oneDNN when it is built in
 * (conv_dnnl.c; DL_CONV=auto|im2col|dnnl chooses at open), and fp32 gemms
 * of the shapes where oneDNN's matmul is faster (gemm_dnnl.c;
 * DL_GEMM=auto|blas|dnnl). */
#include "backend/cpu/cpu.h"

#include <cblas.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cpu_release(dl_backend *be)
{
	cpu_impl *im = be->impl;
	if (im) {
		cpu_pool_stop(im);
		cpu_dnnl_release(im);
		cpu_dnnl_gemm_release(im);
		for (int i = 0; im->scratch && i < im->nt; i++) {
			free(im->scratch[i].col);
			free(im->scratch[i].part);
		}
		free(im->scratch);
		free(im->gcol);
		free(im->bn_part);
		free(im);
	}
	free(be);
}

void *cpu_alloc(dl_backend *be, size_t bytes)
{
	(void)be;
	return cpu_aligned_alloc(bytes);
}

void cpu_free(dl_backend *be, void *p)
{
	(void)be;
	free(p);
}

void cpu_to_device(dl_backend *be, void *dst, const void *src, size_t bytes)
{
	(void)be;
	if (bytes)
		memmove(dst, src, bytes);
}

void cpu_to_host(dl_backend *be, void *dst, const void *src, size_t bytes)
{
	cpu_to_device(be, dst, src, bytes);
}

void cpu_zero(dl_backend *be, void *p, size_t bytes)
{
	(void)be;
	if (bytes)
		memset(p, 0, bytes);
}

void cpu_sync(dl_backend *be)
{
	(void)be;
}

int cpu_fault(cpu_impl *im, const char *op, const char *fmt, ...)
{
	if (im->fault.code)
		return -1;
	char msg[sizeof im->fault.msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	dl_fail(&im->fault, DL_EFAIL, "cpu: op %s: %s", op, msg);
	return -1;
}

int cpu_error(dl_backend *be, dl_err *err)
{
	const cpu_impl *im = cpu_of(be);
	if (!im->fault.code)
		return 0;
	*err = im->fault;
	return im->fault.code;
}

static const dl_backend_ops cpu_ops = DL_BACKEND_TABLE(cpu, "cpu");

/* A backend mode from environment variable `var` (value val): unset,
 * empty or "auto" gives 0 (the CPU_*_AUTO of its enum), `plain` 1 (the
 * OpenBLAS path) and "dnnl" 2 (oneDNN, refused when not built in).  0, or
 * a usage error. */
static int env_mode(const char *var, const char *val, const char *plain, int *mode, dl_err *err)
{
	*mode = 0;
	if (!val || !*val || !strcmp(val, "auto"))
		return 0;
	if (!strcmp(val, plain))
		*mode = 1;
	else if (!strcmp(val, "dnnl"))
		*mode = 2;
	else
		return dl_fail(err, DL_EUSAGE, "%s=%s: expected auto, %s or dnnl", var, val, plain);
	if (*mode == 2 && !cpu_dnnl_available())
		return dl_fail(err, DL_EUSAGE, "%s=dnnl: built without oneDNN (make DNNL=1)", var);
	return 0;
}

/* --precision on the CPU: fp32, or bf16 convolutions and gemms where the
 * CPU and oneDNN have bf16 kernels (conv_dnnl.c, gemm_dnnl.c); tf32 is a
 * GPU format.  Returns 0 and sets *bf16, or an error. */
static int cpu_precision(const char *precision, int conv_mode, int gemm_mode, int *bf16,
			 dl_err *err)
{
	*bf16 = 0;
	if (!precision || !*precision || !strcmp(precision, "fp32"))
		return 0;
	if (!strcmp(precision, "tf32"))
		return dl_fail(err, DL_EUSAGE,
			       "--precision tf32: TF32 is a GPU tensor-core format; the CPU runs fp32 or bf16");
	if (strcmp(precision, "bf16"))
		return dl_fail(err, DL_EUSAGE, "--precision %s: expected fp32, tf32 or bf16", precision);
	char why[160];
	if (!cpu_dnnl_bf16_support(why, sizeof why))
		return dl_fail(err, DL_EUSAGE, "--precision bf16 on the CPU: %s", why);
	if (conv_mode == CPU_CONV_IM2COL)
		return dl_fail(err, DL_EUSAGE,
			       "--precision bf16 on the CPU runs convolutions on oneDNN: unset DL_CONV=im2col");
	if (gemm_mode == CPU_GEMM_BLAS)
		return dl_fail(err, DL_EUSAGE,
			       "--precision bf16 on the CPU runs gemms on oneDNN: unset DL_GEMM=blas");
	*bf16 = 1;
	return 0;
}

int dl_backend_cpu_open(dl_backend **out, int threads, dl_err *err)
{
	return dl_backend_cpu_open_prec(out, threads, NULL, err);
}

int dl_backend_cpu_open_prec(dl_backend **out, int threads, const char *precision, dl_err *err)
{
	*out = NULL;
	int conv_mode, gemm_mode, bf16, rc;
	/* DL_WINO=0: no Winograd convolutions (conv_dnnl.c); 1 or unset: its rule */
	const char *wino = getenv("DL_WINO");
	if (wino && strcmp(wino, "0") && strcmp(wino, "1"))
		return dl_fail(err, DL_EUSAGE, "DL_WINO must be 0 or 1, not '%s'", wino);
	if ((rc = env_mode("DL_CONV", getenv("DL_CONV"), "im2col", &conv_mode, err)) ||
	    (rc = env_mode("DL_GEMM", getenv("DL_GEMM"), "blas", &gemm_mode, err)) ||
	    (rc = cpu_precision(precision, conv_mode, gemm_mode, &bf16, err)))
		return rc;
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (int)n : 1;
	}
	if (threads > 256)
		threads = 256;
	dl_backend *be = calloc(1, sizeof *be);
	cpu_impl *im = calloc(1, sizeof *im);
	if (!be || !im) {
		free(be);
		free(im);
		return dl_fail(err, DL_EFAIL, "cpu backend: out of memory");
	}
	im->conv_mode = cpu_dnnl_available() ? conv_mode : CPU_CONV_IM2COL;
	im->conv_wino = wino && !strcmp(wino, "0") ? 0 : -1;
	im->gemm_mode = cpu_dnnl_available() ? gemm_mode : CPU_GEMM_BLAS;
	im->bf16 = bf16;
	be->ops = &cpu_ops;
	be->threads = threads;
	im->nt = threads;
	im->scratch = calloc((size_t)threads, sizeof *im->scratch);
	if (!im->scratch) {
		free(im);
		free(be);
		return dl_fail(err, DL_EFAIL, "cpu backend: out of memory");
	}
	for (int i = 0; i < threads; i++) {
		if (cpu_scratch_col(&im->scratch[i], CPU_COL_FLOATS)) {
			for (int j = 0; j < i; j++)
				free(im->scratch[j].col);
			free(im->scratch);
			free(im);
			free(be);
			return dl_fail(err, DL_EFAIL, "cpu backend: out of memory for scratch");
		}
	}
	be->impl = im;
	if (cpu_pool_start(im, threads)) {
		cpu_release(be);
		return dl_fail(err, DL_EFAIL, "cpu backend: cannot start %d threads", threads);
	}
	/* Our pool threads each call a single-threaded sgemm (see cpu.h). */
	openblas_set_num_threads(1);
	*out = be;
	return 0;
}
