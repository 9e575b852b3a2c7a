/* Batch assembly from a device-resident dataset: u8 images gathered by
 * index, normalised, and augmented (random crop after zero padding, flip)
 * with the choices of dl_hash_u64 exactly as backend.h defines them, so
 * the GPU picks the same crops and flips as the CPU. */
#include "backend/cuda/cuda.h"

#include <string.h>

#define GRID_LOOP(i, n) \
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
	     i += (size_t)gridDim.x * blockDim.x)

struct gather_args {
	int h, w, c;
	int has_norm, has_aug;
	dl_norm norm;
	dl_aug aug;
};

__device__ static float norm_px(const gather_args &a, int ch, uint8_t v)
{
	if (!a.has_norm)
		return v;
	int k = a.norm.c > 0 ? ch % a.norm.c : 0;
	return ((float)v * a.norm.scale - a.norm.mean[k]) / a.norm.std[k];
}

/* one thread per output float: out[i, y, x, ch] */
__global__ void gather_u8_k(const uint8_t *src, const uint32_t *idx, size_t total,
			    gather_args a, float *out)
{
	size_t sample = (size_t)a.h * a.w * a.c;
	GRID_LOOP(e, total) {
		size_t i = e / sample, rem = e % sample;
		int ch = (int)(rem % (size_t)a.c);
		int x = (int)(rem / (size_t)a.c % (size_t)a.w);
		int y = (int)(rem / ((size_t)a.c * a.w));
		const uint8_t *s = src + (size_t)idx[i] * sample;
		if (!a.has_aug || (a.aug.pad == 0 && !a.aug.flip)) {
			out[e] = norm_px(a, ch, s[rem]);
			continue;
		}
		uint64_t span = 2 * (uint64_t)a.aug.pad + 1;
		int oy = a.aug.pad ? (int)(dl_hash_u64(a.aug.seed, 3 * i) % span) - a.aug.pad : 0;
		int ox = a.aug.pad ? (int)(dl_hash_u64(a.aug.seed, 3 * i + 1) % span) - a.aug.pad : 0;
		int flip = a.aug.flip && (dl_hash_u64(a.aug.seed, 3 * i + 2) >> 63);
		int sy = y + oy, sx = (flip ? a.w - 1 - x : x) + ox;
		uint8_t v = sy < 0 || sy >= a.h || sx < 0 || sx >= a.w
				    ? 0
				    : s[((size_t)sy * a.w + sx) * a.c + ch];
		out[e] = norm_px(a, ch, v);
	}
}

void cu_gather_u8(dl_backend *be, const uint8_t *src, const uint32_t *idx, int n, int h, int w,
		  int c, const dl_norm *norm, const dl_aug *aug, float *out)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "gather_u8");
	size_t total = n > 0 ? (size_t)n * h * w * c : 0;
	if (!total)
		return;
	gather_args a;
	memset(&a, 0, sizeof a);
	a.h = h;
	a.w = w;
	a.c = c;
	if (norm) {
		a.has_norm = 1;
		a.norm = *norm;
	}
	if (aug) {
		a.has_aug = 1;
		a.aug = *aug;
	}
	gather_u8_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(src, idx, total, a,
									     out);
	CU_LAUNCHED();
}

__global__ void gather_i32_k(const int32_t *src, const uint32_t *idx, int n, int32_t *out)
{
	GRID_LOOP(i, (size_t)n)
		out[i] = src[idx[i]];
}

void cu_gather_i32(dl_backend *be, const int32_t *src, const uint32_t *idx, int n, int32_t *out)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "gather_i32");
	if (n <= 0)
		return;
	gather_i32_k<<<cu_blocks((size_t)n, CU_T), CU_T, 0, im->stream>>>(src, idx, n, out);
	CU_LAUNCHED();
}

__global__ void gather_f32_k(const float *src, const uint32_t *idx, size_t total, int k,
			     float *out)
{
	GRID_LOOP(e, total)
		out[e] = src[(size_t)idx[e / (size_t)k] * k + e % (size_t)k];
}

void cu_gather_f32(dl_backend *be, const float *src, const uint32_t *idx, int n, int k,
		   float *out)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "gather_f32");
	size_t total = n > 0 && k > 0 ? (size_t)n * (size_t)k : 0;
	if (!total)
		return;
	gather_f32_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(src, idx, total, k,
									      out);
	CU_LAUNCHED();
}
