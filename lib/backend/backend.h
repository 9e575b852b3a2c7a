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
#include <stdio.h>
#include "core/error.h"

typedef struct dl_backend dl_backend;

/* Marks the shared inline helpers below as callable from CUDA kernels too
 * (lib/backend/cuda/ compiles this header with nvcc). */
#ifdef __CUDACC__
#define DL_HOSTDEV __host__ __device__
#else
#define DL_HOSTDEV
#endif

/* Convolution geometry.  Input [n, h, w, c], weights [k, kh, kw, c / groups],
 * output [n, oh, ow, k] where oh = (h + pt + pb - dh * (kh - 1) - 1) / sh + 1
 * (and ow likewise).  Groups split c and k into `groups` equal slices
 * (c % groups == 0, k % groups == 0); output channels [g*k/G, (g+1)*k/G)
 * see input channels [g*c/G, (g+1)*c/G).  dh, dw and groups read 0 as 1,
 * so older initialisers stay valid. */
typedef struct dl_conv_geom {
	int n, h, w, c;
	int k, kh, kw;
	int sh, sw;
	int pt, pl, pb, pr;   /* padding top, left, bottom, right */
	int oh, ow;
	int dh, dw;           /* dilation (0 = 1) */
	int groups;           /* 0 = 1 */
} dl_conv_geom;

/* Pooling geometry: input [n, h, w, c] -> output [n, oh, ow, c]. Padding
 * cells never win a max. */
typedef struct dl_pool_geom {
	int n, h, w, c;
	int kh, kw, sh, sw;
	int pt, pl;
	int oh, ow;
} dl_pool_geom;

/* Elementwise activations (act_fwd / act_bwd).  alpha is the negative
 * slope of LEAKY_RELU and ignored by the others.  GELU is the exact erf
 * form (PyTorch's default, approximate='none'). */
typedef enum {
	DL_ACT_RELU = 0,
	DL_ACT_LEAKY_RELU,
	DL_ACT_TANH,
	DL_ACT_SIGMOID,
	DL_ACT_GELU,
} dl_act_kind;

/* Regression losses (regress_loss). */
typedef enum { DL_REG_MSE = 0, DL_REG_HUBER } dl_reg_kind;

/* Batch augmentation in gather_u8: random crop after zero-padding `pad`
 * pixels on each side (torchvision RandomCrop(padding=pad): the padding is
 * pixel value 0, normalised like any pixel), then a horizontal flip with
 * probability 1/2 if `flip`.  Sample i of a call draws its choices from
 * dl_hash_u64(seed, 3*i + {0: dy, 1: dx, 2: flip}), so every backend makes
 * the same choices; the caller changes seed every batch. */
typedef struct dl_aug {
	int pad;
	int flip;
	uint64_t seed;
} dl_aug;

/* Counter-based random numbers shared by all backends (dropout masks,
 * augmentation): a splitmix64 finaliser of seed and counter. */
DL_HOSTDEV static inline uint64_t dl_hash_u64(uint64_t seed, uint64_t i)
{
	uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The seed s' with dl_hash_u64(s', i) == dl_hash_u64(s, i + skip) for every
 * i: a call on samples [skip, ...) of a batch makes the choices the whole
 * batch would make for them (data-parallel ranks hold slices of batches). */
DL_HOSTDEV static inline uint64_t dl_hash_skip(uint64_t seed, uint64_t skip)
{
	return seed + skip * 0x9e3779b97f4a7c15ull;
}

/* Uniform in [0, 1) with 24 bits, exactly representable as float. */
DL_HOSTDEV static inline float dl_hash_uniform(uint64_t seed, uint64_t i)
{
	return (float)(dl_hash_u64(seed, i) >> 40) * (1.0f / 16777216.0f);
}

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
	/* y = mean over each window, padding cells counted (PyTorch's
	 * count_include_pad=True: divisor kh*kw).  Global average pooling is
	 * the window kh = h, kw = w. */
	void (*avgpool_fwd)(dl_backend *be, const dl_pool_geom *g, const float *x, float *y);
	/* dx (written) = dy spread evenly over each window */
	void (*avgpool_bwd)(dl_backend *be, const dl_pool_geom *g, const float *dy, float *dx);

	/* Batch norm over x [rows, c] (rows = n*h*w, NHWC), per channel.
	 * Training: batch mean and biased variance normalise; save_mean and
	 * save_invstd [c] (written) keep them for backward; running stats are
	 * updated as PyTorch does: r = (1 - momentum) r + momentum * s, with
	 * the unbiased variance (rows / (rows - 1)) for run_var. */
	void (*bn_fwd_train)(dl_backend *be, int rows, int c, const float *x,
			     const float *gamma, const float *beta, float eps, float momentum,
			     float *run_mean, float *run_var, float *save_mean,
			     float *save_invstd, float *y);
	/* Inference: y = (x - run_mean) / sqrt(run_var + eps) * gamma + beta */
	void (*bn_fwd_infer)(dl_backend *be, int rows, int c, const float *x,
			     const float *gamma, const float *beta, const float *run_mean,
			     const float *run_var, float eps, float *y);
	/* dx (written; NULL: only the parameter gradients); dgamma, dbeta [c]
	 * accumulate (+=). */
	void (*bn_bwd)(dl_backend *be, int rows, int c, const float *x, const float *dy,
		       const float *gamma, const float *save_mean, const float *save_invstd,
		       float *dx, float *dgamma, float *dbeta);

	/* Inverted dropout: y[i] = x[i] / (1 - p) if dl_hash_uniform(seed, i)
	 * >= p, else 0.  Backward is the same call on dy with the same seed.
	 * y may equal x. */
	void (*dropout)(dl_backend *be, size_t n, const float *x, float *y, float p,
			uint64_t seed);
	/* y = alpha * x + beta * y  (beta == 0: y is only written) */
	void (*axpby)(dl_backend *be, size_t n, float alpha, const float *x, float beta,
		      float *y);
	/* For r < rows, j < cols: dst[r*dld + j] = src[r*sld + j], or += when
	 * acc (channel concat and its backward in NHWC). */
	void (*copy2d)(dl_backend *be, int rows, int cols, const float *src, int sld,
		       float *dst, int dld, int acc);

	/* y = f(x), elementwise over n; y may equal x */
	void (*act_fwd)(dl_backend *be, dl_act_kind k, float alpha, size_t n, const float *x,
			float *y);
	/* dx = f'(x) * dy, given x and y = f(x); dx may equal dy (then x or y
	 * may be the same buffer only if the kind does not need it) */
	void (*act_bwd)(dl_backend *be, dl_act_kind k, float alpha, size_t n, const float *x,
			const float *y, const float *dy, float *dx);

	/* Softmax cross-entropy over logits [n, k] with labels [n] in [0, k),
	 * with label smoothing s (PyTorch's label_smoothing: the target is
	 * (1 - s) onehot + s / k).  stats[0] += sum of losses, stats[1] +=
	 * count of argmax == label.  If dlogits is not NULL:
	 * dlogits = (softmax - target) * grad_scale. */
	void (*softmax_xent)(dl_backend *be, int n, int k, const float *logits,
			     const int32_t *labels, float smoothing, float grad_scale,
			     float *dlogits, float *stats);
	/* Regression loss over pred, target [n, k], elementwise e = p - t:
	 * MSE l = e^2; HUBER l = e^2 / 2 if |e| < delta else delta (|e| - delta/2)
	 * (PyTorch's HuberLoss).  stats[0] += sum l, stats[1] += sum |e|,
	 * stats[2] += sum e^2.  If dpred is not NULL: dpred = dl/dp * grad_scale. */
	void (*regress_loss)(dl_backend *be, dl_reg_kind kind, int n, int k, const float *pred,
			     const float *target, float delta, float grad_scale, float *dpred,
			     float *stats);
	/* probs [n,k] = softmax(logits [n,k]) */
	void (*softmax)(dl_backend *be, int n, int k, const float *logits, float *probs);

	/* Optimizer updates over a flat parameter block of n floats (PyTorch's
	 * formulas, dampening 0).
	 * SGD:  d = g + wd * p; v = momentum * v + d; p -= lr * (nesterov ?
	 *       d + momentum * v : v)   (v may be NULL when momentum == 0).
	 * Adam: m, v moments; bc1 = 1 - b1^t, bc2 = 1 - b2^t computed by the
	 *       caller; decoupled: AdamW (p -= lr * wd * p), else Adam's L2
	 *       (g += wd * p before the moments). */
	void (*sgd_update)(dl_backend *be, size_t n, float *p, const float *g, float *v,
			   float lr, float momentum, float wd, int nesterov);
	void (*adam_update)(dl_backend *be, size_t n, float *p, const float *g, float *m,
			    float *v, float lr, float b1, float b2, float eps, float wd,
			    int decoupled, float bc1, float bc2);
	/* out[0] = sum of x[i]^2 (device scalar, written) */
	void (*sumsq)(dl_backend *be, size_t n, const float *x, float *out);
	/* Gradient clipping by global norm without a host round trip:
	 * x *= min(1, max_norm / (sqrt(sumsq[0]) + 1e-6)) (PyTorch's
	 * clip_grad_norm_). */
	void (*clip_scale)(dl_backend *be, size_t n, float *x, const float *sumsq,
			   float max_norm);

	/* Batch assembly from a device-resident dataset.
	 * out [n, h, w, c] floats = normalised src[idx[i]] where src is u8
	 * [N, h, w, c]; idx is in device memory; norm NULL: raw values;
	 * aug NULL: no augmentation (see dl_aug). */
	void (*gather_u8)(dl_backend *be, const uint8_t *src, const uint32_t *idx, int n,
			  int h, int w, int c, const dl_norm *norm, const dl_aug *aug,
			  float *out);
	/* out[i] = src[idx[i]] */
	void (*gather_i32)(dl_backend *be, const int32_t *src, const uint32_t *idx, int n,
			   int32_t *out);
	/* out[i, :] = src[idx[i], :] for rows of k floats (regression targets) */
	void (*gather_f32)(dl_backend *be, const float *src, const uint32_t *idx, int n, int k,
			   float *out);

	/* Batch norm with statistics over all data-parallel ranks (--sync-bn;
	 * the layer sums the partial results over ranks between the calls).
	 * NULL on a backend without them.  x, dy [rows, c] are this rank's.
	 * bn_stats: out [c] (written) = sum over rows of x, or of (x - mean)^2
	 * when mean [c] is not NULL.
	 * bn_fwd_given: training forward from the global mean [c] and sqdev
	 * [c] = sum (x - mean)^2 over all ranks' `count` rows: var = sqdev /
	 * count; save_invstd written; running stats updated as bn_fwd_train
	 * does (unbiased variance sqdev / (count - 1)); y written.
	 * bn_bwd_given: dx (written) from dgamma = sum dy * xhat and dbeta =
	 * sum dy [c] over all ranks' `count` rows (bn_bwd's formula). */
	void (*bn_stats)(dl_backend *be, int rows, int c, const float *x, const float *mean,
			 float *out);
	void (*bn_fwd_given)(dl_backend *be, int rows, int c, long count, const float *x,
			     const float *gamma, const float *beta, float eps, float momentum,
			     const float *mean, const float *sqdev, float *run_mean, float *run_var,
			     float *save_invstd, float *y);
	void (*bn_bwd_given)(dl_backend *be, int rows, int c, long count, const float *x,
			     const float *dy, const float *gamma, const float *save_mean,
			     const float *save_invstd, const float *dgamma, const float *dbeta,
			     float *dx);
} dl_backend_ops;

struct dl_backend {
	const dl_backend_ops *ops;
	int threads;      /* CPU threads used by this backend */
	void *impl;       /* backend-private state */
};

/* Opens a backend by name: "cpu" (threads <= 0 means all cores), "cuda" or
 * "cuda:N" (GPU N through build/lib/libdl-cuda.so, loaded on demand; see
 * lib/backend/backend.c) or "auto" (the first GPU when one answers, else
 * the CPU: silently when there is no GPU at all, with a one-line note on
 * stderr when a GPU setup exists but fails).  Returns DL_EUSAGE for an
 * unknown name and for a CUDA device that is not available (no backend
 * library, driver, device, cuDNN or cuBLAS), with a one-line reason. */
int dl_backend_open(dl_backend **out, const char *name, int threads, dl_err *err);
/* The same with a precision for the GPU: "fp32" (default, as the CPU),
 * "tf32" (tensor-core matmul and convolution); NULL means fp32. */
int dl_backend_open_prec(dl_backend **out, const char *name, int threads,
			 const char *precision, dl_err *err);
void dl_backend_close(dl_backend *be);
/* Lists the devices (the CPU, each CUDA GPU or why there is none) on f,
 * one per line; for dl-train --devices.  Returns 0 or DL_EIO. */
int dl_backend_list(FILE *f, dl_err *err);

/* What libdl-cuda.so exports (resolved with dlsym by backend.c).  The ABI
 * number changes whenever this header's structs change, so a stale .so is
 * refused with a message instead of crashing. */
#define DL_CUDA_ABI (1000 + (int)sizeof(dl_backend_ops) + (int)sizeof(dl_err))
/* In dl_cuda_open's message when the machine has no usable GPU (no
 * driver, no device): auto then falls back to the CPU silently. */
#define DL_CUDA_NO_DEVICE "no CUDA device"
typedef int (*dl_cuda_abi_fn)(void);
typedef int (*dl_cuda_open_fn)(dl_backend **out, int device, const char *precision,
			       dl_err *err);
typedef int (*dl_cuda_list_fn)(FILE *f);

/* The path of libdl-cuda.so (DL_CUDA_LIB, else ../lib next to the running
 * executable) into buf; 0, or -1 when it cannot be told.  lib/dist loads
 * the NCCL part of the library from there too. */
int dl_backend_cuda_lib(char *buf, size_t cap);

/* CPU backend constructor (lib/backend/cpu/cpu.c). */
int dl_backend_cpu_open(dl_backend **out, int threads, dl_err *err);

/* Output size of a convolution/pool axis; < 1 means the geometry is invalid. */
static inline int dl_conv_out(int in, int pad_lo, int pad_hi, int k, int s)
{
	return (in + pad_lo + pad_hi - k) / s + 1;
}

#endif
