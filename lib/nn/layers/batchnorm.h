/* batchnorm's options (lib/nn/layers/batchnorm.c). */
#ifndef DL_NN_LAYERS_BATCHNORM_H
#define DL_NN_LAYERS_BATCHNORM_H

#include "nn/layer.h"

typedef struct dl_batchnorm_opts {
	float eps;        /* added to the variance */
	float momentum;   /* running statistics: r = (1 - m) r + m batch */
} dl_batchnorm_opts;

/* l's options; NULL when l is not a batchnorm layer. */
const dl_batchnorm_opts *dl_batchnorm_opts_of(const dl_layer *l);

#endif
