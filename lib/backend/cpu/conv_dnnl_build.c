/* Making a oneDNN convolution cache entry (conv_dnnl.h): the primitive
 * for its geometry and pass (direct or Winograd, fp32 or bf16), the weight
 * reorder between our OHWI and the primitive's layout, and, where the
 * kernel reads converted activations (bf16, or Winograd's nChw16c), the
 * reorders from and to our fp32 NHWC.  What each choice means is told at
 * the top of conv_dnnl.c. */
#include "backend/cpu/conv_dnnl.h"

#include <stdlib.h>
#include <string.h>

#ifdef DL_HAVE_DNNL

void cpu_dnnl_entry_free(dnnl_entry *e)
{
	dnnl_primitive_t ps[] = { e->conv, e->wreorder, e->in_cvt, e->out_cvt, e->res_back };
	dnnl_memory_t ms[] = { e->act_in, e->act_out, e->w_user, e->w_prim, e->bias_m,
			       e->in_f32, e->out_f32, e->res_user };
	cpu_dnnl_destroy(ps, sizeof ps / sizeof *ps, ms, sizeof ms / sizeof *ms);
	free(e->w_scratch);
	free(e->b_scratch);
	memset(e, 0, sizeof *e);
}

#define TRY(call) do { if ((call) != dnnl_success) goto fail; } while (0)

static int mem_nhwc(dnnl_memory_t *m, dnnl_engine_t eng, int n, int c, int h, int w,
		    dnnl_data_type_t dt)
{
	dnnl_memory_desc_t md;
	dnnl_dims_t d = { n, c, h, w };
	if (dnnl_memory_desc_init_by_tag(&md, 4, d, dt, dnnl_nhwc) != dnnl_success)
		return -1;
	return dnnl_memory_create(m, &md, eng, DNNL_MEMORY_NONE) == dnnl_success ? 0 : -1;
}

/* bf16 or Winograd: *f32, the caller's fp32 NHWC tensor (handle set per
 * call), and the reorder between it and the memory `m`: into m (an input
 * rounded to bf16 or laid out for Winograd), or out of m when `back` (a
 * Winograd result). */
static int cvt_make(dnnl_memory_t *f32, dnnl_primitive_t *cvt, dnnl_memory_t m, int back,
		    dnnl_engine_t eng, int n, int c, int h, int w)
{
	dnnl_primitive_desc_t rpd;
	if (mem_nhwc(f32, eng, n, c, h, w, dnnl_f32))
		return -1;
	const dnnl_memory_desc_t *fmd, *mmd;
	if (dnnl_memory_get_memory_desc(*f32, &fmd) != dnnl_success ||
	    dnnl_memory_get_memory_desc(m, &mmd) != dnnl_success ||
	    dnnl_reorder_primitive_desc_create(&rpd, back ? mmd : fmd, eng, back ? fmd : mmd, eng,
					       NULL) != dnnl_success)
		return -1;
	int rc = dnnl_primitive_create(cvt, rpd) == dnnl_success ? 0 : -1;
	dnnl_primitive_desc_destroy(rpd);
	return rc;
}

/* Builds e for e->g, e->op, e->bias, e->wino; ok stays 0 if oneDNN (or
 * the auto rule) says no. */
void cpu_dnnl_entry_build(struct cpu_dnnl *d, dnnl_entry *e, int mode, int bf16)
{
	const dl_conv_geom *g = &e->g;
	int G = cpu_dnnl_groups(g);
	dnnl_memory_desc_t src, wei, bia, dst, wuser, hsrc, hwei, hdst;
	dnnl_dims_t sd = { g->n, g->c, g->h, g->w }, dd = { g->n, g->k, g->oh, g->ow };
	dnnl_dims_t wd = { g->k, g->c, g->kh, g->kw };
	dnnl_dims_t gwd = { G, g->k / G, g->c / G, g->kh, g->kw };
	dnnl_dims_t bd = { g->k };
	dnnl_dims_t strides = { g->sh, g->sw };
	dnnl_dims_t dil = { (g->dh > 1 ? g->dh : 1) - 1, (g->dw > 1 ? g->dw : 1) - 1 };
	dnnl_dims_t pl = { g->pt, g->pl }, pr = { g->pb, g->pr };
	dnnl_primitive_desc_t fpd = NULL, pd = NULL, rpd = NULL;
	dnnl_convolution_desc_t fdesc, cdesc;
	/* bf16: each op reads bf16 (x, w, dy) and writes fp32 (y, dx, dw);
	 * the forward hint of the backward ops is all bf16 */
	dnnl_data_type_t lo = bf16 ? dnnl_bf16 : dnnl_f32;
	int wdims = G > 1 ? 5 : 4;
	const int64_t *wshape = G > 1 ? gwd : wd;
	/* Winograd: blocked activations (the only ones its kernel takes) */
	dnnl_format_tag_t at = e->wino ? dnnl_nChw16c : dnnl_nhwc;
	dnnl_alg_kind_t alg = e->wino ? dnnl_convolution_winograd : dnnl_convolution_direct;
	TRY(dnnl_memory_desc_init_by_tag(&hsrc, 4, sd, lo, at));
	TRY(dnnl_memory_desc_init_by_tag(&hdst, 4, dd, lo, at));
	TRY(dnnl_memory_desc_init_by_tag(&hwei, wdims, wshape, lo, dnnl_format_tag_any));
	TRY(dnnl_memory_desc_init_by_tag(&src, 4, sd,
					 e->op == CPU_DNNL_BWD_DATA && !e->ho ? dnnl_f32 : lo, at));
	TRY(dnnl_memory_desc_init_by_tag(&dst, 4, dd,
					 e->op == CPU_DNNL_FWD && !e->ho ? dnnl_f32 : lo, at));
	TRY(dnnl_memory_desc_init_by_tag(&wei, wdims, wshape, e->op == CPU_DNNL_BWD_W ? dnnl_f32 : lo,
					 dnnl_format_tag_any));
	TRY(dnnl_memory_desc_init_by_tag(&wuser, wdims, wshape, dnnl_f32,
					 G > 1 ? dnnl_gohwi : dnnl_ohwi));
	TRY(dnnl_memory_desc_init_by_tag(&bia, 1, bd, dnnl_f32, dnnl_x));
	if (e->op == CPU_DNNL_FWD) {
		TRY(dnnl_dilated_convolution_forward_desc_init(&fdesc, dnnl_forward_training, alg,
							       &src, &wei, e->bias ? &bia : NULL, &dst,
							       strides, dil, pl, pr));
		TRY(dnnl_primitive_desc_create(&pd, &fdesc, NULL, d->cx.eng, NULL));
	} else {
		TRY(dnnl_dilated_convolution_forward_desc_init(&fdesc, dnnl_forward_training, alg,
							       &hsrc, &hwei, &bia, &hdst, strides, dil,
							       pl, pr));
		TRY(dnnl_primitive_desc_create(&fpd, &fdesc, NULL, d->cx.eng, NULL));
		if (e->op == CPU_DNNL_BWD_DATA)
			TRY(dnnl_dilated_convolution_backward_data_desc_init(
				&cdesc, alg, &src, &wei, &dst, strides, dil, pl, pr));
		else
			TRY(dnnl_dilated_convolution_backward_weights_desc_init(
				&cdesc, alg, &src, &wei, e->bias ? &bia : NULL, &dst, strides, dil,
				pl, pr));
		TRY(dnnl_primitive_desc_create(&pd, &cdesc, NULL, d->cx.eng, fpd));
	}
	const char *impl = NULL;
	TRY(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
	if ((mode == CPU_CONV_AUTO || bf16) && (!impl || !strncmp(impl, "ref", 3)))
		goto fail;
	if (e->wino && (!impl || !strstr(impl, "wino")))
		goto fail;
	TRY(dnnl_primitive_create(&e->conv, pd));
	int bw = e->op == CPU_DNNL_BWD_W;
	const dnnl_memory_desc_t *wprim =
		dnnl_primitive_desc_query_md(pd, bw ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0);
	if (!wprim)
		goto fail;
	TRY(dnnl_memory_create(&e->w_user, &wuser, d->cx.eng, DNNL_MEMORY_NONE));
	if (!dnnl_memory_desc_equal(wprim, &wuser)) {
		TRY(dnnl_memory_create(&e->w_prim, wprim, d->cx.eng, DNNL_MEMORY_ALLOCATE));
		if (bw)
			TRY(dnnl_reorder_primitive_desc_create(&rpd, wprim, d->cx.eng, &wuser, d->cx.eng, NULL));
		else
			TRY(dnnl_reorder_primitive_desc_create(&rpd, &wuser, d->cx.eng, wprim, d->cx.eng, NULL));
		TRY(dnnl_primitive_create(&e->wreorder, rpd));
	}
	int in_c = e->op == CPU_DNNL_BWD_DATA ? g->k : g->c;
	int in_h = e->op == CPU_DNNL_BWD_DATA ? g->oh : g->h;
	int in_w = e->op == CPU_DNNL_BWD_DATA ? g->ow : g->w;
	int out_c = e->op == CPU_DNNL_BWD_DATA ? g->c : g->k;
	int out_h = e->op == CPU_DNNL_BWD_DATA ? g->h : g->oh;
	int out_w = e->op == CPU_DNNL_BWD_DATA ? g->w : g->ow;
	int bw_in = bw ? 1 : 0;   /* bwd_w reads both act_in (x) and act_out (dy) */
	if (e->wino) {
		/* the primitive's blocked activations: in the shared buffers */
		const dnnl_memory_desc_t *imd = dnnl_primitive_desc_query_md(
			pd, e->op == CPU_DNNL_BWD_DATA ? dnnl_query_diff_dst_md : dnnl_query_src_md, 0);
		const dnnl_memory_desc_t *omd = dnnl_primitive_desc_query_md(
			pd, e->op == CPU_DNNL_FWD ? dnnl_query_dst_md :
			    e->op == CPU_DNNL_BWD_DATA ? dnnl_query_diff_src_md : dnnl_query_diff_dst_md, 0);
		if (!imd || !omd)
			goto fail;
		TRY(dnnl_memory_create(&e->act_in, imd, d->cx.eng, DNNL_MEMORY_NONE));
		TRY(dnnl_memory_create(&e->act_out, omd, d->cx.eng, DNNL_MEMORY_NONE));
		if (!bw_in && cvt_make(&e->res_user, &e->res_back, e->act_out, 1, d->cx.eng, g->n,
				       out_c, out_h, out_w))
			goto fail;
	} else if (mem_nhwc(&e->act_in, d->cx.eng, g->n, in_c, in_h, in_w, lo) ||
		   mem_nhwc(&e->act_out, d->cx.eng, g->n, out_c, out_h, out_w,
			    bw_in || e->ho ? lo : dnnl_f32)) {
		goto fail;
	}
	if ((bf16 || e->wino) &&
	    (cvt_make(&e->in_f32, &e->in_cvt, e->act_in, 0, d->cx.eng, g->n, in_c, in_h, in_w) ||
	     (bw_in && cvt_make(&e->out_f32, &e->out_cvt, e->act_out, 0, d->cx.eng, g->n, out_c, out_h,
				out_w))))
		goto fail;
	if (e->bias)
		TRY(dnnl_memory_create(&e->bias_m, &bia, d->cx.eng, DNNL_MEMORY_NONE));
	if (bw) {
		size_t nw = (size_t)g->k * g->kh * g->kw * (g->c / G);
		e->w_scratch = cpu_aligned_alloc(nw * sizeof(float));
		e->b_scratch = cpu_aligned_alloc((size_t)g->k * sizeof(float));
		if (!e->w_scratch || !e->b_scratch)
			goto fail;
	}
	e->ok = 1;
	goto done;
fail:
	{
		/* keep the key, drop the rest: this geometry stays on im2col */
		dl_conv_geom key = e->g;
		int op = e->op, bias = e->bias, wino = e->wino, ho = e->ho;
		unsigned long used = e->used;
		cpu_dnnl_entry_free(e);
		e->g = key, e->op = op, e->bias = bias, e->used = used, e->wino = wino, e->ho = ho;
	}
done:
	if (rpd)
		dnnl_primitive_desc_destroy(rpd);
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (fpd)
		dnnl_primitive_desc_destroy(fpd);
}

#else

/* built without oneDNN: nothing here (ISO C wants a declaration) */
typedef int cpu_conv_dnnl_build_unused;

#endif
