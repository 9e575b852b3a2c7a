/* dl_dist on MPI (Open MPI; compiled only when the build found mpicc).
 *
 * Waits are MPI_Test polls against a deadline, never MPI_Wait, so a rank
 * that died or hangs becomes an error after the timeout.  Rank 0 decides
 * first: the other ranks wait 1.5 times as long, so that when a rank is
 * missing it is rank 0 (which gathers the per-step flags point to point)
 * that names it. */
#include "dist/dist.h"
#include "dist/nccl.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TAG_FLAGS 7101
#define TAG_VERDICT 7102

struct dl_dist {
	int mpi;                 /* MPI initialised (else a world of one) */
	int rank, size, local;
	double timeout;
	char engine[64];
	/* this step's gradient buckets */
	float *g;
	size_t n, cap;
	int nb, started, reqcap;
	MPI_Request *req;
	double t0;
	double comm_s, wait_s;
	long step;               /* the step last agreed on, for messages */
	/* per-step flags */
	int *in;
	MPI_Request *creq;
	int failed;
	dl_err err;              /* the first failure, returned again after */
	dl_nccl_api nccl_api;    /* GPU ranks: buckets through NCCL */
	dl_nccl *nccl;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double limit(const dl_dist *d)
{
	return d->rank == 0 ? d->timeout : d->timeout * 1.5 + 1.0;
}

/* Polls until every request is complete (0) or the deadline passed (1).
 * Spins for the first millisecond, then sleeps 50 us between tests. */
static int poll_all(int n, MPI_Request *r, double secs)
{
	double start = now(), end = start + secs;
	for (;;) {
		int done = 0;
		MPI_Testall(n, r, &done, MPI_STATUSES_IGNORE);
		if (done)
			return 0;
		double t = now();
		if (t > end)
			return 1;
		if (t - start > 1e-3) {
			struct timespec ts = { 0, 50000 };
			nanosleep(&ts, NULL);
		}
	}
}

/* A collective that did not complete in time: records the failure (kept
 * for later calls) and returns it.  With two ranks the missing one is the
 * other; with more, the step flags (dl_dist_agree) name a rank that did not
 * finish its step, but inside a collective every rank has arrived and which
 * one stopped cannot be told. */
static int late(dl_dist *d, dl_err *err, const char *what, long step)
{
	if (!d->failed) {
		d->failed = 1;
		if (d->size == 2)
			dl_fail(&d->err, DL_EFAIL, "rank %d did not take part in %s at step %ld within "
				"%.0f s (--comm-timeout): it died or hangs", 1 - d->rank, what, step,
				limit(d));
		else
			dl_fail(&d->err, DL_EFAIL, "%s at step %ld did not complete within %.0f s "
				"(--comm-timeout) on rank %d: another rank died or hangs", what, step,
				limit(d), d->rank);
	}
	if (err)
		*err = d->err;
	return d->err.code;
}

static int failed(dl_dist *d, dl_err *err)
{
	if (err)
		*err = d->err;
	return d->err.code;
}

int dl_dist_open(dl_dist **out, double timeout, dl_err *err)
{
	*out = NULL;
	dl_dist *d = calloc(1, sizeof *d);
	if (!d)
		return dl_fail(err, DL_EFAIL, "out of memory");
	d->size = 1;
	d->timeout = timeout;
	snprintf(d->engine, sizeof d->engine, "none");
	int rank, local, n = dl_dist_launched(&rank, &local);
	if (n < 1) {
		*out = d;
		return 0;
	}
	if (MPI_Init(NULL, NULL) != MPI_SUCCESS) {
		free(d);
		return dl_fail(err, DL_EFAIL, "MPI_Init failed (rank %d of %d)", rank, n);
	}
	d->mpi = 1;
	MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
	MPI_Comm_size(MPI_COMM_WORLD, &d->size);
	MPI_Comm node;
	MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node);
	MPI_Comm_rank(node, &d->local);
	MPI_Comm_free(&node);
	char v[MPI_MAX_LIBRARY_VERSION_STRING];
	int len;
	MPI_Get_library_version(v, &len);
	v[strcspn(v, ",\n")] = 0;
	snprintf(d->engine, sizeof d->engine, "%.63s", v);
	d->in = calloc((size_t)d->size * 2, sizeof *d->in);
	d->creq = calloc((size_t)d->size * 2, sizeof *d->creq);
	if (!d->in || !d->creq) {
		dl_dist_close(d);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	*out = d;
	return 0;
}

void dl_dist_close(dl_dist *d)
{
	if (!d)
		return;
	if (d->mpi && d->size > 1 && !d->failed) {
		/* no rank leaves before rank 0 has written its checkpoint: a
		 * launcher ends the job when the first rank exits with an error */
		MPI_Request r;
		MPI_Ibarrier(MPI_COMM_WORLD, &r);
		poll_all(1, &r, limit(d));
	}
	if (d->nccl)
		d->nccl_api.close(d->nccl);
	if (d->mpi)
		MPI_Finalize();
	free(d->req);
	free(d->in);
	free(d->creq);
	free(d);
}

void dl_dist_abort(dl_dist *d, int code)
{
	if (d && d->mpi && d->size > 1) {
		fflush(stderr);
		MPI_Abort(MPI_COMM_WORLD, code);
	}
}

int dl_dist_rank(const dl_dist *d) { return d->rank; }
int dl_dist_size(const dl_dist *d) { return d->size; }
int dl_dist_local_rank(const dl_dist *d) { return d->local; }
const char *dl_dist_engine(const dl_dist *d) { return d->engine; }

int dl_dist_use_device(dl_dist *d, struct dl_backend *be, dl_err *err)
{
	if (d->size < 2 || !strcmp(be->ops->name, "cpu") || d->nccl)
		return 0;
	int rc = dl_nccl_load(&d->nccl_api, err);
	if (rc)
		return rc;
	unsigned char id[DL_NCCL_ID_BYTES] = { 0 };
	char msg[200] = "";
	float bad = d->rank == 0 && d->nccl_api.id(id, msg, sizeof msg) ? 1.0f : 0.0f;
	if ((rc = dl_dist_sum(d, &bad, 1, "the NCCL setup", 0, err)))
		return rc;
	if (bad > 0)
		return dl_fail(err, DL_EUSAGE, "rank 0 could not make the NCCL id%s%s",
			       *msg ? ": " : "", msg);
	if ((rc = dl_dist_bcast(d, id, sizeof id, 0, err)))
		return rc;
	if (d->nccl_api.open(&d->nccl, be, id, d->size, d->rank, msg, sizeof msg))
		return dl_fail(err, DL_EFAIL, "rank %d: %s", d->rank, msg);
	return 0;
}

void dl_dist_grads_begin(dl_dist *d, float *grads, size_t n, size_t bucket)
{
	d->started = d->nb = 0;
	if (d->size < 2 || d->failed || !n)
		return;
	d->g = grads;
	d->n = n;
	d->cap = bucket ? bucket : 1;
	size_t nb = (n + d->cap - 1) / d->cap;
	if ((int)nb > d->reqcap) {
		MPI_Request *r = realloc(d->req, nb * sizeof *r);
		if (!r) {
			d->failed = 1;
			dl_fail(&d->err, DL_EFAIL, "out of memory for %zu gradient buckets", nb);
			return;
		}
		d->req = r;
		d->reqcap = (int)nb;
	}
	d->nb = (int)nb;
	d->t0 = 0;
}

/* Bucket k (0: the last floats of the block) is [lo, hi). */
static void bucket(const dl_dist *d, int k, size_t *lo, size_t *hi)
{
	*hi = d->n - (size_t)k * d->cap;
	*lo = *hi > d->cap ? *hi - d->cap : 0;
}

void dl_dist_grads_ready(dl_dist *d, size_t from)
{
	if (d->failed)
		return;
	while (d->started < d->nb) {
		size_t lo, hi;
		bucket(d, d->started, &lo, &hi);
		if (lo < from)
			break;
		if (!d->t0)
			d->t0 = now();
		if (d->nccl) {
			char msg[200];
			if (d->nccl_api.sum(d->nccl, d->g + lo, hi - lo, msg, sizeof msg)) {
				d->failed = 1;
				dl_fail(&d->err, DL_EFAIL, "rank %d: %s", d->rank, msg);
				return;
			}
		} else {
			MPI_Iallreduce(MPI_IN_PLACE, d->g + lo, (int)(hi - lo), MPI_FLOAT, MPI_SUM,
				       MPI_COMM_WORLD, &d->req[d->started]);
		}
		d->started++;
	}
	if (d->started && !d->nccl) {
		int done;   /* drives the sums in flight forward (MPI progresses inside calls) */
		MPI_Testall(d->started, d->req, &done, MPI_STATUSES_IGNORE);
	}
}

int dl_dist_grads_wait(dl_dist *d, long step, dl_err *err)
{
	if (d->failed)
		return failed(d, err);
	if (!d->nb)
		return 0;
	dl_dist_grads_ready(d, 0);
	if (d->failed)
		return failed(d, err);
	double t = now();
	if (d->nccl) {
		char msg[200];
		int w = d->nccl_api.wait(d->nccl, limit(d), msg, sizeof msg);
		if (w == 1)
			return late(d, err, "the gradient all-reduce (NCCL)", step);
		if (w) {
			d->failed = 1;
			dl_fail(&d->err, DL_EFAIL, "rank %d: %s", d->rank, msg);
			return failed(d, err);
		}
	} else if (poll_all(d->nb, d->req, limit(d))) {
		return late(d, err, "the gradient all-reduce", step);
	}
	double e = now();
	d->wait_s += e - t;
	d->comm_s += e - d->t0;
	d->nb = d->started = 0;
	return 0;
}

int dl_dist_sum(dl_dist *d, float *x, size_t n, const char *what, long step, dl_err *err)
{
	if (d->failed)
		return failed(d, err);
	if (d->size < 2 || !n)
		return 0;
	MPI_Request r;
	MPI_Iallreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r);
	if (poll_all(1, &r, limit(d)))
		return late(d, err, what, step);
	return 0;
}

void dl_dist_sum_cb(void *ctx, float *x, size_t n)
{
	dl_dist *d = ctx;
	dl_dist_sum(d, x, n, "the batch-norm statistics sum", d->step, NULL);
}

int dl_dist_error(dl_dist *d, dl_err *err)
{
	return d->failed ? failed(d, err) : 0;
}

int dl_dist_agree(dl_dist *d, long step, int flags, int *all, dl_err *err)
{
	*all = flags;
	d->step = step;
	if (d->failed)
		return failed(d, err);
	if (d->size < 2)
		return 0;
	int P = d->size, msg[2] = { (int)step, flags };
	if (d->rank != 0) {
		MPI_Isend(msg, 2, MPI_INT, 0, TAG_FLAGS, MPI_COMM_WORLD, &d->creq[0]);
		MPI_Irecv(all, 1, MPI_INT, 0, TAG_VERDICT, MPI_COMM_WORLD, &d->creq[1]);
		if (poll_all(2, d->creq, limit(d))) {
			d->failed = 1;
			return dl_fail(&d->err, DL_EFAIL, "rank 0 did not answer at step %ld within %.0f s "
				       "(--comm-timeout; seen by rank %d): it died or hangs", step,
				       limit(d), d->rank), failed(d, err);
		}
		return 0;
	}
	for (int p = 1; p < P; p++)
		MPI_Irecv(d->in + 2 * p, 2, MPI_INT, p, TAG_FLAGS, MPI_COMM_WORLD, &d->creq[p - 1]);
	if (poll_all(P - 1, d->creq, limit(d))) {
		char who[256] = "";
		size_t len = 0;
		int late = 0;
		for (int p = 1; p < P; p++) {
			int done = 0;
			MPI_Test(&d->creq[p - 1], &done, MPI_STATUS_IGNORE);
			if (!done && len < sizeof who - 16) {
				len += (size_t)snprintf(who + len, sizeof who - len, "%s%d", late ? ", " : "", p);
				late++;
			}
		}
		d->failed = 1;
		return dl_fail(&d->err, DL_EFAIL, "rank%s %s did not reach the end of step %ld within %.0f s "
			       "(--comm-timeout): %s", late > 1 ? "s" : "", who, step, limit(d),
			       late > 1 ? "they died or hang" : "it died or hangs"), failed(d, err);
	}
	for (int p = 1; p < P; p++) {
		if (d->in[2 * p] != (int)step) {
			d->failed = 1;
			return dl_fail(&d->err, DL_EFAIL, "rank %d is at step %d while rank 0 is at step %ld "
				       "(the ranks lost step)", p, d->in[2 * p], step), failed(d, err);
		}
		*all |= d->in[2 * p + 1];
	}
	for (int p = 1; p < P; p++)
		MPI_Isend(all, 1, MPI_INT, p, TAG_VERDICT, MPI_COMM_WORLD, &d->creq[p - 1]);
	if (poll_all(P - 1, d->creq, limit(d)))
		return late(d, err, "the step's stop flags", step);
	return 0;
}

int dl_dist_bcast(dl_dist *d, void *buf, size_t bytes, long step, dl_err *err)
{
	if (d->failed)
		return failed(d, err);
	if (d->size < 2)
		return 0;
	const size_t chunk = (size_t)1 << 30;
	for (size_t off = 0; off < bytes; off += chunk) {
		size_t n = bytes - off < chunk ? bytes - off : chunk;
		MPI_Request r;
		MPI_Ibcast((char *)buf + off, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD, &r);
		if (poll_all(1, &r, limit(d)))
			return late(d, err, "the broadcast of rank 0's state", step);
	}
	return 0;
}

void dl_dist_timing(const dl_dist *d, double *comm_s, double *wait_s)
{
	*comm_s = d->comm_s;
	*wait_s = d->wait_s;
}

int dl_dist_list(dl_dist *d, FILE *f, dl_err *err)
{
	enum { W = 256 };
	char line[W], host[128] = "?";
	gethostname(host, sizeof host - 1);
	snprintf(line, sizeof line, "rank\t%d of %d\t%s pid %ld, local rank %d, %s", d->rank, d->size,
		 host, (long)getpid(), d->local, d->engine);
	if (!d->mpi) {
		fprintf(f, "rank\t0 of 1 (not launched by mpirun/srun)\n");
		return 0;
	}
	char *all = d->rank == 0 ? malloc((size_t)d->size * W) : NULL;
	if (d->rank == 0 && !all)
		return dl_fail(err, DL_EFAIL, "out of memory");
	MPI_Gather(line, W, MPI_CHAR, all, W, MPI_CHAR, 0, MPI_COMM_WORLD);
	if (all)
		for (int p = 0; p < d->size; p++)
			fprintf(f, "%s\n", all + (size_t)p * W);
	free(all);
	return 0;
}
