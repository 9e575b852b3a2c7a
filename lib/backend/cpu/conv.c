/* Convolution as im2col + sgemm, NHWC.
 *
 * Shapes: x [n,h,w,c], w [k,kh,kw,c], y [n,oh,ow,k].  The output pixels are
 * the M = n*oh*ow rows of a matrix; the im2col matrix col [M, K] with
 * K = kh*kw*c holds, per row, the input window in (ky, kx, ci) order, which
 * is the weight layout, so
 *     y   [M,k]  = col [M,K] * w [k,K]^T
 *     dw  [k,K] += dy^T [k,M] * col [M,K]
 *     dcol[M,K]  = dy [M,k] * w [k,K],  then col2im adds dcol into dx.
 * In NHWC one kernel row (fixed ky) of a window is kw*c contiguous floats
 * in x and in col, so im2col copies runs, not single floats.
 *
 * Dilation (dh, dw) spaces the taps: tap (ky, kx) reads input row
 * iy0 + ky*dh, column ix0 + kx*dw, so a kernel row is kw runs of c floats.
 * Groups: group g is its own convolution of input channels [g*cg, (g+1)*cg)
 * (cg = c/G) to output channels [g*kg, (g+1)*kg) (kg = k/G), with K =
 * kh*kw*cg.  Its weights are rows [g*kg, (g+1)*kg) of w [k, K], and its
 * output columns are a strided slice of y, so each group is one im2col of
 * its channels and one sgemm with ldc = k.  Depthwise convolutions
 * (G = c = k) go to the direct loops of conv_dw.c instead.
 *
 * Rows are processed in chunks that fit the per-thread col scratch (an L2-
 * sized block), so memory stays bounded for any batch.  fwd and bwd_filter
 * give each thread a contiguous range of rows; bwd_data gives each thread
 * whole images, because col2im of neighbouring pixels adds into the same dx
 * cells.  bwd_filter sums thread 0 straight into dw and the others into
 * private partials that are added afterwards in thread order.
 *
 * Each op first offers the convolution to conv_gemm.c (small maps with
 * many channels: one whole-batch im2col and one oneDNN matmul), then to
 * oneDNN's convolutions (conv_dnnl.c), which take channel-rich ones when
 * built in and DL_CONV allows; what both decline runs here.
 */
#include "backend/cpu/cpu.h"

#include <cblas.h>
#include <string.h>

typedef struct conv_job {
	const dl_conv_geom *g;
	const float *x, *w, *b, *dy;
	float *y, *dx, *dw, *db;
	cpu_scratch *scratch;
	size_t rows_per_chunk;
	int nparts;          /* bwd_filter: threads whose partials to add */
	int direct;          /* 1x1, stride 1, no padding: col is x itself */
} conv_job;

static int conv_groups(const dl_conv_geom *g)
{
	return g->groups > 1 ? g->groups : 1;
}

static int conv_dh(const dl_conv_geom *g)
{
	return g->dh > 1 ? g->dh : 1;
}

static int conv_dw(const dl_conv_geom *g)
{
	return g->dw > 1 ? g->dw : 1;
}

/* Input channels of one group. */
static int conv_cg(const dl_conv_geom *g)
{
	return g->c / conv_groups(g);
}

/* Columns of the im2col matrix of one group: kh*kw*cg. */
static size_t conv_k(const dl_conv_geom *g)
{
	return (size_t)g->kh * g->kw * conv_cg(g);
}

/* Plain: no dilation, one group (the fast runs of im2col/col2im). */
static int conv_plain(const dl_conv_geom *g)
{
	return conv_groups(g) == 1 && conv_dh(g) == 1 && conv_dw(g) == 1;
}

/* The first and one-past-last kx whose input column lies inside the image,
 * 0 <= lo <= hi <= kw.  A window can lie wholly in the padding (pad >= kw,
 * which PyTorch allows too): then lo = hi and the whole row is zeros. */
static void kx_span(const dl_conv_geom *g, int ix0, int *lo, int *hi)
{
	*lo = ix0 < 0 ? -ix0 : 0;
	if (*lo > g->kw)
		*lo = g->kw;
	*hi = g->w - ix0 < g->kw ? g->w - ix0 : g->kw;
	if (*hi < *lo)
		*hi = *lo;
}

/* d[i] += s[i], i < n, in blocks through a local array so that it
 * vectorises (d and s may alias as far as the compiler knows). */
static void add_run(float *d, const float *s, size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		float t[16];
		for (int k = 0; k < 16; k++)
			t[k] = d[i + k] + s[i + k];
		for (int k = 0; k < 16; k++)
			d[i + k] = t[k];
	}
	for (; i < n; i++)
		d[i] += s[i];
}

/* col [r1-r0, K] = the input windows of output rows [r0, r1) (plain). */
static void im2col_plain(const dl_conv_geom *g, const float *x, size_t r0, size_t r1, float *col)
{
	size_t K = conv_k(g), P = (size_t)g->oh * g->ow, c = (size_t)g->c;
	size_t img = r0 / P;
	int oy = (int)(r0 % P / g->ow), ox = (int)(r0 % P % g->ow);
	for (size_t r = r0; r < r1; r++) {
		float *dst = col + (r - r0) * K;
		int iy0 = oy * g->sh - g->pt, ix0 = ox * g->sw - g->pl, lo, hi;
		kx_span(g, ix0, &lo, &hi);
		for (int ky = 0; ky < g->kh; ky++) {
			float *d = dst + (size_t)ky * g->kw * c;
			int iy = iy0 + ky;
			if (iy < 0 || iy >= g->h) {
				memset(d, 0, (size_t)g->kw * c * sizeof *d);
				continue;
			}
			/* no pointer into x when the row lies wholly in the padding */
			const float *s = hi > lo ? x + ((img * g->h + iy) * g->w + ix0 + lo) * c : x;
			size_t zl = (size_t)lo * c, nv = (size_t)(hi - lo) * c;
			size_t zr = (size_t)(g->kw - hi) * c;
			if (g->kw * c < 16) {   /* short runs (c = 1): no calls */
				for (size_t i = 0; i < zl; i++)
					d[i] = 0;
				for (size_t i = 0; i < nv; i++)
					d[zl + i] = s[i];
				for (size_t i = 0; i < zr; i++)
					d[zl + nv + i] = 0;
				continue;
			}
			memset(d, 0, zl * sizeof *d);
			memcpy(d + zl, s, nv * sizeof *d);
			memset(d + zl + nv, 0, zr * sizeof *d);
		}
		if (++ox == g->ow) {
			ox = 0;
			if (++oy == g->oh) {
				oy = 0;
				img++;
			}
		}
	}
}

/* dx += the windows of col [r1-r0, K] put back in place (the adjoint of
 * im2col_plain). */
static void col2im_plain(const dl_conv_geom *g, const float *col, size_t r0, size_t r1, float *dx)
{
	size_t K = conv_k(g), P = (size_t)g->oh * g->ow, c = (size_t)g->c;
	size_t img = r0 / P;
	int oy = (int)(r0 % P / g->ow), ox = (int)(r0 % P % g->ow);
	for (size_t r = r0; r < r1; r++) {
		const float *src = col + (r - r0) * K;
		int iy0 = oy * g->sh - g->pt, ix0 = ox * g->sw - g->pl, lo, hi;
		kx_span(g, ix0, &lo, &hi);
		for (int ky = 0; ky < g->kh; ky++) {
			int iy = iy0 + ky;
			if (iy < 0 || iy >= g->h || hi == lo)
				continue;
			const float *s = src + ((size_t)ky * g->kw + lo) * c;
			float *d = dx + ((img * g->h + iy) * g->w + ix0 + lo) * c;
			add_run(d, s, (size_t)(hi - lo) * c);
		}
		if (++ox == g->ow) {
			ox = 0;
			if (++oy == g->oh) {
				oy = 0;
				img++;
			}
		}
	}
}

/* The general case: dilation and the channels [c0, c0 + cg) of one group.
 * Each tap is a run of cg floats (zeros outside the image). */
static void im2col_group(const dl_conv_geom *g, const float *x, size_t r0, size_t r1, int c0,
			 float *col)
{
	size_t K = conv_k(g), P = (size_t)g->oh * g->ow, c = (size_t)g->c;
	size_t cg = (size_t)conv_cg(g);
	int dh = conv_dh(g), dw = conv_dw(g);
	size_t img = r0 / P;
	int oy = (int)(r0 % P / g->ow), ox = (int)(r0 % P % g->ow);
	for (size_t r = r0; r < r1; r++) {
		float *d = col + (r - r0) * K;
		int iy0 = oy * g->sh - g->pt, ix0 = ox * g->sw - g->pl;
		for (int ky = 0; ky < g->kh; ky++) {
			int iy = iy0 + ky * dh;
			for (int kx = 0; kx < g->kw; kx++, d += cg) {
				int ix = ix0 + kx * dw;
				if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) {
					for (size_t i = 0; i < cg; i++)
						d[i] = 0;
					continue;
				}
				const float *s = x + ((img * g->h + iy) * g->w + ix) * c + c0;
				for (size_t i = 0; i < cg; i++)
					d[i] = s[i];
			}
		}
		if (++ox == g->ow) {
			ox = 0;
			if (++oy == g->oh) {
				oy = 0;
				img++;
			}
		}
	}
}

/* The adjoint of im2col_group: dx channels [c0, c0 + cg) += col's taps. */
static void col2im_group(const dl_conv_geom *g, const float *col, size_t r0, size_t r1, int c0,
			 float *dx)
{
	size_t K = conv_k(g), P = (size_t)g->oh * g->ow, c = (size_t)g->c;
	size_t cg = (size_t)conv_cg(g);
	int dh = conv_dh(g), dw = conv_dw(g);
	size_t img = r0 / P;
	int oy = (int)(r0 % P / g->ow), ox = (int)(r0 % P % g->ow);
	for (size_t r = r0; r < r1; r++) {
		const float *s = col + (r - r0) * K;
		int iy0 = oy * g->sh - g->pt, ix0 = ox * g->sw - g->pl;
		for (int ky = 0; ky < g->kh; ky++) {
			int iy = iy0 + ky * dh;
			for (int kx = 0; kx < g->kw; kx++, s += cg) {
				int ix = ix0 + kx * dw;
				if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
					continue;
				add_run(dx + ((img * g->h + iy) * g->w + ix) * c + c0, s, cg);
			}
		}
		if (++ox == g->ow) {
			ox = 0;
			if (++oy == g->oh) {
				oy = 0;
				img++;
			}
		}
	}
}

void cpu_conv_im2col(const dl_conv_geom *g, const float *x, size_t r0, size_t r1, float *col)
{
	im2col_plain(g, x, r0, r1, col);
}

static void im2col(const dl_conv_geom *g, const float *x, size_t r0, size_t r1, int c0,
		   float *col)
{
	if (conv_plain(g))
		im2col_plain(g, x, r0, r1, col);
	else
		im2col_group(g, x, r0, r1, c0, col);
}

static void col2im(const dl_conv_geom *g, const float *col, size_t r0, size_t r1, int c0,
		   float *dx)
{
	if (conv_plain(g))
		col2im_plain(g, col, r0, r1, dx);
	else
		col2im_group(g, col, r0, r1, c0, dx);
}

static void fwd_task(void *arg, int tid, int nt)
{
	const conv_job *j = arg;
	const dl_conv_geom *g = j->g;
	size_t K = conv_k(g), M = (size_t)g->n * g->oh * g->ow, lo, hi;
	int G = conv_groups(g), kg = g->k / G, cg = conv_cg(g);
	float *col = j->scratch[tid].col;
	cpu_range(M, tid, nt, &lo, &hi);
	for (size_t r0 = lo; r0 < hi; r0 += j->rows_per_chunk) {
		size_t r1 = r0 + j->rows_per_chunk < hi ? r0 + j->rows_per_chunk : hi;
		float *y = j->y + r0 * g->k;
		if (j->b)
			for (size_t r = 0; r < r1 - r0; r++)
				memcpy(y + r * g->k, j->b, (size_t)g->k * sizeof *y);
		for (int gi = 0; gi < G; gi++) {
			const float *a = col;
			if (j->direct)
				a = j->x + r0 * K;
			else
				im2col(g, j->x, r0, r1, gi * cg, col);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), kg,
				    (int)K, 1.0f, a, (int)K, j->w + (size_t)gi * kg * K, (int)K,
				    j->b ? 1.0f : 0.0f, y + (size_t)gi * kg, g->k);
		}
	}
}

static void bwd_data_task(void *arg, int tid, int nt)
{
	const conv_job *j = arg;
	const dl_conv_geom *g = j->g;
	size_t K = conv_k(g), P = (size_t)g->oh * g->ow, lo, hi;
	size_t img = (size_t)g->h * g->w * g->c;
	int G = conv_groups(g), kg = g->k / G, cg = conv_cg(g);
	float *col = j->scratch[tid].col;
	cpu_range((size_t)g->n, tid, nt, &lo, &hi);
	if (j->direct) {
		/* dx rows are the dcol rows */
		if (hi > lo)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)((hi - lo) * P),
				    (int)K, g->k, 1.0f, j->dy + lo * P * g->k, g->k, j->w, (int)K,
				    0.0f, j->dx + lo * img, (int)K);
		return;
	}
	memset(j->dx + lo * img, 0, (hi - lo) * img * sizeof(float));
	for (size_t r0 = lo * P; r0 < hi * P; r0 += j->rows_per_chunk) {
		size_t r1 = r0 + j->rows_per_chunk < hi * P ? r0 + j->rows_per_chunk : hi * P;
		for (int gi = 0; gi < G; gi++) {
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(r1 - r0),
				    (int)K, kg, 1.0f, j->dy + r0 * g->k + (size_t)gi * kg, g->k,
				    j->w + (size_t)gi * kg * K, (int)K, 0.0f, col, (int)K);
			col2im(g, col, r0, r1, gi * cg, j->dx);
		}
	}
}

/* db[i] += sum_r dy[r, i] for columns [i0, i0 + W), summed in a local
 * array (W constant after inlining) so that it vectorises. */
static inline __attribute__((always_inline)) void
col_sums_block(float *db, const float *dy, size_t rows, int k, int i0, int W)
{
	float acc[16] = { 0 };
	for (size_t r = 0; r < rows; r++)
		for (int i = 0; i < W; i++)
			acc[i] += dy[r * k + i0 + i];
	for (int i = 0; i < W; i++)
		db[i0 + i] += acc[i];
}

/* db [k] += column sums of dy [rows, k] */
static void col_sums(float *db, const float *dy, size_t rows, int k)
{
	int i = 0;
	for (; i + 16 <= k; i += 16)
		col_sums_block(db, dy, rows, k, i, 16);
	for (; i + 4 <= k; i += 4)
		col_sums_block(db, dy, rows, k, i, 4);
	for (; i < k; i++)
		col_sums_block(db, dy, rows, k, i, 1);
}

static void bwd_filter_task(void *arg, int tid, int nt)
{
	const conv_job *j = arg;
	const dl_conv_geom *g = j->g;
	size_t K = conv_k(g), M = (size_t)g->n * g->oh * g->ow, lo, hi;
	int G = conv_groups(g), kg = g->k / G, cg = conv_cg(g);
	float *col = j->scratch[tid].col, *dw = j->dw, *db = j->db;
	if (tid > 0) {
		/* a private partial, added into dw by reduce_task */
		dw = j->scratch[tid].part;
		db = dw + (size_t)g->k * K;
		memset(dw, 0, ((size_t)g->k * K + g->k) * sizeof *dw);
	}
	cpu_range(M, tid, nt, &lo, &hi);
	for (size_t r0 = lo; r0 < hi; r0 += j->rows_per_chunk) {
		size_t r1 = r0 + j->rows_per_chunk < hi ? r0 + j->rows_per_chunk : hi;
		const float *dy = j->dy + r0 * g->k;
		for (int gi = 0; gi < G; gi++) {
			const float *a = col;
			if (j->direct)
				a = j->x + r0 * K;
			else
				im2col(g, j->x, r0, r1, gi * cg, col);
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kg, (int)K,
				    (int)(r1 - r0), 1.0f, dy + (size_t)gi * kg, g->k, a, (int)K, 1.0f,
				    dw + (size_t)gi * kg * K, (int)K);
		}
		if (db)
			col_sums(db, dy, r1 - r0, g->k);
	}
}

/* dw (then db) += the partials of threads 1..nparts-1, in that order. */
static void reduce_task(void *arg, int tid, int nt)
{
	const conv_job *j = arg;
	const dl_conv_geom *g = j->g;
	size_t nw = (size_t)g->k * conv_k(g), lo, hi;
	cpu_range(nw, tid, nt, &lo, &hi);
	for (int t = 1; t < j->nparts; t++) {
		const float *p = j->scratch[t].part;
		for (size_t i = lo; i < hi; i++)
			j->dw[i] += p[i];
		if (j->db && tid == 0)
			for (int i = 0; i < g->k; i++)
				j->db[i] += p[nw + i];
	}
}

int cpu_conv2d_reserve(dl_backend *be, const dl_conv_geom *g, dl_err *err)
{
	cpu_impl *im = cpu_of(be);
	size_t K = conv_k(g), col = K, part = (size_t)g->k * K + g->k, dcol, dpart;
	if (cpu_conv_is_depthwise(g)) {
		cpu_conv_dw_needs(g, &dcol, &dpart);
		col = dcol > col ? dcol : col;
		part = dpart > part ? dpart : part;
	}
	if (im->nt == 1 && !cpu_conv_is_depthwise(g))
		part = 0;   /* one thread sums straight into dw */
	for (int t = 0; t < im->nt; t++)
		if (cpu_scratch_col(&im->scratch[t], col) ||
		    (part && cpu_scratch_part(&im->scratch[t], part)))
			return dl_fail(err, DL_EFAIL, "cpu backend: out of memory for convolution "
				       "scratch (%zu + %zu floats per thread)", col, part);
	cpu_conv_gemm_reserve(be, g);
	return 0;
}

/* Fills the job for geometry g: the chunk size that fits every thread's
 * col scratch (conv2d_reserve made it hold at least one row).  -1, with
 * the fault recorded for the error op, when it did not (a caller bug). */
static int conv_prepare(dl_backend *be, const char *op, const dl_conv_geom *g, conv_job *j)
{
	cpu_impl *im = cpu_of(be);
	size_t K = conv_k(g);
	memset(j, 0, sizeof *j);
	j->g = g;
	j->scratch = im->scratch;
	j->direct = conv_plain(g) && g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 &&
		    !g->pt && !g->pl && !g->pb && !g->pr;
	for (int t = 0; t < im->nt; t++) {
		if (im->scratch[t].col_cap < K)   /* one im2col row is the least */
			return cpu_fault(im, op, "a %zu-float convolution window without "
					 "conv2d_reserve for its geometry (a caller bug)", K);
	}
	j->rows_per_chunk = im->scratch[0].col_cap / K;
	for (int t = 1; t < im->nt; t++)
		if (im->scratch[t].col_cap / K < j->rows_per_chunk)
			j->rows_per_chunk = im->scratch[t].col_cap / K;
	return 0;
}

/* Rows below which a conv runs on the calling thread alone. */
#define CONV_MIN_PAR 64

void cpu_conv2d_fwd(dl_backend *be, const dl_conv_geom *g, const float *x,
		    const float *w, const float *b, float *y)
{
	if (!cpu_conv_gemm(be, CPU_DNNL_FWD, g, x, w, b, y, NULL))
		return;
	if (!cpu_dnnl_conv(be, CPU_DNNL_FWD, g, x, w, b, y, NULL))
		return;
	if (cpu_conv_is_depthwise(g)) {
		cpu_conv_dw_fwd(be, g, x, w, b, y);
		return;
	}
	conv_job j;
	if (conv_prepare(be, "conv2d_fwd", g, &j))
		return;
	j.x = x;
	j.w = w;
	j.b = b;
	j.y = y;
	cpu_run_n(cpu_of(be), (size_t)g->n * g->oh * g->ow, CONV_MIN_PAR, fwd_task, &j);
}

/* The training pair (ops.h): only oneDNN's converting kernels (bf16,
 * Winograd) keep anything; every other path is the plain op. */
size_t cpu_conv2d_saved_floats(dl_backend *be, const dl_conv_geom *g, int bias)
{
	cpu_impl *im = cpu_of(be);
	if (cpu_conv_gemm_wanted(im, g, CPU_DNNL_FWD) || cpu_conv_gemm_wanted(im, g, CPU_DNNL_BWD_W))
		return 0;
	return (cpu_dnnl_saved_bytes(be, g, bias) + sizeof(float) - 1) / sizeof(float);
}

void cpu_conv2d_fwd_train(dl_backend *be, const dl_conv_geom *g, const float *x,
			  const float *w, const float *b, float *y, float *saved)
{
	cpu_dnnl_saved_clear(saved);
	if (saved && !cpu_conv_gemm_wanted(cpu_of(be), g, CPU_DNNL_FWD) &&
	    !cpu_dnnl_conv_pair(be, CPU_DNNL_FWD | CPU_DNNL_PAIR, g, x, w, b, y, NULL, saved))
		return;
	cpu_conv2d_fwd(be, g, x, w, b, y);
}

void cpu_conv2d_bwd(dl_backend *be, const dl_conv_geom *g, const float *x, const float *dy,
		    const float *w, const float *saved, float *dw, float *db, float *dx)
{
	/* the pair's bwd_data only after its bwd_weights ran on oneDNN (and
	 * kept dy); any pass it does not run is the plain op */
	int pair = !cpu_conv_gemm_wanted(cpu_of(be), g, CPU_DNNL_BWD_W) &&
		   !cpu_dnnl_conv_pair(be, CPU_DNNL_BWD_W | CPU_DNNL_PAIR, g, x, dy, NULL, dw, db,
				       (void *)saved);
	if (!pair)
		cpu_conv2d_bwd_filter(be, g, x, dy, dw, db);
	if (dx && (!pair || cpu_dnnl_conv_pair(be, CPU_DNNL_BWD_DATA | CPU_DNNL_PAIR, g, dy, w, NULL,
					       dx, NULL, NULL)))
		cpu_conv2d_bwd_data(be, g, dy, w, dx);
}

void cpu_conv2d_bwd_data(dl_backend *be, const dl_conv_geom *g, const float *dy,
			 const float *w, float *dx)
{
	if (!cpu_dnnl_conv(be, CPU_DNNL_BWD_DATA, g, dy, w, NULL, dx, NULL))
		return;
	if (cpu_conv_is_depthwise(g)) {
		cpu_conv_dw_bwd_data(be, g, dy, w, dx);
		return;
	}
	conv_job j;
	if (conv_prepare(be, "conv2d_bwd_data", g, &j))
		return;
	j.dy = dy;
	j.w = w;
	j.dx = dx;
	cpu_run_n(cpu_of(be), (size_t)g->n, 2, bwd_data_task, &j);
}

void cpu_conv2d_bwd_filter(dl_backend *be, const dl_conv_geom *g, const float *x,
			   const float *dy, float *dw, float *db)
{
	if (!cpu_conv_gemm(be, CPU_DNNL_BWD_W, g, x, dy, NULL, dw, db))
		return;
	if (!cpu_dnnl_conv(be, CPU_DNNL_BWD_W, g, x, dy, NULL, dw, db))
		return;
	if (cpu_conv_is_depthwise(g)) {
		cpu_conv_dw_bwd_filter(be, g, x, dy, dw, db);
		return;
	}
	cpu_impl *im = cpu_of(be);
	conv_job j;
	if (conv_prepare(be, "conv2d_bwd_filter", g, &j))
		return;
	j.x = x;
	j.dy = dy;
	j.dw = dw;
	j.db = db;
	size_t M = (size_t)g->n * g->oh * g->ow;
	size_t part = (size_t)g->k * conv_k(g) + g->k;
	j.nparts = M >= CONV_MIN_PAR ? im->nt : 1;
	for (int t = 1; t < j.nparts; t++)
		if (im->scratch[t].part_cap < part)
			j.nparts = 1;   /* not reserved: one thread does it all */
	if (j.nparts == 1) {
		bwd_filter_task(&j, 0, 1);
		return;
	}
	cpu_run(im, bwd_filter_task, &j);
	cpu_run_n(im, part, 1 << 14, reduce_task, &j);
}
