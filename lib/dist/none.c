/* The world of one: the build has no MPI (MPI=0 or no mpicc).  A process
 * that a launcher started as one of N > 1 ranks refuses to run. */
#include "dist/dist.h"

#include <stdlib.h>
#include <string.h>

struct dl_dist {
	int unused;
};

int dl_dist_open(dl_dist **out, double timeout, dl_err *err)
{
	(void)timeout;
	*out = NULL;
	int rank, local, n = dl_dist_launched(&rank, &local);
	if (n > 1)
		return dl_fail(err, DL_EUSAGE, "launched as rank %d of %d, but this build has no MPI "
			       "(built with MPI=0 or without mpicc): it would train %d separate copies; "
			       "install Open MPI (make deps) and rebuild", rank, n, n);
	if (!(*out = calloc(1, sizeof **out)))
		return dl_fail(err, DL_EFAIL, "out of memory");
	return 0;
}

void dl_dist_close(dl_dist *d) { free(d); }
void dl_dist_abort(dl_dist *d, int code) { (void)d; (void)code; }
int dl_dist_rank(const dl_dist *d) { (void)d; return 0; }
int dl_dist_size(const dl_dist *d) { (void)d; return 1; }
int dl_dist_local_rank(const dl_dist *d) { (void)d; return 0; }
const char *dl_dist_engine(const dl_dist *d) { (void)d; return "none"; }
int dl_dist_use_device(dl_dist *d, struct dl_backend *be, dl_err *err) { (void)d; (void)be; (void)err; return 0; }
void dl_dist_grads_begin(dl_dist *d, float *g, size_t n, size_t b) { (void)d; (void)g; (void)n; (void)b; }
void dl_dist_grads_ready(dl_dist *d, size_t from) { (void)d; (void)from; }
int dl_dist_grads_wait(dl_dist *d, long step, dl_err *err) { (void)d; (void)step; (void)err; return 0; }
void dl_dist_sum_cb(void *d, float *x, size_t n) { (void)d; (void)x; (void)n; }
int dl_dist_error(dl_dist *d, dl_err *err) { (void)d; (void)err; return 0; }

int dl_dist_sum(dl_dist *d, float *x, size_t n, const char *what, long step, dl_err *err)
{
	(void)d; (void)x; (void)n; (void)what; (void)step; (void)err;
	return 0;
}

int dl_dist_agree(dl_dist *d, long step, int flags, int *all, dl_err *err)
{
	(void)d; (void)step; (void)err;
	*all = flags;
	return 0;
}

int dl_dist_bcast(dl_dist *d, void *buf, size_t bytes, long step, dl_err *err)
{
	(void)d; (void)buf; (void)bytes; (void)step; (void)err;
	return 0;
}

void dl_dist_timing(const dl_dist *d, double *comm_s, double *wait_s)
{
	(void)d;
	*comm_s = *wait_s = 0;
}

int dl_dist_list(dl_dist *d, FILE *f, dl_err *err)
{
	(void)d; (void)err;
	fprintf(f, "rank\t0 of 1 (not launched by mpirun/srun; this build has no MPI)\n");
	return 0;
}
