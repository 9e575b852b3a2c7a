/* The activation kinds' options (lib/nn/layers/act.c). */
#ifndef DL_NN_LAYERS_ACT_H
#define DL_NN_LAYERS_ACT_H

#include "nn/layer.h"

typedef struct dl_act_opts {
	dl_act_kind act;   /* the backend's function */
	float slope;       /* leaky_relu's negative slope; 0 for the others */
} dl_act_opts;

/* l's options; NULL when l is not an activation layer. */
const dl_act_opts *dl_act_opts_of(const dl_layer *l);

#endif
