/* Convolution through cuDNN: NHWC tensors, NHWC (= OHWI) filters,
 * dilation and groups.
 *
 * cuDNN's legacy API pads symmetrically; a geometry with pt != pb or
 * pl != pr goes through an explicitly zero-padded copy of the input in the
 * workspace (forward and filter gradient) or a padded dx that is cropped
 * (data gradient).  The bias is added (and its gradient summed) by our own
 * kernels (blas.cu).
 *
 * Algorithms come from cudnnGet*Algorithm_v7 (heuristics: no trial runs,
 * so no output buffer is clobbered and no sync), once per direction and
 * geometry, kept in a small table.  fp32 precision accepts only FMA-math
 * algorithms (no TF32 rounding); the backward directions prefer the
 * deterministic ones.  Forward writes y, backward data writes dx (beta 0),
 * backward filter accumulates into dw (beta 1), as backend.h says.
 */
#include "backend/cuda/cuda.h"

#include <string.h>

static dl_conv_geom norm_geom(const dl_conv_geom *g)
{
	dl_conv_geom n = *g;
	n.dh = n.dh > 0 ? n.dh : 1;
	n.dw = n.dw > 0 ? n.dw : 1;
	n.groups = n.groups > 0 ? n.groups : 1;
	return n;
}

static int padded(const dl_conv_geom *g)
{
	return g->pt != g->pb || g->pl != g->pr;
}

/* Sets the four descriptors for geometry g (input of hp x wp when padded
 * explicitly, then with zero padding in the descriptor). */
static void set_descs(cu_impl *im, const dl_conv_geom *g, cudnnMathType_t math)
{
	int pad = padded(g);
	int hp = pad ? g->h + g->pt + g->pb : g->h, wp = pad ? g->w + g->pl + g->pr : g->w;
	DNN_CHECK(cudnnSetTensor4dDescriptor(im->xd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, g->n,
					     g->c, hp, wp));
	DNN_CHECK(cudnnSetTensor4dDescriptor(im->yd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, g->n,
					     g->k, g->oh, g->ow));
	DNN_CHECK(cudnnSetFilter4dDescriptor(im->wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, g->k,
					     g->c / g->groups, g->kh, g->kw));
	DNN_CHECK(cudnnSetConvolution2dDescriptor(im->cd, pad ? 0 : g->pt, pad ? 0 : g->pl, g->sh,
						  g->sw, g->dh, g->dw, CUDNN_CROSS_CORRELATION,
						  CUDNN_DATA_FLOAT));
	DNN_CHECK(cudnnSetConvolutionGroupCount(im->cd, g->groups));
	DNN_CHECK(cudnnSetConvolutionMathType(im->cd, math));
	int on, ok, ooh, oow;
	DNN_CHECK(cudnnGetConvolution2dForwardOutputDim(im->cd, im->xd, im->wd, &on, &ok, &ooh,
							&oow));
	if (on != g->n || ok != g->k || ooh != g->oh || oow != g->ow)
		cu_fatal(__FILE__, __LINE__, "conv geometry",
			 "cuDNN's output size differs from the layer's oh, ow");
}

/* Picks the first usable perf entry: status ok, math allowed by the
 * precision, deterministic if asked (falling back to any). */
template <class P>
static int pick(cu_impl *im, const P *perf, int got, int want_det)
{
	for (int pass = want_det ? 0 : 1; pass < 2; pass++)
		for (int i = 0; i < got; i++) {
			if (perf[i].status != CUDNN_STATUS_SUCCESS)
				continue;
			if (im->prec == CU_FP32 && perf[i].mathType != CUDNN_FMA_MATH)
				continue;
			if (pass == 0 && perf[i].determinism != CUDNN_DETERMINISTIC)
				continue;
			return i;
		}
	return -1;
}

/* The cached choice for (kind, g); sets the descriptors either way. */
static const cu_algo *algo_for(cu_impl *im, int kind, const dl_conv_geom *g)
{
	for (int i = 0; i < CU_ALGO_CACHE; i++) {
		const cu_algo *a = &im->algos[i];
		if (a->used && a->kind == kind && !memcmp(&a->g, g, sizeof *g)) {
			set_descs(im, g, a->math);
			return a;
		}
	}
	cudnnMathType_t math0 = im->prec == CU_FP32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
	set_descs(im, g, math0);
	cu_algo a;
	memset(&a, 0, sizeof a);
	a.used = 1;
	a.kind = kind;
	a.g = *g;
	int got = 0, i = -1;
	enum { MAXP = 16 };
	if (kind == CU_FWD) {
		cudnnConvolutionFwdAlgoPerf_t p[MAXP];
		DNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(im->dnn, im->xd, im->wd, im->cd,
								 im->yd, MAXP, &got, p));
		if ((i = pick(im, p, got, 0)) >= 0) {
			a.algo = p[i].algo;
			a.math = p[i].mathType;
		}
	} else if (kind == CU_BWD_DATA) {
		cudnnConvolutionBwdDataAlgoPerf_t p[MAXP];
		DNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(im->dnn, im->wd, im->yd, im->cd,
								      im->xd, MAXP, &got, p));
		if ((i = pick(im, p, got, 1)) >= 0) {
			a.algo = p[i].algo;
			a.math = p[i].mathType;
		}
	} else {
		cudnnConvolutionBwdFilterAlgoPerf_t p[MAXP];
		DNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(im->dnn, im->xd, im->yd,
									im->cd, im->wd, MAXP, &got,
									p));
		if ((i = pick(im, p, got, 1)) >= 0) {
			a.algo = p[i].algo;
			a.math = p[i].mathType;
		}
	}
	if (i < 0)
		cu_fatal(__FILE__, __LINE__, "cudnnGet*Algorithm_v7",
			 "no usable cuDNN algorithm for this convolution at this precision");
	DNN_CHECK(cudnnSetConvolutionMathType(im->cd, a.math));
	if (kind == CU_FWD)
		DNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(
			im->dnn, im->xd, im->wd, im->cd, im->yd, (cudnnConvolutionFwdAlgo_t)a.algo,
			&a.ws));
	else if (kind == CU_BWD_DATA)
		DNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
			im->dnn, im->wd, im->yd, im->cd, im->xd,
			(cudnnConvolutionBwdDataAlgo_t)a.algo, &a.ws));
	else
		DNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
			im->dnn, im->xd, im->yd, im->cd, im->wd,
			(cudnnConvolutionBwdFilterAlgo_t)a.algo, &a.ws));
	int slot = -1;
	for (int s = 0; s < CU_ALGO_CACHE && slot < 0; s++)
		if (!im->algos[s].used)
			slot = s;
	if (slot < 0) {
		slot = im->algo_next;
		im->algo_next = (im->algo_next + 1) % CU_ALGO_CACHE;
	}
	im->algos[slot] = a;
	return &im->algos[slot];
}

/* xp [n, h+pt+pb, w+pl+pr, c] = x with a zero border (every element written) */
__global__ void pad_k(const float *x, float *xp, dl_conv_geom g, size_t total)
{
	int hp = g.h + g.pt + g.pb, wp = g.w + g.pl + g.pr;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x) {
		size_t r = i / (size_t)g.c;
		int ch = (int)(i % (size_t)g.c);
		int px = (int)(r % (size_t)wp) - g.pl;
		r /= (size_t)wp;
		int py = (int)(r % (size_t)hp) - g.pt;
		size_t img = r / (size_t)hp;
		xp[i] = py >= 0 && py < g.h && px >= 0 && px < g.w
				? x[((img * g.h + py) * g.w + px) * g.c + ch]
				: 0.0f;
	}
}

/* dx [n,h,w,c] = the interior of dxp (the inverse of pad_k) */
__global__ void crop_k(const float *dxp, float *dx, dl_conv_geom g, size_t total)
{
	int hp = g.h + g.pt + g.pb, wp = g.w + g.pl + g.pr;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x) {
		size_t r = i / (size_t)g.c;
		int ch = (int)(i % (size_t)g.c);
		int x = (int)(r % (size_t)g.w);
		r /= (size_t)g.w;
		int y = (int)(r % (size_t)g.h);
		size_t img = r / (size_t)g.h;
		dx[i] = dxp[((img * hp + y + g.pt) * wp + x + g.pl) * g.c + ch];
	}
}

static size_t padded_floats(const dl_conv_geom *g)
{
	return (size_t)g->n * (size_t)(g->h + g->pt + g->pb) * (size_t)(g->w + g->pl + g->pr) *
	       (size_t)g->c;
}

static size_t round_up(size_t b)
{
	return (b + 255) & ~(size_t)255;
}

void cu_conv2d_fwd(dl_backend *be, const dl_conv_geom *g0, const float *x, const float *w,
		   const float *b, float *y)
{
	cu_impl *im = cu_of(be);
	dl_conv_geom g = norm_geom(g0);
	const cu_algo *a = algo_for(im, CU_FWD, &g);
	size_t pbytes = padded(&g) ? round_up(padded_floats(&g) * sizeof(float)) : 0;
	char *ws = (char *)cu_scratch(im, pbytes + a->ws);
	if (pbytes) {
		size_t total = padded_floats(&g);
		pad_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(x, (float *)ws, g, total);
		CU_LAUNCHED();
		x = (const float *)ws;
	}
	const float one = 1, zero = 0;
	DNN_CHECK(cudnnConvolutionForward(im->dnn, &one, im->xd, x, im->wd, w, im->cd,
					  (cudnnConvolutionFwdAlgo_t)a->algo, ws + pbytes, a->ws,
					  &zero, im->yd, y));
	if (b)
		cu_bias_add(be, y, b, g.n * g.oh * g.ow, g.k);
}

void cu_conv2d_bwd_data(dl_backend *be, const dl_conv_geom *g0, const float *dy,
			const float *w, float *dx)
{
	cu_impl *im = cu_of(be);
	dl_conv_geom g = norm_geom(g0);
	const cu_algo *a = algo_for(im, CU_BWD_DATA, &g);
	size_t pbytes = padded(&g) ? round_up(padded_floats(&g) * sizeof(float)) : 0;
	char *ws = (char *)cu_scratch(im, pbytes + a->ws);
	float *out = pbytes ? (float *)ws : dx;
	const float one = 1, zero = 0;
	DNN_CHECK(cudnnConvolutionBackwardData(im->dnn, &one, im->wd, w, im->yd, dy, im->cd,
					       (cudnnConvolutionBwdDataAlgo_t)a->algo, ws + pbytes,
					       a->ws, &zero, im->xd, out));
	if (pbytes) {
		size_t total = (size_t)g.n * g.h * g.w * g.c;
		crop_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(out, dx, g, total);
		CU_LAUNCHED();
	}
}

void cu_conv2d_bwd_filter(dl_backend *be, const dl_conv_geom *g0, const float *x,
			  const float *dy, float *dw, float *db)
{
	cu_impl *im = cu_of(be);
	dl_conv_geom g = norm_geom(g0);
	const cu_algo *a = algo_for(im, CU_BWD_FILTER, &g);
	size_t pbytes = padded(&g) ? round_up(padded_floats(&g) * sizeof(float)) : 0;
	char *ws = (char *)cu_scratch(im, pbytes + a->ws);
	if (pbytes) {
		size_t total = padded_floats(&g);
		pad_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(x, (float *)ws, g, total);
		CU_LAUNCHED();
		x = (const float *)ws;
	}
	const float one = 1;
	DNN_CHECK(cudnnConvolutionBackwardFilter(im->dnn, &one, im->xd, x, im->yd, dy, im->cd,
						 (cudnnConvolutionBwdFilterAlgo_t)a->algo,
						 ws + pbytes, a->ws, &one, im->wd, dw));
	/* after the cuDNN call: bias_grad may move the workspace */
	if (db)
		cu_bias_grad(be, db, dy, g.n * g.oh * g.ow, g.k);
}
