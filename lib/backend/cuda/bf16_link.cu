/* The bf16 link between a conv and its batch norm (ops.h conv2d_bf16_link):
 * not on CUDA, whose convolutions already take and give their tensors in
 * the precision cuDNN runs them in.  conv2d_bf16_link says 0, so a model
 * never calls the other four here; a call anyway records the error (the
 * error op reports it) and writes nothing. */
#include "backend/cuda/cuda.h"

static void cu_link_unsupported(dl_backend *be, const char *op)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, op);
	cu_fail(im, __FILE__, __LINE__, op, "no bf16 link on CUDA (conv2d_bf16_link says 0)");
}

int cu_conv2d_bf16_link(dl_backend *be, const dl_conv_geom *g, int bias)
{
	(void)be, (void)g, (void)bias;
	return 0;
}

void cu_conv2d_fwd_train_h(dl_backend *be, const dl_conv_geom *g, const void *x, const float *w,
			   const float *b, void *y, float *saved, int flags)
{
	(void)g, (void)x, (void)w, (void)b, (void)y, (void)saved, (void)flags;
	cu_link_unsupported(be, "conv2d_fwd_train_h");
}

void cu_conv2d_bwd_h(dl_backend *be, const dl_conv_geom *g, const void *x, void *dy,
		     const float *w, const float *saved, float *dw, float *db, void *dx, int flags)
{
	(void)g, (void)x, (void)dy, (void)w, (void)saved, (void)dw, (void)db, (void)dx, (void)flags;
	cu_link_unsupported(be, "conv2d_bwd_h");
}

void cu_bn_fwd_train_h(dl_backend *be, int rows, int c, const void *x, const float *gamma,
		       const float *beta, float eps, float momentum, float *run_mean,
		       float *run_var, float *save_mean, float *save_invstd, float *relu_coef,
		       void *y, int flags)
{
	(void)rows, (void)c, (void)x, (void)gamma, (void)beta, (void)eps, (void)momentum;
	(void)run_mean, (void)run_var, (void)save_mean, (void)save_invstd, (void)relu_coef;
	(void)y, (void)flags;
	cu_link_unsupported(be, "bn_fwd_train_h");
}

void cu_bn_bwd_h(dl_backend *be, int rows, int c, const void *x, const void *dy,
		 const float *gamma, const float *save_mean, const float *save_invstd,
		 const float *relu_coef, void *dx, float *dgamma, float *dbeta, int flags)
{
	(void)rows, (void)c, (void)x, (void)dy, (void)gamma, (void)save_mean, (void)save_invstd;
	(void)relu_coef, (void)dx, (void)dgamma, (void)dbeta, (void)flags;
	cu_link_unsupported(be, "bn_bwd_h");
}
