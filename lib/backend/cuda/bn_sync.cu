/* Batch norm with statistics over data-parallel ranks (--sync-bn; the
 * contract is in ops.h): not implemented on CUDA.  dl-train refuses
 * --sync-bn on a CUDA device before it gets here; a call anyway records
 * the error (the error op reports it) and does nothing. */
#include "backend/cuda/cuda.h"

static void cu_bn_sync_unsupported(dl_backend *be, const char *op)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, op);
	cu_fail(im, __FILE__, __LINE__, op, "not supported on CUDA (--sync-bn runs on the CPU backend)");
}

void cu_bn_stats(dl_backend *be, int rows, int c, const float *x, const float *mean, float *out)
{
	(void)rows, (void)c, (void)x, (void)mean, (void)out;
	cu_bn_sync_unsupported(be, "bn_stats");
}

void cu_bn_fwd_given(dl_backend *be, int rows, int c, long count, const float *x,
		     const float *gamma, const float *beta, float eps, float momentum,
		     const float *mean, const float *sqdev, float *run_mean, float *run_var,
		     float *save_invstd, float *relu_coef, float *y)
{
	(void)rows, (void)c, (void)count, (void)x, (void)gamma, (void)beta, (void)eps;
	(void)momentum, (void)mean, (void)sqdev, (void)run_mean, (void)run_var;
	(void)save_invstd, (void)relu_coef, (void)y;
	cu_bn_sync_unsupported(be, "bn_fwd_given");
}

void cu_bn_bwd_given(dl_backend *be, int rows, int c, long count, const float *x,
		     const float *dy, const float *gamma, const float *save_mean,
		     const float *save_invstd, const float *relu_coef, const float *dgamma,
		     const float *dbeta, float *dx)
{
	(void)rows, (void)c, (void)count, (void)x, (void)dy, (void)gamma, (void)save_mean;
	(void)save_invstd, (void)relu_coef, (void)dgamma, (void)dbeta, (void)dx;
	cu_bn_sync_unsupported(be, "bn_bwd_given");
}
