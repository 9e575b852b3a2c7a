/* The bf16 link's conv ops (ops.h conv2d_bf16_link): under --precision
 * bf16 the tensor between a conv and a batch norm that is its only reader,
 * either way round, travels in bf16 with its gradient (flags DL_LINK_X:
 * the conv's x and dx; DL_LINK_Y: its y and dy), so neither the conv nor
 * the batch norm (bn.h's modes) moves fp32 activations between them, and
 * the conv converts no bf16 input.  oneDNN's direct bf16 kernels read and
 * write bf16 NHWC as it is (conv_dnnl.c, CPU_DNNL_LX and CPU_DNNL_LY).
 *
 * conv2d_bf16_link says 1 only where those kernels take the forward and
 * the weight gradient.  A pass that still does not run there (a failed
 * call, a batch whose geometry the rules send elsewhere) with only y and
 * dy in bf16 runs the fp32 op and converts in place: y is written in fp32
 * and narrowed front to back, dy widened back to front, each by one thread
 * (the element written never overlaps one not yet read).  That is why
 * those buffers must have room for floats.  A bf16 x belongs to the layer
 * before and stays as it is for the backward: such a pass records the
 * fault for the error op instead. */
#include "backend/cpu/cpu.h"

#include <string.h>

#define LINK_OPS(flags)                                                                  \
	(((flags) & DL_LINK_X ? CPU_DNNL_LX : 0) | ((flags) & DL_LINK_Y ? CPU_DNNL_LY : 0) | \
	 CPU_DNNL_PAIR)

int cpu_conv2d_bf16_link(dl_backend *be, const dl_conv_geom *g, int bias)
{
	cpu_impl *im = cpu_of(be);
	if (cpu_conv_gemm_wanted(im, g, CPU_DNNL_FWD) ||
	    cpu_conv_gemm_wanted(im, g, CPU_DNNL_BWD_W))
		return 0;
	return cpu_dnnl_link_ok(be, g, bias);
}

static size_t out_elems(const dl_conv_geom *g)
{
	return (size_t)g->n * g->oh * g->ow * g->k;
}

void cpu_conv2d_fwd_train_h(dl_backend *be, const dl_conv_geom *g, const void *x, const float *w,
			    const float *b, void *y, float *saved, int flags)
{
	cpu_impl *im = cpu_of(be);
	cpu_dnnl_saved_clear(saved);
	if (!cpu_conv_gemm_wanted(im, g, CPU_DNNL_FWD) &&
	    !cpu_dnnl_conv_pair(be, CPU_DNNL_FWD | LINK_OPS(flags), g, x, w, b, y, NULL,
				(flags & DL_LINK_X) ? NULL : saved))
		return;
	if (flags & DL_LINK_X) {
		cpu_fault(im, "conv2d_fwd_train_h", "a bf16 input off oneDNN's bf16 kernels");
		return;
	}
	float *yf = y;
	cpu_conv2d_fwd(be, g, x, w, b, yf);
	if (flags & DL_LINK_Y) {
		uint16_t *yh = y;
		size_t n = out_elems(g);
		for (size_t i = 0; i < n; i++)
			yh[i] = cpu_bf16_round(yf[i]);
	}
}

/* dy's bf16 widened to floats in place; returns it */
static float *widen(const dl_conv_geom *g, void *dy)
{
	float *f = dy;
	const uint16_t *h = dy;
	for (size_t i = out_elems(g); i-- > 0;)
		f[i] = cpu_bf16_wide(h[i]);
	return f;
}

void cpu_conv2d_bwd_h(dl_backend *be, const dl_conv_geom *g, const void *x, void *dy,
		      const float *w, const float *saved, float *dw, float *db, void *dx, int flags)
{
	cpu_impl *im = cpu_of(be);
	int ops = LINK_OPS(flags);
	if (cpu_conv_gemm_wanted(im, g, CPU_DNNL_BWD_W) ||
	    cpu_dnnl_conv_pair(be, CPU_DNNL_BWD_W | ops, g, x, dy, NULL, dw, db, (void *)saved)) {
		if (flags & DL_LINK_X) {
			cpu_fault(im, "conv2d_bwd_h", "a bf16 input off oneDNN's bf16 kernels");
			return;
		}
		float *f = flags & DL_LINK_Y ? widen(g, dy) : dy;
		cpu_conv2d_bwd_filter(be, g, x, f, dw, db);
		if (dx)
			cpu_conv2d_bwd_data(be, g, f, w, dx);
		return;
	}
	if (!dx || !cpu_dnnl_conv_pair(be, CPU_DNNL_BWD_DATA | ops, g, dy, w, NULL, dx, NULL, NULL))
		return;
	if (flags & DL_LINK_X)
		cpu_fault(im, "conv2d_bwd_h", "a bf16 gradient off oneDNN's bf16 kernels");
	else
		cpu_conv2d_bwd_data(be, g, flags & DL_LINK_Y ? widen(g, dy) : dy, w, dx);
}
