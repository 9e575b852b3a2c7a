/* Batch norm over x [rows, c] (NHWC flattened), per channel, with our own
 * kernels: the per-channel sums go through cu_colsum (fixed order, double
 * accumulation), so any eps works (cuDNN wants eps >= 1e-5), the running
 * variance update is exactly PyTorch's (unbiased, r = (1-m) r + m s), and
 * nothing waits for the host.
 *
 * Forward (training): sums of x and x^2 -> mean, biased var, invstd =
 * 1/sqrt(var + eps) (written to save_*), running stats updated; then
 * y = (x - mean) invstd gamma + beta.
 * Backward: sums of dy and dy (x - mean) -> dbeta += sum dy, dgamma +=
 * sum dy xhat; dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)).
 * A fused ReLU (relu_coef, ops.h): the forward keeps per-channel scale s =
 * invstd gamma and shift t = beta - mean s and writes y = max(fma(x, s, t), 0);
 * the backward takes dy as 0 where fma(x, s, t) <= 0: one explicit fused
 * multiply-add both ways, so both see the same bits. */
#include "backend/cuda/cuda.h"

struct bn_sums_x {
	const float *x;
	int c;
	__device__ void operator()(int r, int j, double *acc) const
	{
		double v = x[(size_t)r * c + j];
		acc[0] += v;
		acc[1] += v * v;
	}
};

struct bn_stats_epi {
	int rows;
	float eps, momentum;
	float *run_mean, *run_var, *save_mean, *save_invstd;
	__device__ void operator()(int j, const double *s) const
	{
		double mean = rows > 0 ? s[0] / rows : 0;
		double var = rows > 0 ? s[1] / rows - mean * mean : 0;
		if (var < 0)
			var = 0;
		save_mean[j] = (float)mean;
		save_invstd[j] = (float)(1.0 / sqrt(var + (double)eps));
		double unbiased = rows > 1 ? var * rows / (rows - 1) : var;
		if (run_mean)
			run_mean[j] = (1 - momentum) * run_mean[j] + momentum * (float)mean;
		if (run_var)
			run_var[j] = (1 - momentum) * run_var[j] + momentum * (float)unbiased;
	}
};

__global__ void bn_apply_k(size_t total, int c, const float *x, const float *mean,
			   const float *invstd, const float *gamma, const float *beta, float *y)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x) {
		int j = (int)(i % (size_t)c);
		float v = (x[i] - mean[j]) * invstd[j];
		y[i] = v * (gamma ? gamma[j] : 1.0f) + (beta ? beta[j] : 0.0f);
	}
}

__global__ void bn_relu_coef_k(int c, const float *mean, const float *invstd,
			       const float *gamma, const float *beta, float *coef)
{
	int j = blockIdx.x * blockDim.x + threadIdx.x;
	if (j < c) {
		float s = invstd[j] * (gamma ? gamma[j] : 1.0f);
		coef[j] = s;
		coef[c + j] = (beta ? beta[j] : 0.0f) - mean[j] * s;
	}
}

__device__ inline float bn_relu_in(float x, const float *coef, int c, int j)
{
	return __fmaf_rn(x, coef[j], coef[c + j]);
}

__global__ void bn_apply_relu_k(size_t total, int c, const float *x, const float *coef, float *y)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x) {
		int j = (int)(i % (size_t)c);
		float v = bn_relu_in(x[i], coef, c, j);
		y[i] = v > 0 ? v : 0.0f;
	}
}

void cu_bn_fwd_train(dl_backend *be, int rows, int c, const float *x, const float *gamma,
		     const float *beta, float eps, float momentum, float *run_mean,
		     float *run_var, float *save_mean, float *save_invstd, float *relu_coef,
		     float *y)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "bn_fwd_train");
	if (c <= 0)
		return;
	double *part = (double *)cu_scratch(im, cu_colsum_bytes(rows, c, 2));
	if (!part)
		return;
	bn_stats_epi epi = { rows, eps, momentum, run_mean, run_var, save_mean, save_invstd };
	cu_colsum<2>(im, rows, c, bn_sums_x{ x, c }, epi, part);
	size_t total = (size_t)rows * (size_t)c;
	if (relu_coef) {
		bn_relu_coef_k<<<cu_blocks((size_t)c, CU_T), CU_T, 0, im->stream>>>(
			c, save_mean, save_invstd, gamma, beta, relu_coef);
		CU_LAUNCHED();
	}
	if (!total)
		return;
	if (relu_coef)
		bn_apply_relu_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(total, c, x,
										  relu_coef, y);
	else
		bn_apply_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(total, c, x, save_mean,
									     save_invstd, gamma, beta, y);
	CU_LAUNCHED();
}

__global__ void bn_infer_k(size_t total, int c, const float *x, const float *gamma,
			   const float *beta, const float *rm, const float *rv, float eps, int relu,
			   float *y)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x) {
		int j = (int)(i % (size_t)c);
		float v = (x[i] - rm[j]) / sqrtf(rv[j] + eps);
		v = v * (gamma ? gamma[j] : 1.0f) + (beta ? beta[j] : 0.0f);
		y[i] = relu && !(v > 0) ? 0.0f : v;
	}
}

void cu_bn_fwd_infer(dl_backend *be, int rows, int c, const float *x, const float *gamma,
		     const float *beta, const float *run_mean, const float *run_var, float eps,
		     int relu, float *y)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "bn_fwd_infer");
	size_t total = (size_t)rows * (size_t)c;
	if (!total)
		return;
	bn_infer_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(
		total, c, x, gamma, beta, run_mean, run_var, eps, relu, y);
	CU_LAUNCHED();
}

struct bn_sums_dy {
	const float *x, *dy, *mean, *relu;
	int c;
	__device__ void operator()(int r, int j, double *acc) const
	{
		size_t i = (size_t)r * c + j;
		double d = relu && !(bn_relu_in(x[i], relu, c, j) > 0) ? 0.0f : dy[i];
		acc[0] += d;
		acc[1] += d * ((double)x[i] - (double)mean[j]);
	}
};

/* coef [2, c]: mean(dy), mean(dy xhat); parameter gradients accumulate */
struct bn_grad_epi {
	int rows;
	const float *invstd;
	float *dgamma, *dbeta, *coef;
	int c;
	__device__ void operator()(int j, const double *s) const
	{
		double sdy = s[0], sdyxhat = s[1] * (double)invstd[j];
		if (dbeta)
			dbeta[j] += (float)sdy;
		if (dgamma)
			dgamma[j] += (float)sdyxhat;
		coef[j] = rows > 0 ? (float)(sdy / rows) : 0.0f;
		coef[c + j] = rows > 0 ? (float)(sdyxhat / rows) : 0.0f;
	}
};

__global__ void bn_dx_k(size_t total, int c, const float *x, const float *dy,
			const float *gamma, const float *mean, const float *invstd,
			const float *coef, const float *relu, float *dx)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x) {
		int j = (int)(i % (size_t)c);
		float xhat = (x[i] - mean[j]) * invstd[j];
		float gm = gamma ? gamma[j] : 1.0f;
		float d = relu && !(bn_relu_in(x[i], relu, c, j) > 0) ? 0.0f : dy[i];
		dx[i] = gm * invstd[j] * (d - coef[j] - xhat * coef[c + j]);
	}
}

void cu_bn_bwd(dl_backend *be, int rows, int c, const float *x, const float *dy,
	       const float *gamma, const float *save_mean, const float *save_invstd,
	       const float *relu_coef, float *dx, float *dgamma, float *dbeta)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "bn_bwd");
	if (c <= 0)
		return;
	size_t pbytes = (cu_colsum_bytes(rows, c, 2) + 255) & ~(size_t)255;
	char *ws = (char *)cu_scratch(im, pbytes + 2 * (size_t)c * sizeof(float));
	if (!ws)
		return;
	float *coef = (float *)(ws + pbytes);
	bn_grad_epi epi = { rows, save_invstd, dgamma, dbeta, coef, c };
	cu_colsum<2>(im, rows, c, bn_sums_dy{ x, dy, save_mean, relu_coef, c }, epi, (double *)ws);
	size_t total = (size_t)rows * (size_t)c;
	if (!total || !dx)
		return;
	bn_dx_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(total, c, x, dy, gamma, save_mean,
								  save_invstd, coef, relu_coef, dx);
	CU_LAUNCHED();
}
