/* The layer kinds, one registration line each: DL_LAYER_KIND(name) for the
 * kind dl_layer_<name> defined in lib/nn/layers/.  The order is the order
 * of the "known:" list in messages.  Included by lib/nn/layer.h (extern
 * declarations) and lib/nn/layer.c (the lookup table); no include guard. */
DL_LAYER_KIND(conv2d)
DL_LAYER_KIND(dense)
DL_LAYER_KIND(flatten)
DL_LAYER_KIND(maxpool)
DL_LAYER_KIND(relu)
DL_LAYER_KIND(avgpool)
DL_LAYER_KIND(gap)
DL_LAYER_KIND(leaky_relu)
DL_LAYER_KIND(tanh)
DL_LAYER_KIND(sigmoid)
DL_LAYER_KIND(gelu)
DL_LAYER_KIND(add)
DL_LAYER_KIND(batchnorm)
DL_LAYER_KIND(concat)
DL_LAYER_KIND(dropout)
DL_LAYER_KIND(hardswish)
