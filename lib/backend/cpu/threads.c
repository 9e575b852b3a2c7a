/* The CPU backend's thread pool and scratch buffers (see cpu.h). */
#include "backend/cpu/cpu.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Buffers of this size or more are 2 MiB aligned and advised as huge pages
 * (transparent huge pages in madvise mode): see cpu_aligned_alloc. */
#define CPU_HUGE_BYTES ((size_t)2 << 20)

typedef struct worker_arg {
	cpu_impl *im;
	int tid;
} worker_arg;

static void *worker_main(void *p)
{
	worker_arg wa = *(worker_arg *)p;
	cpu_impl *im = wa.im;
	free(p);
	unsigned seen = 0;
	pthread_mutex_lock(&im->mu);
	for (;;) {
		while (im->gen == seen && !im->quit)
			pthread_cond_wait(&im->wake, &im->mu);
		if (im->quit)
			break;
		seen = im->gen;
		cpu_task task = im->task;
		void *arg = im->arg;
		pthread_mutex_unlock(&im->mu);
		task(arg, wa.tid, im->nt);
		pthread_mutex_lock(&im->mu);
		if (--im->pending == 0)
			pthread_cond_signal(&im->done);
	}
	pthread_mutex_unlock(&im->mu);
	return NULL;
}

int cpu_pool_start(cpu_impl *im, int nt)
{
	im->nt = nt;
	if (pthread_mutex_init(&im->mu, NULL))
		return -1;
	if (pthread_cond_init(&im->wake, NULL) || pthread_cond_init(&im->done, NULL))
		return -1;
	if (nt < 2)
		return 0;
	im->workers = calloc((size_t)nt - 1, sizeof *im->workers);
	if (!im->workers)
		return -1;
	for (int i = 1; i < nt; i++) {
		worker_arg *wa = malloc(sizeof *wa);
		if (!wa)
			return -1;
		wa->im = im;
		wa->tid = i;
		if (pthread_create(&im->workers[i - 1], NULL, worker_main, wa)) {
			free(wa);
			return -1;
		}
		im->nstarted++;
	}
	return 0;
}

void cpu_pool_stop(cpu_impl *im)
{
	pthread_mutex_lock(&im->mu);
	im->quit = 1;
	pthread_cond_broadcast(&im->wake);
	pthread_mutex_unlock(&im->mu);
	for (int i = 0; i < im->nstarted; i++)
		pthread_join(im->workers[i], NULL);
	free(im->workers);
	pthread_cond_destroy(&im->wake);
	pthread_cond_destroy(&im->done);
	pthread_mutex_destroy(&im->mu);
}

void cpu_run(cpu_impl *im, cpu_task task, void *arg)
{
	if (im->nt < 2) {
		task(arg, 0, 1);
		return;
	}
	pthread_mutex_lock(&im->mu);
	im->task = task;
	im->arg = arg;
	im->pending = im->nt - 1;
	im->gen++;
	pthread_cond_broadcast(&im->wake);
	pthread_mutex_unlock(&im->mu);
	task(arg, 0, im->nt);
	pthread_mutex_lock(&im->mu);
	while (im->pending > 0)
		pthread_cond_wait(&im->done, &im->mu);
	pthread_mutex_unlock(&im->mu);
}

void cpu_run_n(cpu_impl *im, size_t n, size_t min_par, cpu_task task, void *arg)
{
	if (n < min_par)
		task(arg, 0, 1);
	else
		cpu_run(im, task, arg);
}

void *cpu_aligned_alloc(size_t bytes)
{
	void *p = NULL;
	size_t align = bytes >= CPU_HUGE_BYTES ? CPU_HUGE_BYTES : 64;
	if (posix_memalign(&p, align, bytes ? bytes : 64))
		return NULL;
	if (align == CPU_HUGE_BYTES)
		(void)madvise(p, bytes & ~(CPU_HUGE_BYTES - 1), MADV_HUGEPAGE);
	memset(p, 0, bytes);
	return p;
}

int cpu_grow(float **buf, size_t *cap, size_t floats)
{
	if (*cap >= floats)
		return 0;
	if (floats > SIZE_MAX / sizeof(float))
		return -1;
	float *p = cpu_aligned_alloc(floats * sizeof(float));
	if (!p)
		return -1;
	free(*buf);
	*buf = p;
	*cap = floats;
	return 0;
}

int cpu_scratch_col(cpu_scratch *s, size_t floats)
{
	return cpu_grow(&s->col, &s->col_cap, floats);
}

int cpu_scratch_part(cpu_scratch *s, size_t floats)
{
	return cpu_grow(&s->part, &s->part_cap, floats);
}
