/* The shared part of the oneDNN primitive caches; see dnnl_cache.h. */
#include "backend/cpu/cpu.h"
#include "backend/cpu/dnnl_cache.h"

#ifdef DL_HAVE_DNNL

#include <stdlib.h>

int cpu_dnnl_ctx_init(cpu_dnnl_ctx *cx)
{
	if (dnnl_engine_create(&cx->eng, dnnl_cpu, 0) != dnnl_success ||
	    dnnl_stream_create(&cx->strm, cx->eng, dnnl_stream_default_flags) != dnnl_success)
		return -1;
	return 0;
}

void cpu_dnnl_ctx_release(cpu_dnnl_ctx *cx)
{
	free(cx->bf[0]);
	free(cx->bf[1]);
	if (cx->strm)
		dnnl_stream_destroy(cx->strm);
	if (cx->eng)
		dnnl_engine_destroy(cx->eng);
	cx->bf[0] = cx->bf[1] = NULL;
	cx->bf_cap[0] = cx->bf_cap[1] = 0;
	cx->strm = NULL;
	cx->eng = NULL;
}

void *cpu_dnnl_lookup(cpu_dnnl_ctx *cx, void *slots, int n, size_t size,
		      int (*same)(const void *slot, const void *key), const void *key, int *hit)
{
	cx->clock++;
	char *lru = slots;
	for (int i = 0; i < n; i++) {
		char *s = (char *)slots + (size_t)i * size;
		unsigned long used = *(const unsigned long *)s;
		if (used && same(s, key)) {
			*hit = 1;
			return s;
		}
		if (used < *(const unsigned long *)lru)
			lru = s;
	}
	*hit = 0;
	return lru;
}

void cpu_dnnl_destroy(dnnl_primitive_t *ps, size_t np, dnnl_memory_t *ms, size_t nm)
{
	for (size_t i = 0; i < np; i++)
		if (ps[i])
			dnnl_primitive_destroy(ps[i]);
	for (size_t i = 0; i < nm; i++)
		if (ms[i])
			dnnl_memory_destroy(ms[i]);
}

int cpu_dnnl_exec(cpu_dnnl_ctx *cx, dnnl_primitive_t p, int n, const dnnl_exec_arg_t *a)
{
	if (dnnl_primitive_execute(p, cx->strm, n, a) != dnnl_success)
		return -1;
	return dnnl_stream_wait(cx->strm) == dnnl_success ? 0 : -1;
}

int cpu_dnnl_slot(cpu_dnnl_ctx *cx, int slot, dnnl_memory_t m)
{
	const dnnl_memory_desc_t *md;
	if (dnnl_memory_get_memory_desc(m, &md) != dnnl_success)
		return -1;
	size_t bytes = dnnl_memory_desc_get_size(md);
	if (bytes > cx->bf_cap[slot]) {
		void *p = cpu_aligned_alloc(bytes);
		if (!p)
			return -1;
		free(cx->bf[slot]);
		cx->bf[slot] = p;
		cx->bf_cap[slot] = bytes;
	}
	return dnnl_memory_set_data_handle(m, cx->bf[slot]) == dnnl_success ? 0 : -1;
}

int cpu_dnnl_convert(cpu_dnnl_ctx *cx, int slot, dnnl_primitive_t cvt, dnnl_memory_t f32,
		     dnnl_memory_t to, const float *src)
{
	if (cpu_dnnl_slot(cx, slot, to) ||
	    dnnl_memory_set_data_handle(f32, (void *)src) != dnnl_success)
		return -1;
	dnnl_exec_arg_t ra[2] = { { DNNL_ARG_FROM, f32 }, { DNNL_ARG_TO, to } };
	return cpu_dnnl_exec(cx, cvt, 2, ra);
}

#else

/* built without oneDNN: nothing here (ISO C wants a declaration) */
typedef int cpu_dnnl_cache_unused;

#endif
