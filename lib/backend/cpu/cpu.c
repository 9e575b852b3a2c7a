/* The CPU backend: open/release, memory, and the ops table.
 * Device memory is host memory; every op is a plain C loop or an OpenBLAS
 * sgemm, parallelised by the backend's own thread pool (threads.c), except
 * channel-rich convolutions, which go to oneDNN when it is built in
 * (conv_dnnl.c; DL_CONV=auto|im2col|dnnl chooses at open). */
#include "backend/cpu/cpu.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void cpu_release(dl_backend *be)
{
	cpu_impl *im = be->impl;
	if (im) {
		cpu_pool_stop(im);
		cpu_dnnl_release(im);
		for (int i = 0; im->scratch && i < im->nt; i++) {
			free(im->scratch[i].col);
			free(im->scratch[i].part);
		}
		free(im->scratch);
		free(im);
	}
	free(be);
}

static void *cpu_alloc(dl_backend *be, size_t bytes)
{
	(void)be;
	return cpu_aligned_alloc(bytes);
}

static void cpu_free(dl_backend *be, void *p)
{
	(void)be;
	free(p);
}

static void cpu_copy(dl_backend *be, void *dst, const void *src, size_t bytes)
{
	(void)be;
	if (bytes)
		memmove(dst, src, bytes);
}

static void cpu_zero(dl_backend *be, void *p, size_t bytes)
{
	(void)be;
	if (bytes)
		memset(p, 0, bytes);
}

static void cpu_sync(dl_backend *be)
{
	(void)be;
}

static const dl_backend_ops cpu_ops = {
	.name = "cpu",
	.release = cpu_release,
	.alloc = cpu_alloc,
	.free = cpu_free,
	.to_device = cpu_copy,
	.to_host = cpu_copy,
	.zero = cpu_zero,
	.sync = cpu_sync,
	.gemm = cpu_gemm,
	.bias_add = cpu_bias_add,
	.bias_grad = cpu_bias_grad,
	.conv2d_fwd = cpu_conv2d_fwd,
	.conv2d_bwd_data = cpu_conv2d_bwd_data,
	.conv2d_bwd_filter = cpu_conv2d_bwd_filter,
	.maxpool_fwd = cpu_maxpool_fwd,
	.maxpool_bwd = cpu_maxpool_bwd,
	.avgpool_fwd = cpu_avgpool_fwd,
	.avgpool_bwd = cpu_avgpool_bwd,
	.bn_fwd_train = cpu_bn_fwd_train,
	.bn_fwd_infer = cpu_bn_fwd_infer,
	.bn_bwd = cpu_bn_bwd,
	.dropout = cpu_dropout,
	.axpby = cpu_axpby,
	.copy2d = cpu_copy2d,
	.act_fwd = cpu_act_fwd,
	.act_bwd = cpu_act_bwd,
	.softmax_xent = cpu_softmax_xent,
	.softmax = cpu_softmax,
	.regress_loss = cpu_regress_loss,
	.sgd_update = cpu_sgd_update,
	.adam_update = cpu_adam_update,
	.sumsq = cpu_sumsq,
	.clip_scale = cpu_clip_scale,
	.gather_u8 = cpu_gather_u8,
	.gather_i32 = cpu_gather_i32,
	.gather_f32 = cpu_gather_f32,
	.bn_stats = cpu_bn_stats,
	.bn_fwd_given = cpu_bn_fwd_given,
	.bn_bwd_given = cpu_bn_bwd_given,
};

int dl_backend_cpu_open(dl_backend **out, int threads, dl_err *err)
{
	*out = NULL;
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
