/* Helpers of the GPU suite; see gpu.h. */
#include "gpu.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

/* Read once before any test (a constructor): a bad DL_GPU_SEED is a usage
 * error of the runner (exit 2) before anything runs. */
static uint64_t suite_seed;

__attribute__((constructor)) static void seed_init(void)
{
	const char *s = getenv("DL_GPU_SEED");
	if (s && *s) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(s, &end, 10);
		if (*end || errno || *s == '-') {
			fprintf(stderr, "gpu-runner: DL_GPU_SEED=%s: expected a non-negative integer\n", s);
			exit(2);
		}
		suite_seed = v;
	} else {
		suite_seed = (uint64_t)time(NULL);
	}
	fprintf(stderr, "gpu suite: seed %llu (DL_GPU_SEED=%llu repeats this run)\n",
		(unsigned long long)suite_seed, (unsigned long long)suite_seed);
}

uint64_t gpu_seed(void)
{
	return suite_seed;
}

void gpu_check_error(dl_test_ctx *t, gpu_pair *p)
{
	dl_err err = { 0 };
	if (p->gpu && p->gpu->ops->error(p->gpu, &err)) {
		fprintf(stderr, "  %s: %s\n", t->name, err.msg);
		t->failed = 1;
	}
}

void gpu_fill_nan(gpu_pair *p, gpu_buf *b)
{
	for (size_t i = 0; i < b->n; i++)
		b->h[i] = NAN;
	p->cpu->ops->to_device(p->cpu, b->c, b->h, b->n * sizeof(float));
	p->gpu->ops->to_device(p->gpu, b->g, b->h, b->n * sizeof(float));
}

int gpu_open(dl_test_ctx *t, gpu_pair *p, const char *precision)
{
	dl_err err = { 0 };
	memset(p, 0, sizeof *p);
	/* per test: the seed and the test's name (not its address: ASLR) */
	uint64_t h = 1469598103934665603ull;
	for (const char *c = t->name; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ull;
	p->rng = dl_hash_u64(suite_seed, h);
	if (dl_backend_open(&p->cpu, "cpu", 0, &err) ||
	    dl_backend_open_opts(&p->gpu, &(dl_backend_opts){ .device = "cuda", .precision = precision,
				 .log = dl_logger_stderr("gpu-runner") }, &err)) {
		fprintf(stderr, "  %s: %s\n", t->name, err.msg);
		t->failed = 1;
		gpu_close(p);
		return -1;
	}
	return 0;
}

void gpu_close(gpu_pair *p)
{
	dl_err err = { 0 };
	if (p->gpu && p->gpu->ops->error(p->gpu, &err))
		fprintf(stderr, "gpu suite: %s\n", err.msg);
	dl_backend_close(p->gpu);
	dl_backend_close(p->cpu);
	p->gpu = p->cpu = NULL;
}

float gpu_rand(gpu_pair *p, float lo, float hi)
{
	p->rng++;
	return lo + (hi - lo) * dl_hash_uniform(p->rng, 0x51);
}

static gpu_buf upload(gpu_pair *p, gpu_buf b)
{
	size_t bytes = b.n * sizeof(float);
	b.c = p->cpu->ops->alloc(p->cpu, bytes ? bytes : 4);
	b.g = p->gpu->ops->alloc(p->gpu, bytes ? bytes : 4);
	if (!b.h || !b.c || !b.g) {
		fprintf(stderr, "gpu suite: out of memory for %zu floats\n", b.n);
		abort();
	}
	p->cpu->ops->to_device(p->cpu, b.c, b.h, bytes);
	p->gpu->ops->to_device(p->gpu, b.g, b.h, bytes);
	return b;
}

gpu_buf gpu_rand_buf(gpu_pair *p, size_t n, float lo, float hi)
{
	gpu_buf b = { n, malloc((n ? n : 1) * sizeof(float)), NULL, NULL };
	for (size_t i = 0; b.h && i < n; i++)
		b.h[i] = gpu_rand(p, lo, hi);
	return upload(p, b);
}

gpu_buf gpu_buf_from(gpu_pair *p, const float *src, size_t n)
{
	gpu_buf b = { n, malloc((n ? n : 1) * sizeof(float)), NULL, NULL };
	if (b.h && n)
		memcpy(b.h, src, n * sizeof(float));
	return upload(p, b);
}

gpu_buf gpu_nan_buf(gpu_pair *p, size_t n)
{
	gpu_buf b = { n, malloc((n ? n : 1) * sizeof(float)), NULL, NULL };
	for (size_t i = 0; b.h && i < n; i++)
		b.h[i] = NAN;
	return upload(p, b);
}

void gpu_buf_free(gpu_pair *p, gpu_buf *b)
{
	p->cpu->ops->free(p->cpu, b->c);
	p->gpu->ops->free(p->gpu, b->g);
	free(b->h);
	memset(b, 0, sizeof *b);
}

void *gpu_bytes_c(gpu_pair *p, const void *src, size_t bytes)
{
	void *d = p->cpu->ops->alloc(p->cpu, bytes ? bytes : 4);
	if (d)
		p->cpu->ops->to_device(p->cpu, d, src, bytes);
	return d;
}

void *gpu_bytes_g(gpu_pair *p, const void *src, size_t bytes)
{
	void *d = p->gpu->ops->alloc(p->gpu, bytes ? bytes : 4);
	if (d)
		p->gpu->ops->to_device(p->gpu, d, src, bytes);
	return d;
}

/* Downloads both sides into fresh host arrays. */
static void both(gpu_pair *p, const gpu_buf *b, float **c, float **g)
{
	size_t bytes = (b->n ? b->n : 1) * sizeof(float);
	*c = malloc(bytes);
	*g = malloc(bytes);
	if (!*c || !*g)
		abort();
	p->cpu->ops->to_host(p->cpu, *c, b->c, b->n * sizeof(float));
	p->gpu->ops->to_host(p->gpu, *g, b->g, b->n * sizeof(float));
}

double gpu_relerr(gpu_pair *p, const gpu_buf *b)
{
	float *c, *g;
	both(p, b, &c, &g);
	double num = 0, den = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (!isfinite(c[i]) || !isfinite(g[i])) {
			num = INFINITY;
			break;
		}
		double d = (double)g[i] - c[i];
		num += d * d;
		den += (double)c[i] * c[i];
	}
	free(c);
	free(g);
	if (isinf(num))
		return INFINITY;
	return sqrt(num) / (den > 1e-30 ? sqrt(den) : 1e-15);
}

size_t gpu_zero_mismatch(gpu_pair *p, const gpu_buf *b)
{
	float *c, *g;
	both(p, b, &c, &g);
	size_t bad = 0;
	for (size_t i = 0; i < b->n; i++)
		bad += (c[i] == 0) != (g[i] == 0);
	free(c);
	free(g);
	return bad;
}
