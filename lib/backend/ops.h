/* The op contract written once: every op of a backend as one line of an
 * X-macro, DL_BACKEND_OPS(X, P), expanded into
 *   - the ops struct (backend.h: one function pointer per op),
 *   - each backend's prototypes, DL_BACKEND_PROTOTYPES(cpu) declares
 *     `cpu_gemm(...)` and so on (cpu.h; cuda.h with cu),
 *   - each backend's table, DL_BACKEND_TABLE(cpu, "cpu"), a positional
 *     initialiser naming P_op for every op in order (C and C++ alike),
 *   - the ABI signature, the list stringified (dl_backend_abi() in
 *     backend.h hashes it), so a .so built from another list is refused.
 * A backend that lacks an op fails to link; one whose definition differs
 * from the line here fails to compile (C) or to link (C++: an overload);
 * dl_backend_ops_missing() refuses a table with a NULL entry at open.
 *
 * Each entry is X(P, return type, name, (parameters)); the comments give
 * the contract of each op (conventions in backend.h).  Only block
 * comments here: a line comment would swallow the continuation. */
#ifndef DL_BACKEND_OPS_H
#define DL_BACKEND_OPS_H

#define DL_BACKEND_OPS(X, P)                                                              \
	/* frees be too */                                                                \
	X(P, void, release, (dl_backend *be))                                              \
	/* memory: 64-byte aligned, zeroed; NULL when out of memory */                     \
	X(P, void *, alloc, (dl_backend *be, size_t bytes))                                \
	X(P, void, free, (dl_backend *be, void *p))                                        \
	X(P, void, to_device, (dl_backend *be, void *dst, const void *src, size_t bytes))  \
	X(P, void, to_host, (dl_backend *be, void *dst, const void *src, size_t bytes))    \
	X(P, void, zero, (dl_backend *be, void *p, size_t bytes))                          \
	X(P, void, sync, (dl_backend *be))                                                 \
	/* 0, or the first error the backend met since open (a failed device call,          \
	 * an asynchronous fault found at a sync, a conv op without conv2d_reserve)         \
	 * as a one-line message in err naming the op.  After one, the GPU's ops do        \
	 * nothing; the CPU's failing op writes nothing (cpu.h: cpu_fault). */              \
	X(P, int, error, (dl_backend *be, dl_err *err))                                    \
	/* C[m,n] = alpha * op(A) op(B) + beta * C, row-major; op(A) is [m,k],             \
	 * op(B) is [k,n]; ta/tb nonzero means the stored matrix is transposed.            \
	 * beta == 0: C is only written (it may hold NaN). */                              \
	X(P, void, gemm, (dl_backend *be, int ta, int tb, int m, int n, int k, float alpha, \
			  const float *a, int lda, const float *b, int ldb, float beta,    \
			  float *c, int ldc))                                              \
	/* y[r, j] += b[j] for r < rows, j < cols */                                       \
	X(P, void, bias_add, (dl_backend *be, float *y, const float *b, int rows, int cols)) \
	/* db[j] += sum_r dy[r, j] */                                                      \
	X(P, void, bias_grad, (dl_backend *be, float *db, const float *dy, int rows,      \
			       int cols))                                                  \
	/* Allocates once what the three conv ops below need for geometry g with up       \
	 * to g->n samples (the CPU's per-thread im2col and partial-gradient               \
	 * scratch), so they never allocate; dl_model_plan calls it for every conv         \
	 * layer.  DL_EFAIL when out of memory.  A conv op on a geometry larger than       \
	 * the reserved one is a caller bug: the CPU backend records it for the            \
	 * error op, naming the op, and writes nothing. */                                 \
	X(P, int, conv2d_reserve, (dl_backend *be, const dl_conv_geom *g, dl_err *err))    \
	/* y [n,oh,ow,k] = conv(x [n,h,w,c], w [k,kh,kw,c]) + b [k] (b may be NULL) */     \
	X(P, void, conv2d_fwd, (dl_backend *be, const dl_conv_geom *g, const float *x,    \
				const float *w, const float *b, float *y))                 \
	/* dx [n,h,w,c] = conv_transpose(dy, w)   (written) */                             \
	X(P, void, conv2d_bwd_data, (dl_backend *be, const dl_conv_geom *g,               \
				     const float *dy, const float *w, float *dx))          \
	/* dw [k,kh,kw,c] += corr(x, dy); db [k] += sum dy (db may be NULL) */             \
	X(P, void, conv2d_bwd_filter, (dl_backend *be, const dl_conv_geom *g,             \
				       const float *x, const float *dy, float *dw,         \
				       float *db))                                         \
	/* The training pair, for backends that convert inputs (the CPU's bf16     \
	 * and Winograd kernels).  conv2d_saved_floats: the floats of the           \
	 * caller-owned buffer `saved` that conv2d_fwd_train may fill for           \
	 * geometry g (0: it never does; then pass NULL).  conv2d_fwd_train is      \
	 * conv2d_fwd, and may keep its converted x in saved.  conv2d_bwd is        \
	 * conv2d_bwd_filter then conv2d_bwd_data (dx NULL: none), converting dy    \
	 * once for both, and reading x's conversion from saved when the last       \
	 * conv2d_fwd_train on saved had this x and geometry: the caller keeps x    \
	 * unchanged in between, as for any backward.  saved may be NULL. */        \
	X(P, size_t, conv2d_saved_floats, (dl_backend *be, const dl_conv_geom *g,         \
					  int bias))                                       \
	X(P, void, conv2d_fwd_train, (dl_backend *be, const dl_conv_geom *g,              \
				      const float *x, const float *w, const float *b,      \
				      float *y, float *saved))                             \
	X(P, void, conv2d_bwd, (dl_backend *be, const dl_conv_geom *g, const float *x,    \
				const float *dy, const float *w, const float *saved,       \
				float *dw, float *db, float *dx))                          \
	/* The bf16 link, for backends with bf16 kernels (the CPU's under          \
	 * --precision bf16): the tensor between a conv and a batch norm that is   \
	 * its only reader, either way round, travels in bf16 (nearest even), and  \
	 * so does its gradient, halving the bytes between them.  flags say        \
	 * which of an op's tensors are bf16: DL_LINK_X x and dx, DL_LINK_Y y and  \
	 * dy (backend.h); the others are float.  conv2d_bf16_link: 1 when the     \
	 * backend runs the conv ops below natively for geometry g with any flags  \
	 * (else 0: never call them, nor the batch-norm ones with a conv of g).    \
	 * conv2d_fwd_train_h and conv2d_bwd_h are conv2d_fwd_train and            \
	 * conv2d_bwd; a bf16 y or dy buffer must have room for floats (the CPU    \
	 * may convert in place, and dy may be overwritten).  bn_fwd_train_h and   \
	 * bn_bwd_h are bn_fwd_train and bn_bwd; a bf16 x or dy is widened         \
	 * exactly, so the arithmetic is the float ops' on those values. */        \
	X(P, int, conv2d_bf16_link, (dl_backend *be, const dl_conv_geom *g, int bias))     \
	X(P, void, conv2d_fwd_train_h, (dl_backend *be, const dl_conv_geom *g,            \
					const void *x, const float *w, const float *b,     \
					void *y, float *saved, int flags))                 \
	X(P, void, conv2d_bwd_h, (dl_backend *be, const dl_conv_geom *g, const void *x,   \
				  void *dy, const float *w, const float *saved, float *dw, \
				  float *db, void *dx, int flags))                         \
	X(P, void, bn_fwd_train_h, (dl_backend *be, int rows, int c, const void *x,       \
				    const float *gamma, const float *beta, float eps,      \
				    float momentum, float *run_mean, float *run_var,       \
				    float *save_mean, float *save_invstd,                  \
				    float *relu_coef, void *y, int flags))                 \
	X(P, void, bn_bwd_h, (dl_backend *be, int rows, int c, const void *x,             \
			      const void *dy, const float *gamma, const float *save_mean,  \
			      const float *save_invstd, const float *relu_coef, void *dx,  \
			      float *dgamma, float *dbeta, int flags))                     \
	/* y [n,oh,ow,c] = max over each window of x [n,h,w,c] */                          \
	X(P, void, maxpool_fwd, (dl_backend *be, const dl_pool_geom *g, const float *x,   \
				 float *y))                                                \
	/* dx (written) routes dy to the first max of each window (x, y as in fwd) */      \
	X(P, void, maxpool_bwd, (dl_backend *be, const dl_pool_geom *g, const float *x,   \
				 const float *y, const float *dy, float *dx))              \
	/* y = mean over each window, padding cells counted (PyTorch's                     \
	 * count_include_pad=True: divisor kh*kw).  Global average pooling is              \
	 * the window kh = h, kw = w. */                                                   \
	X(P, void, avgpool_fwd, (dl_backend *be, const dl_pool_geom *g, const float *x,   \
				 float *y))                                                \
	/* dx (written) = dy spread evenly over each window */                             \
	X(P, void, avgpool_bwd, (dl_backend *be, const dl_pool_geom *g, const float *dy,  \
				 float *dx))                                               \
	/* Batch norm over x [rows, c] (rows = n*h*w, NHWC), per channel.                  \
	 * Training: batch mean and biased variance normalise; save_mean and               \
	 * save_invstd [c] (written) keep them for backward; running stats are             \
	 * updated as PyTorch does: r = (1 - momentum) r + momentum * s, with              \
	 * the unbiased variance (rows / (rows - 1)) for run_var.                          \
	 * relu_coef: NULL, or [2c] (written): a ReLU fused after the batch norm,          \
	 * y = max(x * s + t, 0) with the channel's scale s = relu_coef[j] and             \
	 * shift t = relu_coef[c + j] as the backend applied them. */                      \
	X(P, void, bn_fwd_train, (dl_backend *be, int rows, int c, const float *x,        \
				  const float *gamma, const float *beta, float eps,        \
				  float momentum, float *run_mean, float *run_var,         \
				  float *save_mean, float *save_invstd, float *relu_coef,  \
				  float *y))                                               \
	/* Inference: y = (x - run_mean) / sqrt(run_var + eps) * gamma + beta,             \
	 * then max(y, 0) when relu (a fused ReLU) */                                      \
	X(P, void, bn_fwd_infer, (dl_backend *be, int rows, int c, const float *x,        \
				  const float *gamma, const float *beta,                   \
				  const float *run_mean, const float *run_var, float eps,  \
				  int relu, float *y))                                     \
	/* dx (written; NULL: only the parameter gradients); dgamma, dbeta [c]             \
	 * accumulate (+=).  relu_coef: NULL, or the fused forward's [2c]: dy is           \
	 * taken as 0 wherever x * s + t <= 0 (the ReLU's backward, y = 0 there),          \
	 * computed exactly as the forward computed it. */                                 \
	X(P, void, bn_bwd, (dl_backend *be, int rows, int c, const float *x,              \
			    const float *dy, const float *gamma, const float *save_mean,   \
			    const float *save_invstd, const float *relu_coef, float *dx,   \
			    float *dgamma, float *dbeta))                                  \
	/* Inverted dropout: y[i] = x[i] / (1 - p) if dl_hash_uniform(seed, i)             \
	 * >= p, else 0.  Backward is the same call on dy with the same seed.              \
	 * y may equal x. */                                                               \
	X(P, void, dropout, (dl_backend *be, size_t n, const float *x, float *y, float p, \
			     uint64_t seed))                                               \
	/* y = alpha * x + beta * y  (beta == 0: y is only written, never read) */         \
	X(P, void, axpby, (dl_backend *be, size_t n, float alpha, const float *x,         \
			   float beta, float *y))                                          \
	/* y = a + b, then max(y, 0) when relu (a residual add with the ReLU after         \
	 * it fused); y may equal a or b */                                                \
	X(P, void, add2, (dl_backend *be, size_t n, const float *a, const float *b,       \
			  int relu, float *y))                                             \
	/* For r < rows, j < cols: dst[r*dld + j] = src[r*sld + j], or += when             \
	 * acc (channel concat and its backward in NHWC). */                               \
	X(P, void, copy2d, (dl_backend *be, int rows, int cols, const float *src, int sld, \
			    float *dst, int dld, int acc))                                 \
	/* y = f(x), elementwise over n; y may equal x */                                  \
	X(P, void, act_fwd, (dl_backend *be, dl_act_kind k, float alpha, size_t n,        \
			     const float *x, float *y))                                    \
	/* dx = f'(x) * dy, given x and y = f(x); dx may equal dy.  relu, tanh and        \
	 * sigmoid read y only (x may be NULL); leaky relu (x > 0 ? dy : alpha dy,          \
	 * right for any slope) and gelu read x only (y may be NULL). */                   \
	X(P, void, act_bwd, (dl_backend *be, dl_act_kind k, float alpha, size_t n,        \
			     const float *x, const float *y, const float *dy, float *dx))  \
	/* Softmax cross-entropy over logits [n, k] with labels [n] in [0, k),             \
	 * with label smoothing s (PyTorch's label_smoothing: the target is                \
	 * (1 - s) onehot + s / k).  stats[0] += sum of losses, stats[1] +=                \
	 * count of argmax == label.  If dlogits is not NULL:                              \
	 * dlogits = (softmax - target) * grad_scale. */                                   \
	X(P, void, softmax_xent, (dl_backend *be, int n, int k, const float *logits,      \
				  const int32_t *labels, float smoothing, float grad_scale, \
				  float *dlogits, float *stats))                           \
	/* Regression loss over pred, target [n, k], elementwise e = p - t:                \
	 * MSE l = e^2; HUBER l = e^2 / 2 if |e| < delta else delta (|e| - delta/2)        \
	 * (PyTorch's HuberLoss).  stats[0] += sum l, stats[1] += sum |e|,                 \
	 * stats[2] += sum e^2.  If dpred is not NULL: dpred = dl/dp * grad_scale. */      \
	X(P, void, regress_loss, (dl_backend *be, dl_reg_kind kind, int n, int k,         \
				  const float *pred, const float *target, float delta,     \
				  float grad_scale, float *dpred, float *stats))           \
	/* probs [n,k] = softmax(logits [n,k]) */                                          \
	X(P, void, softmax, (dl_backend *be, int n, int k, const float *logits,           \
			     float *probs))                                                \
	/* Optimizer updates over a flat parameter block of n floats (PyTorch's            \
	 * formulas, dampening 0).                                                         \
	 * SGD:  d = g + wd * p; v = momentum * v + d; p -= lr * (nesterov ?               \
	 *       d + momentum * v : v)   (v may be NULL when momentum == 0).               \
	 * Adam: m, v moments; bc1 = 1 - b1^t, bc2 = 1 - b2^t computed by the              \
	 *       caller; decoupled: AdamW (p -= lr * wd * p), else Adam's L2               \
	 *       (g += wd * p before the moments). */                                      \
	X(P, void, sgd_update, (dl_backend *be, size_t n, float *p, const float *g,       \
				float *v, float lr, float momentum, float wd,              \
				int nesterov))                                             \
	X(P, void, adam_update, (dl_backend *be, size_t n, float *p, const float *g,      \
				 float *m, float *v, float lr, float b1, float b2,         \
				 float eps, float wd, int decoupled, float bc1, float bc2)) \
	/* out[0] = sum of x[i]^2 (device scalar, written) */                              \
	X(P, void, sumsq, (dl_backend *be, size_t n, const float *x, float *out))          \
	/* Gradient clipping by global norm without a host round trip:                     \
	 * x *= min(1, max_norm / (sqrt(sumsq[0]) + 1e-6)) (PyTorch's                      \
	 * clip_grad_norm_: a NaN or Inf norm scales by NaN, so the step is                \
	 * visibly poisoned rather than silently unclipped). */                            \
	X(P, void, clip_scale, (dl_backend *be, size_t n, float *x, const float *sumsq,   \
				float max_norm))                                           \
	/* Batch assembly from a device-resident dataset.                                  \
	 * out [n, h, w, c] floats = normalised src[idx[i]] where src is u8                \
	 * [N, h, w, c]; idx is in device memory; norm NULL: raw values;                   \
	 * aug NULL: no augmentation (see dl_aug). */                                      \
	X(P, void, gather_u8, (dl_backend *be, const uint8_t *src, const uint32_t *idx,   \
			       int n, int h, int w, int c, const dl_norm *norm,            \
			       const dl_aug *aug, float *out))                             \
	/* out[i] = src[idx[i]] */                                                         \
	X(P, void, gather_i32, (dl_backend *be, const int32_t *src, const uint32_t *idx,  \
				int n, int32_t *out))                                      \
	/* out[i, :] = src[idx[i], :] for rows of k floats (regression targets) */         \
	X(P, void, gather_f32, (dl_backend *be, const float *src, const uint32_t *idx,    \
				int n, int k, float *out))                                      \
	/* Batch norm with statistics over all data-parallel ranks (--sync-bn;             \
	 * the layer sums the partial results over ranks between the calls).               \
	 * x, dy [rows, c] are this rank's.  The CUDA backend records "not                 \
	 * supported on CUDA" (dl-train refuses --sync-bn there).                          \
	 * bn_stats: out [c] (written) = sum over rows of x, or of (x - mean)^2             \
	 * when mean [c] is not NULL.                                                      \
	 * bn_fwd_given: training forward from the global mean [c] and sqdev               \
	 * [c] = sum (x - mean)^2 over all ranks' `count` rows: var = sqdev /              \
	 * count; save_invstd written; running stats updated as bn_fwd_train               \
	 * does (unbiased variance sqdev / (count - 1)); y written.                        \
	 * bn_bwd_given: dx (written) from dgamma = sum dy * xhat and dbeta =              \
	 * sum dy [c] over all ranks' `count` rows (bn_bwd's formula).                     \
	 * relu_coef as in bn_fwd_train and bn_bwd (the dgamma and dbeta given are         \
	 * then sums of the masked dy). */                                                 \
	X(P, void, bn_stats, (dl_backend *be, int rows, int c, const float *x,            \
			      const float *mean, float *out))                              \
	X(P, void, bn_fwd_given, (dl_backend *be, int rows, int c, long count,            \
				  const float *x, const float *gamma, const float *beta,   \
				  float eps, float momentum, const float *mean,            \
				  const float *sqdev, float *run_mean, float *run_var,     \
				  float *save_invstd, float *relu_coef, float *y))         \
	X(P, void, bn_bwd_given, (dl_backend *be, int rows, int c, long count,            \
				  const float *x, const float *dy, const float *gamma,     \
				  const float *save_mean, const float *save_invstd,        \
				  const float *relu_coef, const float *dgamma,             \
				  const float *dbeta, float *dx))

#define DL_OP_FIELD_(P, ret, op, params) ret (*op) params;
#define DL_OP_PROTO_(P, ret, op, params) ret P##_##op params;
#define DL_OP_ENTRY_(P, ret, op, params) P##_##op,
#define DL_OP_SIG_(P, ret, op, params) #ret " " #op #params ";"
#define DL_OP_COUNT_(P, ret, op, params) +1

/* Declares P_op for every op (e.g. DL_BACKEND_PROTOTYPES(cpu)). */
#define DL_BACKEND_PROTOTYPES(P) DL_BACKEND_OPS(DL_OP_PROTO_, P)
/* The initialiser of a dl_backend_ops naming P_op for every op. */
#define DL_BACKEND_TABLE(P, NAME) { NAME, DL_BACKEND_OPS(DL_OP_ENTRY_, P) }
/* The number of ops, and the signature string the ABI number hashes. */
#define DL_BACKEND_NOPS (0 DL_BACKEND_OPS(DL_OP_COUNT_, ~))
#define DL_BACKEND_SIGNATURE DL_BACKEND_OPS(DL_OP_SIG_, ~)

#endif
