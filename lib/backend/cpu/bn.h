/* Batch norm on the CPU, private to bn.c (forward, inference) and bn_bwd.c
 * (backward): the job, its chunking and dispatch, and the loads and
 * stores of the bf16 link.
 *
 * Batch norm over x [rows, c] (NHWC with rows = n*h*w), per channel.
 *
 * Training sums the rows in blocks of BN_ROWS: each block in float, the
 * blocks in double in row order, so results do not depend on the thread
 * count.  Threads split the rows (each reads whole rows: contiguous memory)
 * and leave every block's sums in the backend's scratch (cpu_impl.bn_part),
 * which a second pass merges per channel; where that scratch cannot be had
 * they split the channels instead and merge as they go, with the same
 * arithmetic and so the same bits.  Channels are walked in chunks of
 * BN_CHUNK held in local arrays (fixed trip counts the compiler
 * vectorises).  Forward training reads x twice (statistics, then y),
 * backward reads x and dy twice.  Inference is elementwise, split by rows.
 *
 * A ReLU fused after the batch norm (relu_coef, ops.h) costs no pass of
 * its own: the forward applies max(., 0) as it writes y and keeps each
 * channel's scale and shift; the backward recomputes x * scale + shift
 * with the same float expression (this file is built with -std=c11:
 * no contraction into fused multiply-adds) and takes dy as 0 where it is
 * not positive, so the result has the bits of batch norm, then ReLU.
 *
 * The bf16 link (ops.h bn_fwd_train_h, bn_bwd_h) has x and dx, or y and
 * dy, or all four in bf16 (bn_job.mode: DL_LINK_X | DL_LINK_Y): each
 * kernel takes M_, the mode as a constant, loads x and dy through bn_ld
 * and bn_ld_dy (a bf16 widened exactly), so the arithmetic after the load
 * is the float ops' own, and rounds y and dx to bf16 (nearest even) as it
 * stores them (bn_st).
 *
 * Formulas (PyTorch's): mean and biased variance over the rows normalise;
 * running_var is updated with the unbiased variance.  Backward, with
 * xhat = (x - mean) * invstd:
 *   dbeta = sum dy, dgamma = sum dy * xhat,
 *   dx = gamma * invstd * (dy - dbeta / rows - xhat * dgamma / rows). */
#ifndef DL_BACKEND_CPU_BN_H
#define DL_BACKEND_CPU_BN_H

#include "backend/cpu/cpu.h"

#include <math.h>
#include <string.h>

#define BN_CHUNK 64
#define BN_MIN_PAR (1 << 14)

typedef struct bn_job {
	int rows, c;
	const float *x, *dy, *gamma, *beta, *mean, *var;
	float eps, momentum;
	float *run_mean, *run_var, *save_mean, *save_invstd, *y, *dx, *dgamma, *dbeta;
	/* the bf16 link: mode DL_LINK_X has x, dx in bf16 at xh, dxh;
	 * DL_LINK_Y has y, dy at yh, dyh (the float pointers NULL) */
	int mode;
	const uint16_t *xh, *dyh;
	uint16_t *dxh, *yh;
	/* fused ReLU: forward writes scale, shift [2][c] to relu_out; backward
	 * reads them from relu_in; infer: relu set */
	float *relu_out;
	const float *relu_in;
	int relu;
	/* the row-split passes: per-block partial sums [2][nb][c], then
	 * per-channel coefficients [3][c] */
	float *part, *coef;
	int nb;
} bn_job;

/* Rows per block: a block is summed in float (BN_ROWS x BN_CHUNK floats of
 * a chunk, 16 KiB, re-read from L1), and the blocks' sums are merged in
 * double in block order, so the result depends on neither the thread count
 * nor the split (rows or channels) but only on the rows' order. */
#define BN_ROWS 64

/* min(n, cap): the rows of a block starting at r0, the width of a chunk */
static inline int bn_clamp(int n, int cap)
{
	return n < cap ? n : cap;
}

/* Calls `call` with W_ a constant for the common chunk widths (a thread's
 * share of 64..512 channels), so the inner loops vectorise with no
 * remainder, and R_ the constant 0 or 1 for a fused ReLU. */
#define BN_DISPATCH_W(nc, call)                                               \
	do {                                                                  \
		if ((nc) == 64) { enum { W_ = 64 }; call; }                   \
		else if ((nc) == 32) { enum { W_ = 32 }; call; }              \
		else if ((nc) == 16) { enum { W_ = 16 }; call; }              \
		else { const int W_ = (nc); call; }                          \
	} while (0)
#define BN_DISPATCH_RW(nc, relu, call)                                        \
	do {                                                                  \
		if (relu) { enum { R_ = 1 }; BN_DISPATCH_W(nc, call); }       \
		else { enum { R_ = 0 }; BN_DISPATCH_W(nc, call); }            \
	} while (0)
/* ... and M_ the bf16 link's mode as a constant (bn_job.mode: 0 to 3,
 * DL_LINK_X | DL_LINK_Y) */
#define BN_DISPATCH(j, nc, relu, call)                                                \
	do {                                                                          \
		switch ((j)->mode) {                                                  \
		case 1: { enum { M_ = 1 }; BN_DISPATCH_RW(nc, relu, call); } break;   \
		case 2: { enum { M_ = 2 }; BN_DISPATCH_RW(nc, relu, call); } break;   \
		case 3: { enum { M_ = 3 }; BN_DISPATCH_RW(nc, relu, call); } break;   \
		default: { enum { M_ = 0 }; BN_DISPATCH_RW(nc, relu, call); }         \
		}                                                                     \
	} while (0)

/* A row of a tensor from element offset o: its floats f, or its bf16
 * values h (H); the kernels index it with the channel k (int: the loops
 * vectorise) */
typedef struct bn_row {
	const float *f;
	const uint16_t *h;
} bn_row;

typedef struct bn_out {
	float *f;
	uint16_t *h;
} bn_out;

static inline __attribute__((always_inline)) bn_row bn_at(const float *f, const uint16_t *h,
							   size_t o, int H)
{
	return H ? (bn_row){ NULL, h + o } : (bn_row){ f + o, NULL };
}

static inline __attribute__((always_inline)) bn_out bn_out_at(float *f, uint16_t *h, size_t o,
							       int H)
{
	return H ? (bn_out){ NULL, h + o } : (bn_out){ f + o, NULL };
}

/* row[k]: a float, or a bf16 widened exactly (H) */
static inline __attribute__((always_inline)) float bn_ld(bn_row row, int k, int H)
{
	return H ? cpu_bf16_wide(row.h[k]) : row.f[k];
}

/* row[k] = v: a float, or rounded to bf16 (H) */
static inline __attribute__((always_inline)) void bn_st(bn_out row, int k, float v, int H)
{
	if (H)
		row.h[k] = cpu_bf16_round(v);
	else
		row.f[k] = v;
}

enum { BN_X = DL_LINK_X, BN_Y = DL_LINK_Y };

/* The shift of the shifted-data sums: the batch's first row of the chunk */
static inline void bn_shift(const bn_job *j, int c0, int nc, float *sh)
{
	int H = (j->mode & BN_X) != 0;
	bn_row x = bn_at(j->x, j->xh, (size_t)c0, H);
	for (int k = 0; k < nc; k++)
		sh[k] = bn_ld(x, k, H);
}

/* x * s + t, the value a fused ReLU clips: one expression for forward and
 * backward, so both see the same bits */
static inline float bn_affine(float x, float s, float t)
{
	return x * s + t;
}

/* Points j->part and j->coef at the backend's row-split scratch, grown to
 * [2][nb][c] + [3][c] floats; 0, or -1 (out of memory: the channel split
 * runs instead, with the same result). */
int cpu_bn_rows_scratch(cpu_impl *im, bn_job *j);

#endif
