/* Kernel source text for --format c (c_kernels.c), one per layer kind. */
#ifndef DL_EXPORT_C_KERNELS_H
#define DL_EXPORT_C_KERNELS_H

extern const char k_conv2d[], k_dense[], k_maxpool[], k_relu[], k_leaky_relu[], k_tanh[],
	k_sigmoid[], k_gelu[], k_batchnorm[], k_avgpool[], k_gap[], k_add[], k_concat[],
	k_hardswish[];

#endif
