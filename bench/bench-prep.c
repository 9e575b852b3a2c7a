/* Decode + resize throughput of lib/image (bench/bench-prep drives it).
 *
 *   bench-prep-run LIST THREADS SIZE REPEATS
 *
 * LIST: one image path a line.  All files are read into memory first; then
 * THREADS threads take files from a shared counter, decode each to RGB
 * (dl_image_decode, want_c 3) and resize it to SIZE x SIZE.  The best of
 * REPEATS timed passes is printed as "images N seconds S images_per_s R". */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image/image.h"

struct file {
	char *name;
	void *data;
	size_t len;
};

struct work {
	struct file *f;
	int n, size;
	atomic_int next, failed;
};

static void *worker(void *arg)
{
	struct work *w = arg;
	for (;;) {
		int i = atomic_fetch_add(&w->next, 1);
		if (i >= w->n)
			return NULL;
		dl_image im, r;
		dl_err err;
		if (dl_image_decode(w->f[i].data, w->f[i].len, w->f[i].name, NULL, 3, &im, &err) ||
		    dl_image_resize(&im, w->size, w->size, &r, &err)) {
			fprintf(stderr, "bench-prep: %s\n", err.msg);
			atomic_fetch_add(&w->failed, 1);
			dl_image_free(&im);
			continue;
		}
		dl_image_free(&im);
		dl_image_free(&r);
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: bench-prep-run LIST THREADS SIZE REPEATS\n");
		return 2;
	}
	FILE *l = fopen(argv[1], "r");
	if (!l) {
		perror(argv[1]);
		return 4;
	}
	int threads = atoi(argv[2]), size = atoi(argv[3]), reps = atoi(argv[4]);
	if (threads < 1 || threads > 64 || size < 1 || reps < 1) {
		fprintf(stderr, "bench-prep-run: bad THREADS, SIZE or REPEATS\n");
		return 2;
	}
	struct work w = { 0 };
	int cap = 0;
	char line[4096];
	while (fgets(line, sizeof line, l)) {
		line[strcspn(line, "\n")] = 0;
		if (!line[0])
			continue;
		FILE *f = fopen(line, "rb");
		if (!f) {
			perror(line);
			return 4;
		}
		if (w.n == cap) {
			cap = cap ? 2 * cap : 1024;
			w.f = realloc(w.f, sizeof *w.f * (size_t)cap);
		}
		fseek(f, 0, SEEK_END);
		long len = ftell(f);
		fseek(f, 0, SEEK_SET);
		struct file *e = &w.f[w.n++];
		e->name = strdup(line);
		e->len = (size_t)len;
		e->data = malloc(e->len ? e->len : 1);
		if (fread(e->data, 1, e->len, f) != e->len) {
			perror(line);
			return 4;
		}
		fclose(f);
	}
	fclose(l);
	w.size = size;
	double best = 1e30;
	for (int r = 0; r < reps; r++) {
		atomic_store(&w.next, 0);
		pthread_t tid[64];
		double t0 = now();
		for (int t = 0; t < threads; t++)
			pthread_create(&tid[t], NULL, worker, &w);
		for (int t = 0; t < threads; t++)
			pthread_join(tid[t], NULL);
		double dt = now() - t0;
		if (dt < best)
			best = dt;
	}
	int failed = atomic_load(&w.failed);
	printf("images %d seconds %.4f images_per_s %.1f failed %d\n", w.n, best, w.n / best, failed);
	for (int i = 0; i < w.n; i++) {
		free(w.f[i].name);
		free(w.f[i].data);
	}
	free(w.f);
	return failed ? 1 : 0;
}
