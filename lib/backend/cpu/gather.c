/* Batch assembly from a dataset in (device = host) memory.  Threads split
 * the batch; every output element is computed the same way for any
 * thread count. */
#include "backend/cpu/cpu.h"

typedef struct gather_job {
	const uint8_t *src;
	const uint32_t *idx;
	size_t n, sample;
	const dl_norm *norm;
	float *out;
} gather_job;

/* out[i, e] = (src[idx[i], e] * scale - mean[ch]) / std[ch], ch = e % c
 * (channel fastest); a NULL norm gives the raw byte values. */
static void gather_u8_task(void *arg, int tid, int nt)
{
	const gather_job *j = arg;
	const dl_norm *nm = j->norm;
	size_t lo, hi;
	cpu_range(j->n, tid, nt, &lo, &hi);
	for (size_t i = lo; i < hi; i++) {
		const uint8_t *s = j->src + (size_t)j->idx[i] * j->sample;
		float *o = j->out + i * j->sample;
		if (!nm) {
			for (size_t e = 0; e < j->sample; e++)
				o[e] = s[e];
			continue;
		}
		size_t c = nm->c > 0 ? (size_t)nm->c : 1;
		for (size_t e = 0; e < j->sample; e += c)
			for (size_t ch = 0; ch < c && e + ch < j->sample; ch++)
				o[e + ch] = ((float)s[e + ch] * nm->scale - nm->mean[ch]) / nm->std[ch];
	}
}

void cpu_gather_u8(dl_backend *be, const uint8_t *src, const uint32_t *idx, int n,
		   size_t sample, const dl_norm *norm, float *out)
{
	gather_job j = { src, idx, n > 0 ? (size_t)n : 0, sample, norm, out };
	cpu_run_n(cpu_of(be), j.n * sample, 1 << 16, gather_u8_task, &j);
}

void cpu_gather_i32(dl_backend *be, const int32_t *src, const uint32_t *idx, int n,
		    int32_t *out)
{
	(void)be;
	for (int i = 0; i < n; i++)
		out[i] = src[idx[i]];
}
