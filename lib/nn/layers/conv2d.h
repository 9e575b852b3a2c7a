/* conv2d's options, as configure resolved them (lib/nn/layers/conv2d.c). */
#ifndef DL_NN_LAYERS_CONV2D_H
#define DL_NN_LAYERS_CONV2D_H

#include "nn/layer.h"

typedef struct dl_conv2d_opts {
	int filters;    /* output channels K */
	int size;       /* square kernel S x S */
	int stride;
	int pad;        /* cells on every side (pad=same resolved) */
	int bias;       /* 1: has a bias */
	int dilation;
	int groups;
} dl_conv2d_opts;

/* l's options; NULL when l is not a conv2d layer. */
const dl_conv2d_opts *dl_conv2d_opts_of(const dl_layer *l);

#endif
