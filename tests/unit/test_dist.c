/* Data-parallel pieces that need no second process: the hash skip behind
 * rank-independent randomness, batch slices, the launcher environment, a
 * world of one, and the --sync-bn ops (split over two simulated ranks whose
 * partial sums are added by hand, they must give what one process's batch
 * norm gives on the whole batch). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend_test.h"
#include "dist/dist.h"
#include "test.h"
#include "train/pass.h"

TEST(dist_hash_skip_shifts_the_counter)
{
	for (uint64_t s = 1; s < 5; s++)
		for (uint64_t i = 0; i < 50; i++)
			CHECK(dl_hash_u64(dl_hash_skip(s * 977, 123), i) == dl_hash_u64(s * 977, i + 123));
	CHECK(dl_hash_skip(42, 0) == 42);
}

TEST(dist_slices_cover_the_batch_once)
{
	for (int p = 1; p <= 5; p++)
		for (int n = p; n < 40; n++) {
			int next = 0;
			for (int r = 0; r < p; r++) {
				long a = (long)n * r / p, b = (long)n * (r + 1) / p;
				CHECK(a == next && b > a);
				next = (int)b;
			}
			CHECK(next == n);
		}
	dl_train_opts o = { .batch = 32 };
	int lo, count;
	dl_par_slice(&o, 17, &lo, &count);   /* one process: the whole batch */
	CHECK(lo == 0 && count == 17);
	dl_err err = { 0 };
	CHECK(dl_par_check(&o, 100, &err) == 0);
}

TEST(dist_launcher_environment)
{
	int rank, local;
	unsetenv("OMPI_COMM_WORLD_SIZE");
	unsetenv("PMI_SIZE");
	unsetenv("PMIX_SIZE");
	unsetenv("SLURM_STEP_NUM_TASKS");
	CHECK(dl_dist_launched(&rank, &local) == 0);
	setenv("SLURM_STEP_NUM_TASKS", "4", 1);
	setenv("SLURM_PROCID", "3", 1);
	setenv("SLURM_LOCALID", "1", 1);
	CHECK(dl_dist_launched(&rank, &local) == 4 && rank == 3 && local == 1);
	unsetenv("SLURM_STEP_NUM_TASKS");
	/* not launched: a world of one, without MPI */
	dl_dist *d = NULL;
	dl_err err = { 0 };
	CHECK(dl_dist_open(&d, 5, &err) == 0 && d);
	if (d) {
		CHECK(dl_dist_size(d) == 1 && dl_dist_rank(d) == 0);
		float x[2] = { 1, 2 };
		int all;
		CHECK(dl_dist_sum(d, x, 2, "x", 0, &err) == 0 && x[0] == 1 && x[1] == 2);
		CHECK(dl_dist_agree(d, 0, 5, &all, &err) == 0 && all == 5);
		dl_dist_close(d);
	}
}

/* batch norm over rows [0, rows) in one call, and split at `cut` as two
 * ranks with --sync-bn: outputs, running stats and dx agree */
TEST(dist_sync_bn_ops_equal_one_process)
{
	dl_backend *be;
	dl_err err = { 0 };
	if (dl_backend_cpu_open(&be, 2, &err)) {
		CHECK(0);
		return;
	}
	enum { ROWS = 300, C = 70, CUT = 113 };
	dl_rng r;
	dl_rng_seed(&r, 3);
	float *x = falloc(be, ROWS * C), *dy = falloc(be, ROWS * C), *g = falloc(be, C),
	      *b = falloc(be, C);
	fill(&r, x, ROWS * C, -1, 3);
	fill(&r, dy, ROWS * C, -1, 1);
	fill(&r, g, C, 0.5f, 1.5f);
	fill(&r, b, C, -0.5f, 0.5f);
	/* one process */
	float *y1 = falloc(be, ROWS * C), *dx1 = falloc(be, ROWS * C), *rm1 = falloc(be, C),
	      *rv1 = falloc(be, C), *sm1 = falloc(be, C), *si1 = falloc(be, C), *dg1 = falloc(be, C),
	      *db1 = falloc(be, C);
	for (int k = 0; k < C; k++)
		rv1[k] = 1;
	be->ops->bn_fwd_train(be, ROWS, C, x, g, b, 1e-5f, 0.1f, rm1, rv1, sm1, si1, NULL, y1);
	be->ops->bn_bwd(be, ROWS, C, x, dy, g, sm1, si1, NULL, dx1, dg1, db1);
	/* two ranks: rows [0, CUT) and [CUT, ROWS) */
	float *y2 = falloc(be, ROWS * C), *dx2 = falloc(be, ROWS * C), *rm2 = falloc(be, C),
	      *rv2 = falloc(be, C), *mean = falloc(be, C), *si2 = falloc(be, C),
	      *ta = falloc(be, 2 * C), *u = falloc(be, 2 * C), *sum = falloc(be, 2 * C);
	for (int k = 0; k < C; k++)
		rv2[k] = 1;
	const int lo[2] = { 0, CUT }, n[2] = { CUT, ROWS - CUT };
	be->ops->bn_stats(be, n[0], C, x, NULL, ta);
	be->ops->bn_stats(be, n[1], C, x + (size_t)CUT * C, NULL, u);
	for (int k = 0; k < C; k++)
		mean[k] = (ta[k] + u[k]) / ROWS;
	be->ops->bn_stats(be, n[0], C, x, mean, ta);
	be->ops->bn_stats(be, n[1], C, x + (size_t)CUT * C, mean, u);
	for (int k = 0; k < C; k++)
		sum[k] = ta[k] + u[k];
	for (int p = 0; p < 2; p++) {   /* each rank updates its own copy of the running stats */
		float *rm = p ? falloc(be, C) : rm2, *rv = p ? falloc(be, C) : rv2;
		if (p)
			for (int k = 0; k < C; k++)
				rv[k] = 1;
		be->ops->bn_fwd_given(be, n[p], C, ROWS, x + (size_t)lo[p] * C, g, b, 1e-5f, 0.1f, mean,
				      sum, rm, rv, si2, NULL, y2 + (size_t)lo[p] * C);
		if (p) {
			CHECK(memcmp(rm, rm2, C * sizeof *rm) == 0 && memcmp(rv, rv2, C * sizeof *rv) == 0);
			be->ops->free(be, rm);
			be->ops->free(be, rv);
		}
	}
	memset(ta, 0, 2 * C * sizeof *ta);
	memset(u, 0, 2 * C * sizeof *u);
	be->ops->bn_bwd(be, n[0], C, x, dy, g, mean, si2, NULL, NULL, ta, ta + C);
	be->ops->bn_bwd(be, n[1], C, x + (size_t)CUT * C, dy + (size_t)CUT * C, g, mean, si2, NULL,
			NULL, u, u + C);
	for (int k = 0; k < 2 * C; k++)
		sum[k] = ta[k] + u[k];
	for (int p = 0; p < 2; p++)
		be->ops->bn_bwd_given(be, n[p], C, ROWS, x + (size_t)lo[p] * C, dy + (size_t)lo[p] * C,
				      g, mean, si2, NULL, sum, sum + C, dx2 + (size_t)lo[p] * C);
	double ey = 0, edx = 0, es = 0;
	for (size_t i = 0; i < (size_t)ROWS * C; i++) {
		ey = fmax(ey, fabs(y1[i] - y2[i]));
		edx = fmax(edx, fabs(dx1[i] - dx2[i]));
	}
	for (int k = 0; k < C; k++) {
		es = fmax(es, fabs(rm1[k] - rm2[k]) + fabs(rv1[k] - rv2[k]) + fabs(si1[k] - si2[k]));
		es = fmax(es, fabs(dg1[k] - sum[k]) / (1 + fabs(dg1[k])) + fabs(db1[k] - sum[C + k]) / (1 + fabs(db1[k])));
	}
	CHECK_NEAR(ey, 0, 2e-5);
	CHECK_NEAR(edx, 0, 2e-5);
	CHECK_NEAR(es, 0, 2e-5);
	float *all[] = { x, dy, g, b, y1, dx1, rm1, rv1, sm1, si1, dg1, db1, y2, dx2, rm2, rv2, mean,
			 si2, ta, u, sum };
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		be->ops->free(be, all[i]);
	dl_backend_close(be);
}
