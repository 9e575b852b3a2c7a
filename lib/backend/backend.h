/* The op contract: what a layer may ask of a device.
 *
 * Layers, losses, optimizers and the trainer call only these functions, so
 * one layer file serves every backend.  cpu/ is the readable reference;
 * cuda/ (later) fills the same table with cuDNN/cuBLAS and its own kernels.
 *
 * Conventions
 * - Tensors are float32, NHWC, contiguous, in device memory (`alloc`);
 *   on the CPU backend device memory is host memory.
 * - Every shape is explicit in the arguments; comments give the shapes.
 * - Activation gradients are written (=); parameter gradients accumulate
 *   (+=), so a training step zeroes the gradient block once.
 * - Ops never synchronise with the host except to_host and sync.  Scalar
 *   results (loss, correct count) accumulate into device buffers and are
 *   read back once per log interval.
 * - Ops are infallible once their geometry has been validated by the layer
 *   (shapes checked at model build time); allocation can fail (NULL).
 * - A backend holds its own state (threads, scratch); there is no global.
 *
 * Weight layouts: conv weights [K, KH, KW, C] (OHWI, NHWC-friendly; export
 * permutes to PyTorch's [K, C, KH, KW]); dense weights [OUT, IN].
 */
#ifndef DL_BACKEND_H
#define DL_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "core/error.h"

typedef struct dl_backend dl_backend;

/* Convolution geometry.  Input [n, h, w, c], weights [k, kh, kw, c / groups
 * is reserved: groups = 1 only for now], output [n, oh, ow, k] where
 * oh = (h + pt + pb - kh) / sh + 1 (and ow likewise). */
typedef struct dl_conv_geom {
	int n, h, w, c;
	int k, kh, kw;
	int sh, sw;
	int pt, pl, pb, pr;   /* padding top, left, bottom, right */
	int oh, ow;
} dl_conv_geom;

/* Pooling geometry: input [n, h, w, c] -> output [n, oh, ow, c]. Padding
 * cells never win a max. */
typedef struct dl_pool_geom {
	int n, h, w, c;
	int kh, kw, sh, sw;
	int pt, pl;
	int oh, ow;
} dl_pool_geom;

/* Elementwise activations (act_fwd / act_bwd). */
typedef enum { DL_ACT_RELU = 0 } dl_act_kind;

/* Per-channel input normalisation: x = (u8 * scale - mean[c]) / std[c]. */
#define DL_NORM_MAX_C 8
typedef struct dl_norm {
	int c;
	float scale;
	float mean[DL_NORM_MAX_C];
	float std[DL_NORM_MAX_C];
} dl_norm;

typedef struct dl_backend_ops {
	const char *name;                       /* "cpu", "cuda" */
	void (*release)(dl_backend *be);        /* frees be too */

	/* memory */
	void *(*alloc)(dl_backend *be, size_t bytes);   /* 64-byte aligned, zeroed */
	void (*free)(dl_backend *be, void *p);
	void (*to_device)(dl_backend *be, void *dst, const void *src, size_t bytes);
	void (*to_host)(dl_backend *be, void *dst, const void *src, size_t bytes);
	void (*zero)(dl_backend *be, void *p, size_t bytes);
	void (*sync)(dl_backend *be);

	/* C[m,n] = alpha * op(A) op(B) + beta * C, row-major; op(A) is [m,k],
	 * op(B) is [k,n]; ta/tb nonzero means the stored matrix is transposed. */
	void (*gemm)(dl_backend *be, int ta, int tb, int m, int n, int k,
		     float alpha, const float *a, int lda, const float *b, int ldb,
		     float beta, float *c, int ldc);
	/* y[r, j] += b[j] for r < rows, j < cols */
	void (*bias_add)(dl_backend *be, float *y, const float *b, int rows, int cols);
	/* db[j] += sum_r dy[r, j] */
	void (*bias_grad)(dl_backend *be, float *db, const float *dy, int rows, int cols);

	/* y [n,oh,ow,k] = conv(x [n,h,w,c], w [k,kh,kw,c]) + b [k] (b may be NULL) */
	void (*conv2d_fwd)(dl_backend *be, const dl_conv_geom *g, const float *x,
			   const float *w, const float *b, float *y);
	/* dx [n,h,w,c] = conv_transpose(dy, w)   (written) */
	void (*conv2d_bwd_data)(dl_backend *be, const dl_conv_geom *g, const float *dy,
				const float *w, float *dx);
	/* dw [k,kh,kw,c] += corr(x, dy); db [k] += sum dy (db may be NULL) */
	void (*conv2d_bwd_filter)(dl_backend *be, const dl_conv_geom *g, const float *x,
				  const float *dy, float *dw, float *db);

	/* y [n,oh,ow,c] = max over each window of x [n,h,w,c] */
	void (*maxpool_fwd)(dl_backend *be, const dl_pool_geom *g, const float *x, float *y);
	/* dx (written) routes dy to the first max of each window (x, y as in fwd) */
	void (*maxpool_bwd)(dl_backend *be, const dl_pool_geom *g, const float *x,
			    const float *y, const float *dy, float *dx);

	/* y = f(x), elementwise over n; y may equal x */
	void (*act_fwd)(dl_backend *be, dl_act_kind k, size_t n, const float *x, float *y);
	/* dx = f'(x) * dy, given x and y = f(x); dx may equal dy */
	void (*act_bwd)(dl_backend *be, dl_act_kind k, size_t n, const float *x,
			const float *y, const float *dy, float *dx);

	/* Softmax cross-entropy over logits [n, k] with labels [n] in [0, k).
	 * stats[0] += sum of losses, stats[1] += count of argmax == label.
	 * If dlogits is not NULL: dlogits = (softmax - onehot) * grad_scale. */
	void (*softmax_xent)(dl_backend *be, int n, int k, const float *logits,
			     const int32_t *labels, float grad_scale, float *dlogits,
			     float *stats);
	/* probs [n,k] = softmax(logits [n,k]) */
	void (*softmax)(dl_backend *be, int n, int k, const float *logits, float *probs);

	/* Optimizer updates over a flat parameter block of n floats.
	 * SGD:  v = momentum * v + g + wd * p;  p -= lr * v   (v may be NULL
	 *       when momentum == 0).
	 * Adam: m, v moments; bc1 = 1 - b1^t, bc2 = 1 - b2^t computed by the
	 *       caller; decoupled (AdamW) weight decay if wd != 0. */
	void (*sgd_update)(dl_backend *be, size_t n, float *p, const float *g, float *v,
			   float lr, float momentum, float wd);
	void (*adam_update)(dl_backend *be, size_t n, float *p, const float *g, float *m,
			    float *v, float lr, float b1, float b2, float eps, float wd,
			    float bc1, float bc2);

	/* Batch assembly from a device-resident dataset.
	 * out [n, sample] floats = normalised src[idx[i]] where src is u8
	 * [N, sample] (sample = h*w*c, channel fastest); idx is in device memory. */
	void (*gather_u8)(dl_backend *be, const uint8_t *src, const uint32_t *idx, int n,
			  size_t sample, const dl_norm *norm, float *out);
	/* out[i] = src[idx[i]] */
	void (*gather_i32)(dl_backend *be, const int32_t *src, const uint32_t *idx, int n,
			   int32_t *out);
} dl_backend_ops;

struct dl_backend {
	const dl_backend_ops *ops;
	int threads;      /* CPU threads used by this backend */
	void *impl;       /* backend-private state */
};

/* Opens a backend by name: "cpu" (threads <= 0 means all cores) or "auto"
 * (the CPU until a GPU backend is built).  Returns DL_EUSAGE for an unknown
 * name. */
int dl_backend_open(dl_backend **out, const char *name, int threads, dl_err *err);
void dl_backend_close(dl_backend *be);

/* CPU backend constructor (lib/backend/cpu/cpu.c). */
int dl_backend_cpu_open(dl_backend **out, int threads, dl_err *err);

/* Output size of a convolution/pool axis; < 1 means the geometry is invalid. */
static inline int dl_conv_out(int in, int pad_lo, int pad_hi, int k, int s)
{
	return (in + pad_lo + pad_hi - k) / s + 1;
}

#endif
