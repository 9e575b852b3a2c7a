/* Loading the CUDA backend library with its cuDNN/cuBLAS found where the
 * user has them (see cuda_find.c for the search order). */
#ifndef DL_BACKEND_CUDA_FIND_H
#define DL_BACKEND_CUDA_FIND_H

#include <stdio.h>

/* dlopen(path) that, when a dependency is missing, finds it in the CUDA
 * and Python package folders, preloads it and retries.  The handle, or
 * NULL with dlerror's (or the search's) message in why.  Each library
 * found by the search is reported on `note` (NULL: silent). */
void *dl_cuda_find_open(const char *path, char *why, size_t n, FILE *note);

#endif
