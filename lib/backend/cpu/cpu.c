/* The CPU backend: open/release, memory, and the ops table.
 * Device memory is host memory; every op is a plain C loop or an OpenBLAS
 * sgemm, parallelised by the backend's own thread pool (threads.c), except
 * channel-rich convolutions, which go to oneDNN when it is built in
 * (conv_dnnl.c; DL_CONV=auto|im2col|dnnl chooses at open). */
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

/* --precision on the CPU: fp32, or bf16 convolutions where the CPU and
 * oneDNN have bf16 kernels (conv_dnnl.c); tf32 is a GPU format.  Returns
 * 0 and sets *bf16, or an error. */
static int cpu_precision(const char *precision, const char *conv_env, int *bf16, dl_err *err)
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
	if (conv_env && !strcmp(conv_env, "im2col"))
		return dl_fail(err, DL_EUSAGE,
			       "--precision bf16 on the CPU runs convolutions on oneDNN: unset DL_CONV=im2col");
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
	int bf16, rc = cpu_precision(precision, getenv("DL_CONV"), &bf16, err);
	if (rc)
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
	const char *mode = getenv("DL_CONV");
	if (mode && *mode && strcmp(mode, "auto") && strcmp(mode, "im2col") &&
	    strcmp(mode, "dnnl")) {
		free(be);
		free(im);
		return dl_fail(err, DL_EUSAGE, "DL_CONV=%s: expected auto, im2col or dnnl", mode);
	}
	if (mode && !strcmp(mode, "dnnl") && !cpu_dnnl_available()) {
		free(be);
		free(im);
		return dl_fail(err, DL_EUSAGE, "DL_CONV=dnnl: built without oneDNN (make DNNL=1)");
	}
	im->conv_mode = !mode || !*mode || !strcmp(mode, "auto") ? CPU_CONV_AUTO
			: !strcmp(mode, "im2col") ? CPU_CONV_IM2COL : CPU_CONV_DNNL;
	if (!cpu_dnnl_available())
		im->conv_mode = CPU_CONV_IM2COL;
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
