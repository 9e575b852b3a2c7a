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
 *   (shapes checked at model build time); allocation can fail (NULL).  What
 *   does fail (a device fault; on the CPU a conv op on a geometry
 *   conv2d_reserve was not called for) is recorded for the `error` op.
 * - Diagnostics that are not errors go to dl_backend.log (core/log.h), the
 *   opener's hook; a backend never writes to stderr.
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
#include "core/log.h"
#include "backend/ops.h"

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
 * form (PyTorch's default, approximate='none').  HARDSWISH is
 * x * min(max(x + 3, 0), 6) / 6 (PyTorch's Hardswish; gradient 0 below -3,
 * x / 3 + 1/2 up to 3, 1 above). */
typedef enum {
	DL_ACT_RELU = 0,
	DL_ACT_LEAKY_RELU,
	DL_ACT_TANH,
	DL_ACT_SIGMOID,
	DL_ACT_GELU,
	DL_ACT_HARDSWISH,
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

/* The bf16 link's flags (ops.h conv2d_bf16_link): which of an op's
 * tensors are bf16.  DL_LINK_X: its input x and input gradient dx;
 * DL_LINK_Y: its output y and output gradient dy. */
enum { DL_LINK_X = 1, DL_LINK_Y = 2 };

/* One function pointer per op of lib/backend/ops.h, in its order; the
 * contract of each op is written there. */
typedef struct dl_backend_ops {
	const char *name;                       /* "cpu", "cuda" */
#define DL_OP_FIELD(P, ret, op, params) DL_OP_FIELD_(P, ret, op, params)
	DL_BACKEND_OPS(DL_OP_FIELD, ~)
#undef DL_OP_FIELD
} dl_backend_ops;

struct dl_backend {
	const dl_backend_ops *ops;
	int threads;      /* CPU threads used by this backend */
	void *impl;       /* backend-private state */
	dl_logger log;    /* the opener's diagnostics hook (core/log.h); zeroed: silent */
};

/* What to open.  device: "cpu" (NULL too), "cuda" or "cuda:N" (GPU N
 * through build/lib/libdl-cuda.so, loaded on demand; see
 * lib/backend/backend.c) or "auto" (the first GPU when one answers, else
 * the CPU: silently when there is no GPU at all, with a note through log
 * when a GPU setup exists but fails).  threads: CPU threads, <= 0 for all
 * cores.  precision: "fp32" (NULL too; as the CPU), "tf32" (tensor-core
 * matmul and convolution) or "bf16"; tf32 and bf16 need a GPU, except bf16
 * on a CPU with AVX512-BF16 and oneDNN (cpu.c), and the CPU backend (asked
 * for, or auto's fallback) refuses them otherwise (DL_EUSAGE).  log: the
 * tool's diagnostics hook (core/log.h), kept in dl_backend.log for what
 * the backend has to say later (a CUDA error nobody read at release, peak
 * memory with DL_CUDA_MEMSTATS); zeroed: silent. */
typedef struct dl_backend_opts {
	const char *device;
	int threads;
	const char *precision;
	dl_logger log;
} dl_backend_opts;

/* Opens a backend.  Returns DL_EUSAGE for an unknown device or precision
 * and for a CUDA device that is not available (no backend library, driver,
 * device, cuDNN or cuBLAS), with a one-line reason. */
int dl_backend_open_opts(dl_backend **out, const dl_backend_opts *o, dl_err *err);
/* The same for device `name` in fp32, silent (library code, tests). */
int dl_backend_open(dl_backend **out, const char *name, int threads, dl_err *err);
void dl_backend_close(dl_backend *be);
/* Lists the devices (the CPU, each CUDA GPU or why there is none) on f,
 * one per line; for dl-train --devices.  Returns 0 or DL_EIO. */
int dl_backend_list(FILE *f, dl_err *err);

/* What libdl-cuda.so exports (resolved with dlsym by backend.c).  The ABI
 * number is derived from the op list itself: an FNV-1a hash of the
 * stringified DL_BACKEND_OPS (every op's name, return and parameter types,
 * as written) mixed with the sizes of the structs the ops and the entry
 * points pass.  A .so built from a list that differs in any signature
 * returns another number and is refused with a message, not run.
 * (Computed at run time on both sides: C has no constexpr; it costs one
 * pass over a few KiB at open.) */
static inline int dl_backend_abi(void)
{
	static const char sig[] = DL_BACKEND_SIGNATURE;
	uint32_t h = 2166136261u;
	for (const char *s = sig; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	const size_t sizes[] = { sizeof(dl_backend_ops), sizeof(dl_backend), sizeof(dl_err),
				 sizeof(dl_conv_geom), sizeof(dl_pool_geom), sizeof(dl_norm),
				 sizeof(dl_aug) };
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
		h = (h ^ (uint32_t)sizes[i]) * 16777619u;
	return (int)(h & 0x7fffffff);
}
#define DL_CUDA_ABI dl_backend_abi()
/* The name of the first NULL op in a table, or NULL when every op is
 * there (backend.c refuses a backend whose table has a hole). */
static inline const char *dl_backend_ops_missing(const dl_backend_ops *o)
{
#define DL_OP_CHECK(P, ret, op, params) if (!o->op) return #op;
	DL_BACKEND_OPS(DL_OP_CHECK, ~)
#undef DL_OP_CHECK
	return NULL;
}
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
/* The same with a precision: NULL or "fp32"; "bf16" runs convolutions with
 * bf16 inputs and fp32 accumulation and outputs where the CPU has
 * AVX512-BF16 and oneDNN is built in (refused otherwise, DL_EUSAGE);
 * "tf32" is refused (a GPU format). */
int dl_backend_cpu_open_prec(dl_backend **out, int threads, const char *precision,
			     dl_err *err);

/* Output size of a convolution/pool axis; < 1 means the geometry is invalid. */
static inline int dl_conv_out(int in, int pad_lo, int pad_hi, int k, int s)
{
	return (in + pad_lo + pad_hi - k) / s + 1;
}

#endif
