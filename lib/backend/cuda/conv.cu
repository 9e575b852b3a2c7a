/* Convolution through cuDNN: NHWC tensors, NHWC (= OHWI) filters,
 * dilation and groups.
 *
 * cuDNN's legacy API pads symmetrically; a geometry with pt != pb or
 * pl != pr goes through an explicitly zero-padded copy of the input in the
 * workspace (forward and filter gradient) or a padded dx that is cropped
 * (data gradient).  The bias is added (and its gradient summed) by our own
 * kernels (blas.cu).
 *
 * Algorithms: chosen once per direction and geometry (kept in a small
 * table) by cudnnFind*AlgorithmEx, which times the candidates on scratch
 * buffers (never on an output the op accumulates into) with a workspace
 * capped at DL_CUDA_WS_MB (default 1024 MiB) and at a quarter of the free
 * device memory; the fastest whose workspace fits wins.  When Find fails
 * (out of memory for its trials) the chain falls back to the heuristics
 * (cudnnGet*Algorithm_v7, workspace-capped), then to the algorithm that
 * needs no workspace (implicit GEMM / ALGO_0).  fp32 precision accepts
 * only FMA-math algorithms (no TF32 rounding); the backward directions
 * prefer the deterministic ones.  A geometry no algorithm serves is an
 * error of the op (cuda.h, "Errors"), never an abort.
 *
 * Batches whose tensors exceed cuDNN's int32 element counts are split into
 * chunks of images that fit (each chunk its own geometry and algorithm);
 * the filter gradient accumulates over the chunks.
 *
 * Forward writes y, backward data writes dx (beta 0), backward filter
 * accumulates into dw (beta 1), as ops.h says.
 */
#include "backend/cuda/cuda.h"

#include <limits.h>
#include <stdlib.h>
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

static size_t padded_floats(const dl_conv_geom *g)
{
	return (size_t)g->n * (size_t)(g->h + g->pt + g->pb) * (size_t)(g->w + g->pl + g->pr) *
	       (size_t)g->c;
}

static size_t round_up(size_t b)
{
	return (b + 255) & ~(size_t)255;
}

/* Images per chunk so that every tensor cuDNN sees (the padded input, the
 * output) holds fewer than INT_MAX elements; 0 if one image is too big. */
static int chunk_images(const dl_conv_geom *g)
{
	size_t per_x = padded_floats(g) / (size_t)(g->n > 0 ? g->n : 1);
	size_t per_y = (size_t)g->oh * (size_t)g->ow * (size_t)g->k;
	size_t per = per_x > per_y ? per_x : per_y;
	if (!per)
		return g->n;
	size_t fit = (size_t)INT_MAX / per;
	if (fit < 1)
		return 0;
	return fit < (size_t)g->n ? (int)fit : g->n;
}

/* Sets the four descriptors for geometry g (input of hp x wp when padded
 * explicitly, then with zero padding in the descriptor); -1 on failure
 * (recorded). */
static int set_descs(cu_impl *im, const dl_conv_geom *g, cudnnMathType_t math)
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
	if (im->failed)
		return -1;
	int on, ok, ooh, oow;
	DNN_CHECK(cudnnGetConvolution2dForwardOutputDim(im->cd, im->xd, im->wd, &on, &ok, &ooh,
							&oow));
	if (!im->failed && (on != g->n || ok != g->k || ooh != g->oh || oow != g->ow))
		cu_fail(im, __FILE__, __LINE__, "conv geometry",
			"cuDNN's output size differs from the layer's oh, ow");
	return im->failed ? -1 : 0;
}

/* Is perf entry (status, math, determinism, memory) acceptable? */
template <class P>
static int usable(cu_impl *im, const P &p, int det, size_t cap)
{
	if (p.status != CUDNN_STATUS_SUCCESS || p.memory > cap)
		return 0;
	if (im->prec == CU_FP32 && p.mathType != CUDNN_FMA_MATH)
		return 0;
	return !det || p.determinism == CUDNN_DETERMINISTIC;
}

/* The first acceptable entry (entries come fastest first): deterministic
 * if asked, falling back to any. */
template <class P>
static int pick(cu_impl *im, const P *perf, int got, int want_det, size_t cap)
{
	for (int pass = want_det ? 0 : 1; pass < 2; pass++)
		for (int i = 0; i < got; i++)
			if (usable(im, perf[i], pass == 0, cap))
				return i;
	return -1;
}

/* The operands of one direction, for the trial runs of Find: inputs as
 * the op has them, the output a scratch buffer of the output's size. */
struct conv_args {
	const void *x, *w, *dy;
	void *out;
};

/* The workspace cap for choosing: DL_CUDA_WS_MB and a quarter of the free
 * device memory. */
static size_t ws_cap(cu_impl *im)
{
	size_t fr = 0, tot = 0;
	size_t cap = im->ws_limit;
	if (cudaMemGetInfo(&fr, &tot) == cudaSuccess && fr / 4 < cap)
		cap = fr / 4;
	else
		cudaGetLastError();
	return cap;
}

enum { MAXP = 16 };

/* Tries cudnnFind*Ex, then the heuristics, then the no-workspace algorithm;
 * fills a->algo, a->math, a->ws.  -1 (recorded) if none serves. */
static int choose(cu_impl *im, int kind, cu_algo *a, const conv_args *ca)
{
	size_t cap = ws_cap(im);
	int got = 0, i = -1;
	void *tws = NULL;
	size_t tcap = cap;
	/* 1. Find, timed on the device, with a trial workspace of `tcap` */
	while (tcap >= ((size_t)1 << 20) && cudaMalloc(&tws, tcap) != cudaSuccess) {
		cudaGetLastError();
		tws = NULL;
		tcap /= 4;
	}
	if (!tws)
		tcap = 0;
	int det = kind != CU_FWD;
	cudnnStatus_t st;
	if (kind == CU_FWD) {
		cudnnConvolutionFwdAlgoPerf_t p[MAXP];
		st = cudnnFindConvolutionForwardAlgorithmEx(im->dnn, im->xd, ca->x, im->wd, ca->w,
							    im->cd, im->yd, ca->out, MAXP, &got,
							    p, tws, tcap);
		if (st != CUDNN_STATUS_SUCCESS || (i = pick(im, p, got, det, tcap)) < 0)
			st = cudnnGetConvolutionForwardAlgorithm_v7(im->dnn, im->xd, im->wd, im->cd,
								    im->yd, MAXP, &got, p),
			i = st == CUDNN_STATUS_SUCCESS ? pick(im, p, got, det, cap) : -1;
		if (i >= 0) {
			a->algo = p[i].algo;
			a->math = p[i].mathType;
		} else {
			a->algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
			a->math = CUDNN_FMA_MATH;
		}
	} else if (kind == CU_BWD_DATA) {
		cudnnConvolutionBwdDataAlgoPerf_t p[MAXP];
		st = cudnnFindConvolutionBackwardDataAlgorithmEx(im->dnn, im->wd, ca->w, im->yd,
								 ca->dy, im->cd, im->xd, ca->out,
								 MAXP, &got, p, tws, tcap);
		if (st != CUDNN_STATUS_SUCCESS || (i = pick(im, p, got, det, tcap)) < 0)
			st = cudnnGetConvolutionBackwardDataAlgorithm_v7(im->dnn, im->wd, im->yd,
									 im->cd, im->xd, MAXP, &got,
									 p),
			i = st == CUDNN_STATUS_SUCCESS ? pick(im, p, got, det, cap) : -1;
		if (i >= 0) {
			a->algo = p[i].algo;
			a->math = p[i].mathType;
		} else {
			a->algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
			a->math = CUDNN_FMA_MATH;
		}
	} else {
		cudnnConvolutionBwdFilterAlgoPerf_t p[MAXP];
		st = cudnnFindConvolutionBackwardFilterAlgorithmEx(im->dnn, im->xd, ca->x, im->yd,
								   ca->dy, im->cd, im->wd,
								   ca->out, MAXP, &got, p, tws,
								   tcap);
		if (st != CUDNN_STATUS_SUCCESS || (i = pick(im, p, got, det, tcap)) < 0)
			st = cudnnGetConvolutionBackwardFilterAlgorithm_v7(im->dnn, im->xd, im->yd,
									   im->cd, im->wd, MAXP,
									   &got, p),
			i = st == CUDNN_STATUS_SUCCESS ? pick(im, p, got, det, cap) : -1;
		if (i >= 0) {
			a->algo = p[i].algo;
			a->math = p[i].mathType;
		} else {
			a->algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0;
			a->math = CUDNN_FMA_MATH;
		}
	}
	if (tws)
		cudaFree(tws);
	cudaGetLastError();   /* a failed trial allocation is not the op's error */
	DNN_CHECK(cudnnSetConvolutionMathType(im->cd, a->math));
	if (kind == CU_FWD)
		st = cudnnGetConvolutionForwardWorkspaceSize(im->dnn, im->xd, im->wd, im->cd,
							     im->yd,
							     (cudnnConvolutionFwdAlgo_t)a->algo,
							     &a->ws);
	else if (kind == CU_BWD_DATA)
		st = cudnnGetConvolutionBackwardDataWorkspaceSize(
			im->dnn, im->wd, im->yd, im->cd, im->xd,
			(cudnnConvolutionBwdDataAlgo_t)a->algo, &a->ws);
	else
		st = cudnnGetConvolutionBackwardFilterWorkspaceSize(
			im->dnn, im->xd, im->yd, im->cd, im->wd,
			(cudnnConvolutionBwdFilterAlgo_t)a->algo, &a->ws);
	if (st != CUDNN_STATUS_SUCCESS) {
		cu_fail(im, __FILE__, __LINE__, "choosing a cuDNN convolution algorithm",
			"no algorithm serves this convolution at this precision "
			"(Find, heuristics and the no-workspace fallback all failed)");
		return -1;
	}
	return 0;
}

/* The cached choice for (kind, g), chosen on first use (Find needs the
 * operands: ca); sets the descriptors either way.  NULL on failure. */
static const cu_algo *algo_for(cu_impl *im, int kind, const dl_conv_geom *g,
			       const conv_args *ca)
{
	for (int i = 0; i < CU_ALGO_CACHE; i++) {
		const cu_algo *a = &im->algos[i];
		if (a->used && a->kind == kind && !memcmp(&a->g, g, sizeof *g))
			return set_descs(im, g, a->math) ? NULL : a;
	}
	if (!ca || im->failed)
		return NULL;   /* the choosing call failed (recorded) */
	if (set_descs(im, g, im->prec == CU_FP32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH))
		return NULL;
	cu_algo a;
	memset(&a, 0, sizeof a);
	a.used = 1;
	a.kind = kind;
	a.g = *g;
	if (choose(im, kind, &a, ca))
		return NULL;
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

/* A scratch output for Find's trials (so an accumulating output is never
 * clobbered); freed by the caller with cudaFreeAsync. */
static void *trial_out(cu_impl *im, size_t floats)
{
	void *p = NULL;
	CU_CHECK(cudaMallocAsync(&p, floats * sizeof(float) + 4, im->stream));
	return im->failed ? NULL : p;
}

/* Is (kind, g) already in the table (no trial buffers needed)? */
static int cached(const cu_impl *im, int kind, const dl_conv_geom *g)
{
	for (int i = 0; i < CU_ALGO_CACHE; i++)
		if (im->algos[i].used && im->algos[i].kind == kind &&
		    !memcmp(&im->algos[i].g, g, sizeof *g))
			return 1;
	return 0;
}

/* Splits g into chunks of images; *per is the chunk size, 0 (recorded)
 * when a single image exceeds cuDNN's int32 limits. */
static int chunking(cu_impl *im, const dl_conv_geom *g, int *per)
{
	*per = chunk_images(g);
	if (*per < 1)
		cu_fail(im, __FILE__, __LINE__, "conv geometry",
			"one image exceeds cuDNN's 2^31-element tensor limit");
	return *per < 1 ? -1 : 0;
}

static size_t x_floats(const dl_conv_geom *g)
{
	return (size_t)g->h * g->w * g->c;
}

static size_t y_floats(const dl_conv_geom *g)
{
	return (size_t)g->oh * g->ow * g->k;
}

static size_t w_floats(const dl_conv_geom *g)
{
	return (size_t)g->k * g->kh * g->kw * (g->c / g->groups);
}

/* One chunk of the forward pass (g.n images from x to y). */
static void fwd_chunk(cu_impl *im, const dl_conv_geom &g, const float *x, const float *w,
		      float *y)
{
	size_t pbytes = padded(&g) ? round_up(padded_floats(&g) * sizeof(float)) : 0;
	const float *xs = x;
	if (pbytes && !cached(im, CU_FWD, &g)) {
		/* Find needs the padded input: pad into a temporary first */
		void *tmp = trial_out(im, padded_floats(&g));
		if (!tmp)
			return;
		size_t total = padded_floats(&g);
		pad_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(x, (float *)tmp, g, total);
		CU_LAUNCHED();
		conv_args ca = { tmp, w, NULL, y };
		algo_for(im, CU_FWD, &g, &ca);
		CU_CHECK(cudaFreeAsync(tmp, im->stream));
	} else if (!cached(im, CU_FWD, &g)) {
		conv_args ca = { x, w, NULL, y };
		algo_for(im, CU_FWD, &g, &ca);
	}
	const cu_algo *a = algo_for(im, CU_FWD, &g, NULL);
	if (!a)
		return;
	char *ws = (char *)cu_scratch(im, pbytes + a->ws);
	if (!ws)
		return;
	if (pbytes) {
		size_t total = padded_floats(&g);
		pad_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(x, (float *)ws, g, total);
		CU_LAUNCHED();
		xs = (const float *)ws;
	}
	const float one = 1, zero = 0;
	DNN_CHECK(cudnnConvolutionForward(im->dnn, &one, im->xd, xs, im->wd, w, im->cd,
					  (cudnnConvolutionFwdAlgo_t)a->algo, ws + pbytes, a->ws,
					  &zero, im->yd, y));
}

void cu_conv2d_fwd(dl_backend *be, const dl_conv_geom *g0, const float *x, const float *w,
		   const float *b, float *y)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "conv2d_fwd");
	dl_conv_geom g = norm_geom(g0);
	int per;
	if (chunking(im, &g, &per))
		return;
	for (int i0 = 0; i0 < g0->n && !im->failed; i0 += per) {
		dl_conv_geom c = g;
		c.n = g0->n - i0 < per ? g0->n - i0 : per;
		fwd_chunk(im, c, x + (size_t)i0 * x_floats(&g), w, y + (size_t)i0 * y_floats(&g));
	}
	if (b)
		cu_bias_add(be, y, b, g.n * g.oh * g.ow, g.k);
}

static void bwd_data_chunk(cu_impl *im, const dl_conv_geom &g, const float *dy,
			   const float *w, float *dx)
{
	size_t pbytes = padded(&g) ? round_up(padded_floats(&g) * sizeof(float)) : 0;
	if (!cached(im, CU_BWD_DATA, &g)) {
		void *tmp = trial_out(im, pbytes ? padded_floats(&g) : g.n * x_floats(&g));
		if (!tmp)
			return;
		conv_args ca = { NULL, w, dy, tmp };
		algo_for(im, CU_BWD_DATA, &g, &ca);
		CU_CHECK(cudaFreeAsync(tmp, im->stream));
	}
	const cu_algo *a = algo_for(im, CU_BWD_DATA, &g, NULL);
	if (!a)
		return;
	char *ws = (char *)cu_scratch(im, pbytes + a->ws);
	if (!ws)
		return;
	float *out = pbytes ? (float *)ws : dx;
	const float one = 1, zero = 0;
	DNN_CHECK(cudnnConvolutionBackwardData(im->dnn, &one, im->wd, w, im->yd, dy, im->cd,
					       (cudnnConvolutionBwdDataAlgo_t)a->algo, ws + pbytes,
					       a->ws, &zero, im->xd, out));
	if (pbytes) {
		size_t total = (size_t)g.n * x_floats(&g);
		crop_k<<<cu_blocks(total, CU_T), CU_T, 0, im->stream>>>(out, dx, g, total);
		CU_LAUNCHED();
	}
}

void cu_conv2d_bwd_data(dl_backend *be, const dl_conv_geom *g0, const float *dy,
			const float *w, float *dx)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "conv2d_bwd_data");
	dl_conv_geom g = norm_geom(g0);
	int per;
	if (chunking(im, &g, &per))
		return;
	for (int i0 = 0; i0 < g0->n && !im->failed; i0 += per) {
		dl_conv_geom c = g;
		c.n = g0->n - i0 < per ? g0->n - i0 : per;
		bwd_data_chunk(im, c, dy + (size_t)i0 * y_floats(&g), w,
			       dx + (size_t)i0 * x_floats(&g));
	}
}

static void bwd_filter_chunk(cu_impl *im, const dl_conv_geom &g, const float *x,
			     const float *dy, float *dw)
{
	size_t pbytes = padded(&g) ? round_up(padded_floats(&g) * sizeof(float)) : 0;
	if (!cached(im, CU_BWD_FILTER, &g)) {
		/* trials write a scratch dw (the real one accumulates) */
		size_t tx = pbytes ? padded_floats(&g) : 0;
		char *tmp = (char *)trial_out(im, round_up(tx * sizeof(float)) / sizeof(float) +
							  w_floats(&g));
		if (!tmp)
			return;
		const float *xs = x;
		if (tx) {
			pad_k<<<cu_blocks(tx, CU_T), CU_T, 0, im->stream>>>(x, (float *)tmp, g, tx);
			CU_LAUNCHED();
			xs = (const float *)tmp;
		}
		conv_args ca = { xs, NULL, dy, tmp + round_up(tx * sizeof(float)) };
		algo_for(im, CU_BWD_FILTER, &g, &ca);
		CU_CHECK(cudaFreeAsync(tmp, im->stream));
	}
	const cu_algo *a = algo_for(im, CU_BWD_FILTER, &g, NULL);
	if (!a)
		return;
	char *ws = (char *)cu_scratch(im, pbytes + a->ws);
	if (!ws)
		return;
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
}

void cu_conv2d_bwd_filter(dl_backend *be, const dl_conv_geom *g0, const float *x,
			  const float *dy, float *dw, float *db)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "conv2d_bwd_filter");
	dl_conv_geom g = norm_geom(g0);
	int per;
	if (chunking(im, &g, &per))
		return;
	for (int i0 = 0; i0 < g0->n && !im->failed; i0 += per) {
		dl_conv_geom c = g;
		c.n = g0->n - i0 < per ? g0->n - i0 : per;
		bwd_filter_chunk(im, c, x + (size_t)i0 * x_floats(&g),
				 dy + (size_t)i0 * y_floats(&g), dw);
	}
	/* after the cuDNN calls: bias_grad may move the workspace */
	if (db)
		cu_bias_grad(be, db, dy, g.n * g.oh * g.ow, g.k);
}

/* Nothing to reserve ahead: cuDNN's workspace is sized per geometry when its
 * algorithm is chosen (conv_algo above), under the workspace cap. */
int cu_conv2d_reserve(dl_backend *be, const dl_conv_geom *g, dl_err *err)
{
	(void)be, (void)g, (void)err;
	return 0;
}
