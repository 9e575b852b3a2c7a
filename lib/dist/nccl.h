/* Data-parallel training on GPUs: what libdl-cuda.so exports for NCCL
 * (lib/backend/cuda/nccl.cu; built when nccl.h is found), resolved with
 * dlsym by lib/dist/nccl_load.c, so the tools never link NCCL either.
 *
 * One rank per GPU.  Rank 0 makes the communicator's id (dl_nccl_id), the
 * MPI ranks broadcast it, each rank opens its end on its backend's GPU.
 * Sums run on a stream of their own: dl_nccl_sum enqueues one bucket after
 * everything the backend's compute stream has enqueued so far (an event),
 * so it overlaps the rest of backward; dl_nccl_wait waits (polling, at most
 * `timeout` seconds: then the communicator is aborted) and makes the
 * compute stream wait for the sums.  Messages go to msg[0..cap). */
#ifndef DL_DIST_NCCL_H
#define DL_DIST_NCCL_H

#include <stddef.h>
#include "backend/backend.h"

#define DL_NCCL_ID_BYTES 128
#define DL_NCCL_ABI (2000 + (int)sizeof(dl_backend_ops))

typedef struct dl_nccl dl_nccl;

typedef int (*dl_nccl_abi_fn)(void);
/* 0, or -1 with a message */
typedef int (*dl_nccl_id_fn)(unsigned char *id, char *msg, size_t cap);
typedef int (*dl_nccl_open_fn)(dl_nccl **out, dl_backend *be, const unsigned char *id,
			       int nranks, int rank, char *msg, size_t cap);
typedef int (*dl_nccl_sum_fn)(dl_nccl *c, float *x, size_t n, char *msg, size_t cap);
/* 0 done, 1 timed out (communicator aborted), -1 failed */
typedef int (*dl_nccl_wait_fn)(dl_nccl *c, double timeout, char *msg, size_t cap);
typedef void (*dl_nccl_close_fn)(dl_nccl *c);

typedef struct dl_nccl_api {
	dl_nccl_id_fn id;
	dl_nccl_open_fn open;
	dl_nccl_sum_fn sum;
	dl_nccl_wait_fn wait;
	dl_nccl_close_fn close;
} dl_nccl_api;

/* Resolves the API from libdl-cuda.so; DL_EUSAGE with the reason when the
 * library is absent or was built without NCCL. */
int dl_nccl_load(dl_nccl_api *api, dl_err *err);

#endif
