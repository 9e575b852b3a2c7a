/* Data-parallel training across processes: one rank per process, started
 * by mpirun or srun (Open MPI underneath; lib/dist/mpi.c), or a world of
 * one (lib/dist/none.c when the build has no MPI, or when dl-train was not
 * launched by an MPI launcher).
 *
 * What the training loop asks of it:
 * - gradient buckets: the gradient block is cut into buckets of at most
 *   `bucket` floats counted from its end (layers run backward last to
 *   first, and a layer's parameters sit after those of the layers before
 *   it, so the last bucket is ready first).  dl_dist_grads_ready(d, from)
 *   after a layer's backward says every gradient at index >= from is final;
 *   each bucket lying wholly there starts its sum (MPI_Iallreduce) at once,
 *   so communication overlaps the rest of backward.  dl_dist_grads_wait
 *   starts what is left and waits, at most the communication timeout.
 * - a blocking sum of a few floats (loss statistics, sync batch norm),
 * - agreement on per-step flags (a signal, a budget stop): the OR of every
 *   rank's flags, gathered by rank 0 point to point so that a rank that
 *   does not arrive in time is named,
 * - a broadcast from rank 0 (weights, buffers and optimizer state at each
 *   checkpoint, so every rank resumes from exactly what rank 0 saved).
 *
 * Every wait is bounded by the timeout: a dead or hung rank turns into an
 * error (DL_EFAIL, naming the rank when it can be told) instead of a hang.
 * After an error the object is failed: later calls return at once with the
 * same error, and the caller must end the job with dl_dist_abort (the
 * other ranks may be blocked inside MPI; only an abort frees them).
 *
 * Ownership: a dl_dist owns its MPI state; the buffers passed to it are
 * borrowed for the duration of the call (the gradient block from
 * dl_dist_grads_begin to dl_dist_grads_wait).  Buffers are in host memory
 * (the CPU backend); the CUDA backend's NCCL path lives in libdl-cuda.so.
 */
#ifndef DL_DIST_DIST_H
#define DL_DIST_DIST_H

#include <stddef.h>
#include <stdio.h>
#include "core/error.h"

typedef struct dl_dist dl_dist;

/* How many processes the launcher started (OMPI_COMM_WORLD_SIZE, PMI_SIZE,
 * PMIX_SIZE or SLURM_STEP_NUM_TASKS; 0 when not launched by one), and this
 * process's rank and local rank among them. */
int dl_dist_launched(int *rank, int *local_rank);

/* Joins the job.  Not launched (or launched alone): a world of one, no
 * MPI.  Launched as one of N > 1 ranks by a build without MPI: DL_EUSAGE
 * (it would train N separate copies).  timeout: seconds any one wait may
 * take (> 0). */
int dl_dist_open(dl_dist **out, double timeout, dl_err *err);
/* Leaves the job (MPI_Finalize); NULL is fine. */
void dl_dist_close(dl_dist *d);
/* Ends the whole job with exit code `code` (MPI_Abort), after the caller
 * printed why.  Returns only in a world of one. */
void dl_dist_abort(dl_dist *d, int code);

int dl_dist_rank(const dl_dist *d);
int dl_dist_size(const dl_dist *d);
int dl_dist_local_rank(const dl_dist *d);
/* "Open MPI 4.1.4" or "none" */
const char *dl_dist_engine(const dl_dist *d);

/* Makes the gradient buckets of a GPU backend go through NCCL (lib/dist/
 * nccl.h: communicator id from rank 0 over MPI, sums on their own stream).
 * Nothing to do for the CPU backend or a world of one.  DL_EUSAGE when the
 * build has no NCCL. */
struct dl_backend;
int dl_dist_use_device(dl_dist *d, struct dl_backend *be, dl_err *err);

/* Gradient buckets (see above).  grads: n floats; bucket: floats per
 * bucket (>= 1).  In a world of one these do nothing. */
void dl_dist_grads_begin(dl_dist *d, float *grads, size_t n, size_t bucket);
void dl_dist_grads_ready(dl_dist *d, size_t from);
int dl_dist_grads_wait(dl_dist *d, long step, dl_err *err);

/* x[0..n) = the sum over ranks (in place, blocking, bounded). */
int dl_dist_sum(dl_dist *d, float *x, size_t n, const char *what, long step, dl_err *err);
/* The same as a callback for layers (dl_reduce in nn/layer.h): errors are
 * kept in d and returned by the next call that can return one. */
void dl_dist_sum_cb(void *d, float *x, size_t n);
/* *all = OR over ranks of flags (bounded; names a rank that is late). */
int dl_dist_agree(dl_dist *d, long step, int flags, int *all, dl_err *err);
/* buf[0..bytes) from rank 0 to every rank (bounded). */
int dl_dist_bcast(dl_dist *d, void *buf, size_t bytes, long step, dl_err *err);
/* The first error a callback met (0 if none). */
int dl_dist_error(dl_dist *d, dl_err *err);

/* Seconds the gradient sums were in flight (first bucket started to last
 * completed, summed over steps) and seconds the loop waited for them after
 * backward (the part not hidden behind backward). */
void dl_dist_timing(const dl_dist *d, double *comm_s, double *wait_s);

/* Lists the ranks (host, pid, local rank), one line each, on rank 0's f;
 * for dl-train --devices.  Collective. */
int dl_dist_list(dl_dist *d, FILE *f, dl_err *err);

#endif
