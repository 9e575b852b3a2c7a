/* Softmax, softmax cross-entropy with label smoothing, regression losses.
 * One warp per row for the softmax family.  Per-row (or per-block) loss
 * terms go to the workspace as doubles and one block adds them to the
 * device stats in a fixed order (cu_sum_to_scalar): no host sync, no
 * float atomics, the same sums every run. */
#include "backend/cuda/cuda.h"

#define WARPS 8   /* rows per block of the softmax kernels */

__device__ static float warp_max(float v)
{
	for (int o = 16; o > 0; o /= 2)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

__device__ static double warp_sum(double v)
{
	for (int o = 16; o > 0; o /= 2)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

/* The first index of the row maximum (the CPU's argmax), by warp. */
__device__ static int warp_argmax(const float *z, int k, float *mx)
{
	int lane = threadIdx.x & 31, am = -1;
	float m = 0;
	for (int j = lane; j < k; j += 32)
		if (am < 0 || z[j] > m) {
			m = z[j];
			am = j;
		}
	for (int o = 16; o > 0; o /= 2) {
		float om = __shfl_xor_sync(0xffffffffu, m, o);
		int oa = __shfl_xor_sync(0xffffffffu, am, o);
		if (oa >= 0 && (am < 0 || om > m || (om == m && oa < am))) {
			m = om;
			am = oa;
		}
	}
	*mx = m;
	return am;
}

/* part [n, 2]: loss, correct of each row */
__global__ void xent_k(int n, int k, const float *logits, const int32_t *labels, float s,
		       float grad_scale, float *dlogits, double *part)
{
	int row = blockIdx.x * WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
	if (row >= n)
		return;
	const float *z = logits + (size_t)row * k;
	float mx;
	int am = warp_argmax(z, k, &mx);
	double sum = 0, zsum = 0;
	for (int j = lane; j < k; j += 32) {
		sum += expf(z[j] - mx);
		zsum += (double)z[j] - (double)mx;
	}
	sum = warp_sum(sum);
	zsum = warp_sum(zsum);
	double lse = log(sum);
	int y = labels[row];
	bool ok = y >= 0 && y < k;
	if (lane == 0) {
		double zy = ok ? (double)z[y] - (double)mx : 0;
		/* (1 - s) nll[y] + s mean_j nll[j], nll[j] = lse - (z[j] - max) */
		double loss = (1 - (double)s) * (lse - zy);
		if (s != 0)
			loss += (double)s * (lse - zsum / k);
		part[2 * (size_t)row] = loss;
		part[2 * (size_t)row + 1] = am == y ? 1.0 : 0.0;
	}
	if (dlogits) {
		float inv = (float)(1.0 / sum), off = s / (float)k;
		float *d = dlogits + (size_t)row * k;
		for (int j = lane; j < k; j += 32) {
			float p = expf(z[j] - mx) * inv;
			d[j] = (p - off - (j == y ? 1 - s : 0.0f)) * grad_scale;
		}
	}
}

void cu_softmax_xent(dl_backend *be, int n, int k, const float *logits, const int32_t *labels,
		     float smoothing, float grad_scale, float *dlogits, float *stats)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "softmax_xent");
	if (n <= 0 || k <= 0)
		return;
	double *part = (double *)cu_scratch(im, 2 * (size_t)n * sizeof(double));
	if (!part)
		return;
	xent_k<<<(unsigned)(n + WARPS - 1) / WARPS, 32 * WARPS, 0, im->stream>>>(
		n, k, logits, labels, smoothing, grad_scale, dlogits, part);
	CU_LAUNCHED();
	cu_sum_to_scalar(im, part, n, 2, stats, 1);
	cu_sum_to_scalar(im, part + 1, n, 2, stats + 1, 1);
}

__global__ void softmax_k(int n, int k, const float *logits, float *probs)
{
	int row = blockIdx.x * WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
	if (row >= n)
		return;
	const float *z = logits + (size_t)row * k;
	float mx = -INFINITY;
	for (int j = lane; j < k; j += 32)
		mx = fmaxf(mx, z[j]);
	mx = warp_max(mx);
	double sum = 0;
	for (int j = lane; j < k; j += 32)
		sum += expf(z[j] - mx);
	float inv = (float)(1.0 / warp_sum(sum));
	for (int j = lane; j < k; j += 32)
		probs[(size_t)row * k + j] = expf(z[j] - mx) * inv;
}

void cu_softmax(dl_backend *be, int n, int k, const float *logits, float *probs)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "softmax");
	if (n <= 0 || k <= 0)
		return;
	softmax_k<<<(unsigned)(n + WARPS - 1) / WARPS, 32 * WARPS, 0, im->stream>>>(
		n, k, logits, probs);
	CU_LAUNCHED();
}

#define RB 256   /* threads per block of the regression loss */

/* part [blocks, 3]: each block's sums of l, |e|, e^2 (tree in shared memory) */
__global__ void regress_k(dl_reg_kind kind, size_t total, const float *pred, const float *target,
			  float delta, float grad_scale, float *dpred, double *part)
{
	__shared__ double sh[3][RB];
	double a[3] = { 0, 0, 0 };
	for (size_t i = blockIdx.x * (size_t)RB + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * RB) {
		float e = pred[i] - target[i], ae = fabsf(e), l, d;
		if (kind == DL_REG_HUBER && ae >= delta) {
			l = delta * (ae - 0.5f * delta);
			d = e > 0 ? delta : -delta;
		} else if (kind == DL_REG_HUBER) {
			l = 0.5f * e * e;
			d = e;
		} else {
			l = e * e;
			d = 2 * e;
		}
		a[0] += l;
		a[1] += ae;
		a[2] += (double)e * e;
		if (dpred)
			dpred[i] = d * grad_scale;
	}
	for (int v = 0; v < 3; v++)
		sh[v][threadIdx.x] = a[v];
	__syncthreads();
	for (int w = RB / 2; w > 0; w /= 2) {
		if ((int)threadIdx.x < w)
			for (int v = 0; v < 3; v++)
				sh[v][threadIdx.x] += sh[v][threadIdx.x + w];
		__syncthreads();
	}
	if (threadIdx.x == 0)
		for (int v = 0; v < 3; v++)
			part[3 * (size_t)blockIdx.x + v] = sh[v][0];
}

void cu_regress_loss(dl_backend *be, dl_reg_kind kind, int n, int k, const float *pred,
		     const float *target, float delta, float grad_scale, float *dpred,
		     float *stats)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "regress_loss");
	size_t total = n > 0 && k > 0 ? (size_t)n * (size_t)k : 0;
	if (!total)
		return;
	unsigned blocks = cu_blocks(total, RB);
	if (blocks > 1024)
		blocks = 1024;
	double *part = (double *)cu_scratch(im, 3 * (size_t)blocks * sizeof(double));
	if (!part)
		return;
	regress_k<<<blocks, RB, 0, im->stream>>>(kind, total, pred, target, delta, grad_scale,
						 dpred, part);
	CU_LAUNCHED();
	for (int v = 0; v < 3; v++)
		cu_sum_to_scalar(im, part + v, (int)blocks, 3, stats + v, 1);
}
