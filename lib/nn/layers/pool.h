/* maxpool's and avgpool's options (lib/nn/layers/pool.c). */
#ifndef DL_NN_LAYERS_POOL_H
#define DL_NN_LAYERS_POOL_H

#include "nn/layer.h"

typedef struct dl_pool_opts {
	int size;       /* square window */
	int stride;
	int pad;        /* cells on every side, <= size / 2 */
} dl_pool_opts;

/* l's options; NULL when l is not a maxpool or avgpool layer. */
const dl_pool_opts *dl_pool_opts_of(const dl_layer *l);

#endif
