/* dense's options (lib/nn/layers/dense.c). */
#ifndef DL_NN_LAYERS_DENSE_H
#define DL_NN_LAYERS_DENSE_H

#include "nn/layer.h"

typedef struct dl_dense_opts {
	int units;      /* outputs */
	int bias;       /* 1: has a bias */
} dl_dense_opts;

/* l's options; NULL when l is not a dense layer. */
const dl_dense_opts *dl_dense_opts_of(const dl_layer *l);

#endif
