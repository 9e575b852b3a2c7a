/* Batch assembly from a dataset in (device = host) memory.  Threads split
 * the batch; every output element is computed the same way for any
 * thread count, and augmentation choices come from dl_hash_u64 (see
 * backend.h), so they do not depend on threads either. */
#include "backend/cpu/cpu.h"

typedef struct gather_job {
	const uint8_t *src;
	const uint32_t *idx;
	size_t n;
	int h, w, c;
	const dl_norm *norm;
	const dl_aug *aug;
	float *out;
} gather_job;

static float norm_px(const dl_norm *nm, int ch, uint8_t v)
{
	if (!nm)
		return v;
	int k = nm->c > 0 ? ch % nm->c : 0;
	return ((float)v * nm->scale - nm->mean[k]) / nm->std[k];
}

/* out[i, y, x, ch] = norm(src[idx[i], y + dy - pad, x' + dx - pad, ch]) with
 * x' = w - 1 - x when flipped; cells outside the image are pixel 0. */
CPU_SIMD static void gather_u8_task(void *arg, int tid, int nt)
{
	const gather_job *j = arg;
	const dl_aug *a = j->aug;
	size_t lo, hi, sample = (size_t)j->h * j->w * j->c;
	cpu_range(j->n, tid, nt, &lo, &hi);
	float zero[DL_NORM_MAX_C];
	for (int ch = 0; ch < DL_NORM_MAX_C; ch++)
		zero[ch] = norm_px(j->norm, ch, 0);
	for (size_t i = lo; i < hi; i++) {
		const uint8_t *s = j->src + (size_t)j->idx[i] * sample;
		float *o = j->out + i * sample;
		if (!a || (a->pad == 0 && !a->flip)) {
			for (size_t e = 0; e < sample; e++)
				o[e] = norm_px(j->norm, (int)(e % (size_t)j->c), s[e]);
			continue;
		}
		int span = 2 * a->pad + 1;
		int oy = a->pad ? (int)(dl_hash_u64(a->seed, 3 * i) % (uint64_t)span) - a->pad : 0;
		int ox = a->pad ? (int)(dl_hash_u64(a->seed, 3 * i + 1) % (uint64_t)span) - a->pad : 0;
		int flip = a->flip && (dl_hash_u64(a->seed, 3 * i + 2) >> 63);
		for (int y = 0; y < j->h; y++) {
			int sy = y + oy;
			for (int x = 0; x < j->w; x++) {
				int sx = (flip ? j->w - 1 - x : x) + ox;
				float *px = o + ((size_t)y * j->w + x) * j->c;
				if (sy < 0 || sy >= j->h || sx < 0 || sx >= j->w) {
					for (int ch = 0; ch < j->c; ch++)
						px[ch] = zero[ch % DL_NORM_MAX_C];
					continue;
				}
				const uint8_t *sp = s + ((size_t)sy * j->w + sx) * j->c;
				for (int ch = 0; ch < j->c; ch++)
					px[ch] = norm_px(j->norm, ch, sp[ch]);
			}
		}
	}
}

void cpu_gather_u8(dl_backend *be, const uint8_t *src, const uint32_t *idx, int n,
		   int h, int w, int c, const dl_norm *norm, const dl_aug *aug, float *out)
{
	gather_job j = { src, idx, n > 0 ? (size_t)n : 0, h, w, c, norm, aug, out };
	cpu_run_n(cpu_of(be), j.n * (size_t)h * w * c, 1 << 16, gather_u8_task, &j);
}

void cpu_gather_i32(dl_backend *be, const int32_t *src, const uint32_t *idx, int n,
		    int32_t *out)
{
	(void)be;
	for (int i = 0; i < n; i++)
		out[i] = src[idx[i]];
}

void cpu_gather_f32(dl_backend *be, const float *src, const uint32_t *idx, int n, int k,
		    float *out)
{
	(void)be;
	for (int i = 0; i < n; i++)
		for (int e = 0; e < k; e++)
			out[(size_t)i * k + e] = src[(size_t)idx[i] * k + e];
}
