/* The bf16 link (ops.h conv2d_bf16_link): under --precision bf16 a conv
 * whose output only a batch norm reads writes it in bf16, and takes its
 * gradient back in bf16, so neither the conv nor the batch norm (bn.c's
 * bn_fwd_train_h, bn_bwd_h) moves fp32 activations between them, and the
 * backward skips converting dy.  oneDNN's direct bf16 kernels read and
 * write bf16 NHWC as it is (conv_dnnl.c, CPU_DNNL_H).
 *
 * conv2d_bf16_link says 1 only where those kernels take the forward and
 * the weight gradient.  A pass that still does not run there (a failed
 * call, a batch whose geometry the rules send elsewhere) runs the fp32 op
 * and converts in place: y is written in fp32 and narrowed front to back,
 * dy widened back to front, each by one thread (the element written
 * never overlaps one not yet read).  That is why the buffers must have
 * room for floats. */
#include "backend/cpu/cpu.h"

#include <string.h>

int cpu_conv2d_bf16_link(dl_backend *be, const dl_conv_geom *g, int bias)
{
	cpu_impl *im = cpu_of(be);
	if (!im->bf16 || cpu_conv_gemm_wanted(im, g, CPU_DNNL_FWD) ||
	    cpu_conv_gemm_wanted(im, g, CPU_DNNL_BWD_W))
		return 0;
	return cpu_dnnl_link_ok(be, g, bias);
}

static size_t out_elems(const dl_conv_geom *g)
{
	return (size_t)g->n * g->oh * g->ow * g->k;
}

/* Rounds f to bf16, nearest even (a NaN stays a NaN) */
static uint16_t to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40);
	return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

void cpu_conv2d_fwd_train_h(dl_backend *be, const dl_conv_geom *g, const float *x,
			    const float *w, const float *b, uint16_t *y, float *saved)
{
	cpu_dnnl_saved_clear(saved);
	if (!cpu_conv_gemm_wanted(cpu_of(be), g, CPU_DNNL_FWD) &&
	    !cpu_dnnl_conv_pair(be, CPU_DNNL_FWD | CPU_DNNL_PAIR | CPU_DNNL_H, g, x, w, b,
				(float *)(void *)y, NULL, saved))
		return;
	float *yf = (float *)(void *)y;
	cpu_conv2d_fwd(be, g, x, w, b, yf);
	size_t n = out_elems(g);
	for (size_t i = 0; i < n; i++)
		y[i] = to_bf16(yf[i]);
}

/* dy's bf16 widened to floats in place; returns it */
static float *widen(const dl_conv_geom *g, uint16_t *dy)
{
	float *f = (float *)(void *)dy;
	for (size_t i = out_elems(g); i-- > 0;) {
		uint32_t u = (uint32_t)dy[i] << 16;
		memcpy(&f[i], &u, sizeof u);
	}
	return f;
}

void cpu_conv2d_bwd_h(dl_backend *be, const dl_conv_geom *g, const float *x, uint16_t *dy,
		      const float *w, const float *saved, float *dw, float *db, float *dx)
{
	const float *dyh = (const float *)(const void *)dy;
	if (cpu_conv_gemm_wanted(cpu_of(be), g, CPU_DNNL_BWD_W) ||
	    cpu_dnnl_conv_pair(be, CPU_DNNL_BWD_W | CPU_DNNL_PAIR | CPU_DNNL_H, g, x, dyh, NULL, dw,
			       db, (void *)saved)) {
		float *f = widen(g, dy);
		cpu_conv2d_bwd_filter(be, g, x, f, dw, db);
		if (dx)
			cpu_conv2d_bwd_data(be, g, f, w, dx);
		return;
	}
	if (dx && cpu_dnnl_conv_pair(be, CPU_DNNL_BWD_DATA | CPU_DNNL_PAIR | CPU_DNNL_H, g, dyh, w,
				     NULL, dx, NULL, NULL))
		cpu_conv2d_bwd_data(be, g, widen(g, dy), w, dx);
}
