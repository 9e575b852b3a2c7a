/* dropout's options (lib/nn/layers/dropout.c). */
#ifndef DL_NN_LAYERS_DROPOUT_H
#define DL_NN_LAYERS_DROPOUT_H

#include "nn/layer.h"

typedef struct dl_dropout_opts {
	float p;          /* probability of zeroing an element in training */
} dl_dropout_opts;

/* l's options; NULL when l is not a dropout layer. */
const dl_dropout_opts *dl_dropout_opts_of(const dl_layer *l);

#endif
