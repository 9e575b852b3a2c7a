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
 * bf16 (--precision bf16): cuDNN's legacy API takes x, w and y of one type,
 * so each direction stages its operands in the workspace as bf16 (the
 * padding and the rounding in one pass), runs on bf16 tensors with fp32
 * compute, and widens the bf16 result into the caller's fp32 output (dw
 * accumulated).  Whether bf16 serves a geometry is asked of the heuristics
 * once; if not, that geometry runs in fp32 with FMA math, and the choice is
 * cached with the algorithm.  Find's trials always write scratch outputs.
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
 * explicitly, then with zero padding in the descriptor) on tensors of bf16
 * or fp32 (the arithmetic is fp32 either way); the first failing status,
 * recorded only when `record`. */
static cudnnStatus_t set_descs(cu_impl *im, const dl_conv_geom *g, cudnnMathType_t math, int bf16,
			       int record)
{
	int pad = padded(g);
	int hp = pad ? g->h + g->pt + g->pb : g->h, wp = pad ? g->w + g->pl + g->pr : g->w;
	cudnnDataType_t t = bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
	cudnnStatus_t st;
#define TRY(x) do { if ((st = (x)) != CUDNN_STATUS_SUCCESS) { \
		if (record) cu_fail(im, __FILE__, __LINE__, #x, cudnnGetErrorString(st)); \
		return st; } } while (0)
	TRY(cudnnSetTensor4dDescriptor(im->xd, CUDNN_TENSOR_NHWC, t, g->n, g->c, hp, wp));
	TRY(cudnnSetTensor4dDescriptor(im->yd, CUDNN_TENSOR_NHWC, t, g->n, g->k, g->oh, g->ow));
	TRY(cudnnSetFilter4dDescriptor(im->wd, t, CUDNN_TENSOR_NHWC, g->k, g->c / g->groups, g->kh,
				       g->kw));
	TRY(cudnnSetConvolution2dDescriptor(im->cd, pad ? 0 : g->pt, pad ? 0 : g->pl, g->sh, g->sw,
					    g->dh, g->dw, CUDNN_CROSS_CORRELATION,
					    CUDNN_DATA_FLOAT));
	TRY(cudnnSetConvolutionGroupCount(im->cd, g->groups));
	TRY(cudnnSetConvolutionMathType(im->cd, math));
	int on, ok, ooh, oow;
	TRY(cudnnGetConvolution2dForwardOutputDim(im->cd, im->xd, im->wd, &on, &ok, &ooh, &oow));
#undef TRY
	if (on != g->n || ok != g->k || ooh != g->oh || oow != g->ow) {
		if (record)
			cu_fail(im, __FILE__, __LINE__, "conv geometry",
				"cuDNN's output size differs from the layer's oh, ow");
		return CUDNN_STATUS_BAD_PARAM;
	}
	return CUDNN_STATUS_SUCCESS;
}

/* Is perf entry (status, math, determinism, memory) acceptable? */
template <class P>
static int usable(int fma, const P &p, int det, size_t cap)
{
	if (p.status != CUDNN_STATUS_SUCCESS || p.memory > cap)
		return 0;
	if (fma && p.mathType != CUDNN_FMA_MATH)
		return 0;
	return !det || p.determinism == CUDNN_DETERMINISTIC;
}

/* The first acceptable entry (entries come fastest first): deterministic
 * if asked, falling back to any. */
template <class P>
static int pick(int fma, const P *perf, int got, int want_det, size_t cap)
{
	for (int pass = want_det ? 0 : 1; pass < 2; pass++)
		for (int i = 0; i < got; i++)
			if (usable(fma, perf[i], pass == 0, cap))
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

/* Only FMA-math algorithms (no TF32 rounding) for fp32, and for the fp32
 * fallback of a geometry bf16 does not serve. */
static int fma_only(const cu_impl *im, int bf16)
{
	return im->prec == CU_FP32 || (im->prec == CU_BF16 && !bf16);
}

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
	int fma = fma_only(im, a->bf16);
	cudnnStatus_t st;
	if (kind == CU_FWD) {
		cudnnConvolutionFwdAlgoPerf_t p[MAXP];
		st = cudnnFindConvolutionForwardAlgorithmEx(im->dnn, im->xd, ca->x, im->wd, ca->w,
							    im->cd, im->yd, ca->out, MAXP, &got,
							    p, tws, tcap);
		if (st != CUDNN_STATUS_SUCCESS || (i = pick(fma, p, got, det, tcap)) < 0)
			st = cudnnGetConvolutionForwardAlgorithm_v7(im->dnn, im->xd, im->wd, im->cd,
								    im->yd, MAXP, &got, p),
			i = st == CUDNN_STATUS_SUCCESS ? pick(fma, p, got, det, cap) : -1;
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
		if (st != CUDNN_STATUS_SUCCESS || (i = pick(fma, p, got, det, tcap)) < 0)
			st = cudnnGetConvolutionBackwardDataAlgorithm_v7(im->dnn, im->wd, im->yd,
									 im->cd, im->xd, MAXP, &got,
									 p),
			i = st == CUDNN_STATUS_SUCCESS ? pick(fma, p, got, det, cap) : -1;
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
		if (st != CUDNN_STATUS_SUCCESS || (i = pick(fma, p, got, det, tcap)) < 0)
			st = cudnnGetConvolutionBackwardFilterAlgorithm_v7(im->dnn, im->xd, im->yd,
									   im->cd, im->wd, MAXP,
									   &got, p),
			i = st == CUDNN_STATUS_SUCCESS ? pick(fma, p, got, det, cap) : -1;
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

/* The cached choice for (kind, g), or NULL. */
static const cu_algo *cached(const cu_impl *im, int kind, const dl_conv_geom *g)
{
	for (int i = 0; i < CU_ALGO_CACHE; i++)
		if (im->algos[i].used && im->algos[i].kind == kind &&
		    !memcmp(&im->algos[i].g, g, sizeof *g))
			return &im->algos[i];
	return NULL;
}

/* bf16 precision: does cuDNN serve (kind, g) on bf16 tensors?  Asked of the
 * heuristics, which need no operands; a geometry they refuse (e.g. channel
 * counts some bf16 kernels do not take) runs in fp32, as the CPU's does
 * where oneDNN has no bf16 kernel. */
static int bf16_serves(cu_impl *im, int kind, const dl_conv_geom *g)
{
	if (im->prec != CU_BF16 || set_descs(im, g, CUDNN_DEFAULT_MATH, 1, 0))
		return 0;
	size_t cap = ws_cap(im);
	int got = 0, ok = 0;
	if (kind == CU_FWD) {
		cudnnConvolutionFwdAlgoPerf_t p[MAXP];
		ok = cudnnGetConvolutionForwardAlgorithm_v7(im->dnn, im->xd, im->wd, im->cd, im->yd,
							    MAXP, &got, p) == CUDNN_STATUS_SUCCESS &&
		     pick(0, p, got, 0, cap) >= 0;
	} else if (kind == CU_BWD_DATA) {
		cudnnConvolutionBwdDataAlgoPerf_t p[MAXP];
		ok = cudnnGetConvolutionBackwardDataAlgorithm_v7(im->dnn, im->wd, im->yd, im->cd,
								 im->xd, MAXP, &got, p) ==
			     CUDNN_STATUS_SUCCESS &&
		     pick(0, p, got, 0, cap) >= 0;
	} else {
		cudnnConvolutionBwdFilterAlgoPerf_t p[MAXP];
		ok = cudnnGetConvolutionBackwardFilterAlgorithm_v7(im->dnn, im->xd, im->yd, im->cd,
								   im->wd, MAXP, &got, p) ==
			     CUDNN_STATUS_SUCCESS &&
		     pick(0, p, got, 0, cap) >= 0;
	}
	return ok;
}

/* Chooses for (kind, g) on tensors of type bf16 with the staged operands ca
 * (Find times the candidates on them) and caches the choice.  NULL
 * (recorded) on failure. */
static const cu_algo *choose_new(cu_impl *im, int kind, const dl_conv_geom *g, int bf16,
				 const conv_args *ca)
{
	if (set_descs(im, g, fma_only(im, bf16) ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH, bf16, 1))
		return NULL;
	cu_algo a;
	memset(&a, 0, sizeof a);
	a.used = 1;
	a.kind = kind;
	a.g = *g;
	a.bf16 = bf16;
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

/* The caller's tensors of one chunk: the operands and the output (y, dx,
 * or dw, which the filter gradient accumulates into). */
struct conv_io {
	const float *x, *w, *dy;
	float *out;
};

/* What one direction stages in the workspace before cuDNN runs, in bytes
 * (0: used as the caller has it): [0] x padded and/or rounded to bf16,
 * [1] w in bf16, [2] dy in bf16, [3] the output cuDNN writes when it
 * cannot be the caller's (bf16, or a padded dx).  [4] the output's size
 * for Find's trials, which never write the caller's output. */
static void stage_sizes(int kind, const dl_conv_geom *g, int bf16, size_t sz[5])
{
	size_t es = bf16 ? 2 : sizeof(float);
	int pad = padded(g);
	size_t xin = pad ? padded_floats(g) : (size_t)g->n * x_floats(g);
	size_t out = kind == CU_FWD ? (size_t)g->n * y_floats(g) : kind == CU_BWD_DATA ? xin
										  : w_floats(g);
	sz[0] = kind != CU_BWD_DATA && (pad || bf16) ? cu_round_up(xin * es) : 0;
	sz[1] = kind != CU_BWD_FILTER && bf16 ? cu_round_up(w_floats(g) * 2) : 0;
	sz[2] = kind != CU_FWD && bf16 ? cu_round_up((size_t)g->n * y_floats(g) * 2) : 0;
	sz[3] = bf16 || (kind == CU_BWD_DATA && pad) ? cu_round_up(out * es) : 0;
	sz[4] = cu_round_up(out * es);
}

/* Fills the staged operands from io into buf (laid out as stage_sizes
 * says, with an output region of `out_bytes`) and points ca at what cuDNN
 * reads and writes. */
static void stage(cu_impl *im, int kind, const dl_conv_geom &g, int bf16, const conv_io &io,
		  char *buf, size_t out_bytes, conv_args *ca)
{
	size_t sz[5];
	stage_sizes(kind, &g, bf16, sz);
	ca->x = io.x;
	ca->w = io.w;
	ca->dy = io.dy;
	ca->out = io.out;
	char *p = buf;
	if (sz[0]) {
		int border = padded(&g);
		size_t total = border ? padded_floats(&g) : (size_t)g.n * x_floats(&g);
		cu_conv_stage_x(im, io.x, p, g, total, border, bf16);
		ca->x = p;
		p += sz[0];
	}
	if (sz[1]) {
		cu_to_bf16(im, io.w, 1, w_floats(&g), w_floats(&g), p);
		ca->w = p;
		p += sz[1];
	}
	if (sz[2]) {
		size_t n = (size_t)g.n * y_floats(&g);
		cu_to_bf16(im, io.dy, 1, n, n, p);
		ca->dy = p;
		p += sz[2];
	}
	if (out_bytes)
		ca->out = p;
}

/* Writes the result cuDNN left in ca->out into the caller's output. */
static void unstage(cu_impl *im, int kind, const dl_conv_geom &g, int bf16, const conv_args &ca,
		    const conv_io &io)
{
	if (ca.out == io.out)
		return;
	if (kind == CU_FWD) {
		cu_from_bf16(im, ca.out, (size_t)g.n * y_floats(&g), io.out, 0);
	} else if (kind == CU_BWD_FILTER) {
		cu_from_bf16(im, ca.out, w_floats(&g), io.out, 1);   /* dw += */
	} else {
		size_t total = (size_t)g.n * x_floats(&g);
		int border = padded(&g);
		cu_conv_unstage_dx(im, ca.out, io.out, g, total, border, bf16);
	}
}

/* One chunk of one direction: the algorithm (chosen on first use, on
 * trial buffers of its own), the operands staged in the workspace, cuDNN,
 * the result written back. */
static void conv_chunk(cu_impl *im, int kind, const dl_conv_geom &g, const conv_io &io)
{
	size_t sz[5];
	const cu_algo *a = cached(im, kind, &g);
	if (!a) {
		int bf16 = bf16_serves(im, kind, &g);
		stage_sizes(kind, &g, bf16, sz);
		size_t in = sz[0] + sz[1] + sz[2];
		void *tmp = NULL;
		CU_CHECK(cudaMallocAsync(&tmp, in + sz[4], im->stream));
		if (im->failed)
			return;
		conv_args ca;
		stage(im, kind, g, bf16, io, (char *)tmp, sz[4], &ca);
		a = choose_new(im, kind, &g, bf16, &ca);
		CU_CHECK(cudaFreeAsync(tmp, im->stream));
		if (!a)
			return;
	} else if (set_descs(im, &g, a->math, a->bf16, 1)) {
		return;
	}
	stage_sizes(kind, &g, a->bf16, sz);
	size_t sb = sz[0] + sz[1] + sz[2] + sz[3];
	char *ws = (char *)cu_scratch(im, sb + a->ws);
	if (!ws)
		return;
	conv_args ca;
	stage(im, kind, g, a->bf16, io, ws, sz[3], &ca);
	void *cws = ws + sb;
	const float one = 1, zero = 0;
	/* the filter gradient accumulates (beta 1) unless staged */
	const float *beta = kind == CU_BWD_FILTER && !sz[3] ? &one : &zero;
	if (kind == CU_FWD)
		DNN_CHECK(cudnnConvolutionForward(im->dnn, &one, im->xd, ca.x, im->wd, ca.w, im->cd,
						  (cudnnConvolutionFwdAlgo_t)a->algo, cws, a->ws,
						  beta, im->yd, ca.out));
	else if (kind == CU_BWD_DATA)
		DNN_CHECK(cudnnConvolutionBackwardData(im->dnn, &one, im->wd, ca.w, im->yd, ca.dy,
						       im->cd, (cudnnConvolutionBwdDataAlgo_t)a->algo,
						       cws, a->ws, beta, im->xd, ca.out));
	else
		DNN_CHECK(cudnnConvolutionBackwardFilter(im->dnn, &one, im->xd, ca.x, im->yd, ca.dy,
							 im->cd,
							 (cudnnConvolutionBwdFilterAlgo_t)a->algo,
							 cws, a->ws, beta, im->wd, ca.out));
	if (!im->failed)
		unstage(im, kind, g, a->bf16, ca, io);
}

/* Runs direction `kind` over chunks of images that fit cuDNN's int32
 * limits; x, dy and (y or dx) advance per chunk, w and dw do not. */
static void conv_run(cu_impl *im, int kind, const dl_conv_geom *g0, conv_io io)
{
	dl_conv_geom g = norm_geom(g0);
	int per;
	if (chunking(im, &g, &per))
		return;
	for (int i0 = 0; i0 < g0->n && !im->failed; i0 += per) {
		dl_conv_geom c = g;
		c.n = g0->n - i0 < per ? g0->n - i0 : per;
		conv_io ci = io;
		ci.x = io.x ? io.x + (size_t)i0 * x_floats(&g) : NULL;
		ci.dy = io.dy ? io.dy + (size_t)i0 * y_floats(&g) : NULL;
		if (kind == CU_FWD)
			ci.out = io.out + (size_t)i0 * y_floats(&g);
		else if (kind == CU_BWD_DATA)
			ci.out = io.out + (size_t)i0 * x_floats(&g);
		conv_chunk(im, kind, c, ci);
	}
}

void cu_conv2d_fwd(dl_backend *be, const dl_conv_geom *g0, const float *x, const float *w,
		   const float *b, float *y)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "conv2d_fwd");
	conv_run(im, CU_FWD, g0, conv_io{ x, w, NULL, y });
	if (b)
		cu_bias_add(be, y, b, g0->n * g0->oh * g0->ow, g0->k);
}

void cu_conv2d_bwd_data(dl_backend *be, const dl_conv_geom *g0, const float *dy,
			const float *w, float *dx)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "conv2d_bwd_data");
	conv_run(im, CU_BWD_DATA, g0, conv_io{ NULL, w, dy, dx });
}

void cu_conv2d_bwd_filter(dl_backend *be, const dl_conv_geom *g0, const float *x,
			  const float *dy, float *dw, float *db)
{
	cu_impl *im = cu_of(be);
	CU_OP(im, "conv2d_bwd_filter");
	conv_run(im, CU_BWD_FILTER, g0, conv_io{ x, NULL, dy, dw });
	/* after the cuDNN calls: bias_grad may move the workspace */
	if (db)
		cu_bias_grad(be, db, dy, g0->n * g0->oh * g0->ow, g0->k);
}

/* The training pair (ops.h): nothing is kept from the forward (bf16 stages
 * its operands in the workspace per call), and the backward is the two
 * passes. */
size_t cu_conv2d_saved_floats(dl_backend *be, const dl_conv_geom *g, int bias)
{
	(void)be, (void)g, (void)bias;
	return 0;
}

void cu_conv2d_fwd_train(dl_backend *be, const dl_conv_geom *g, const float *x, const float *w,
			 const float *b, float *y, float *saved)
{
	(void)saved;
	cu_conv2d_fwd(be, g, x, w, b, y);
}

void cu_conv2d_bwd(dl_backend *be, const dl_conv_geom *g, const float *x, const float *dy,
		   const float *w, const float *saved, float *dw, float *db, float *dx)
{
	(void)saved;
	cu_conv2d_bwd_filter(be, g, x, dy, dw, db);
	if (dx)
		cu_conv2d_bwd_data(be, g, dy, w, dx);
}

/* Nothing to reserve ahead: cuDNN's workspace is sized per geometry when its
 * algorithm is chosen (choose above), under the workspace cap. */
int cu_conv2d_reserve(dl_backend *be, const dl_conv_geom *g, dl_err *err)
{
	(void)be, (void)g, (void)err;
	return 0;
}
