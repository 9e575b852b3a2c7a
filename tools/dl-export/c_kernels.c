/* The C source text of the kernels --format c emits (c_emit.c): one
 * static function per layer kind, written once into a generated file when
 * some layer uses the kind.  They follow the reference CPU backend
 * (lib/backend/cpu/) in what they compute, one sample at a time, NHWC, and
 * need nothing beyond C99 and <math.h>. */
#include "c_kernels.h"

const char k_conv2d[] =
	"/* y [oh, ow, k] = conv(x [h, w, c], wt [k, kh, kw, c/groups]) + b */\n"
	"static void dlx_conv2d(const float *x, int h, int w, int c, const float *wt,\n"
	"\tconst float *b, int k, int kh, int kw, int s, int p, int d, int groups, float *y,\n"
	"\tint oh, int ow)\n{\n"
	"\tint cg = c / groups, kg = k / groups;\n"
	"\tfor (int oy = 0; oy < oh; oy++)\n"
	"\t\tfor (int ox = 0; ox < ow; ox++)\n"
	"\t\t\tfor (int o = 0; o < k; o++) {\n"
	"\t\t\t\tint g = o / kg;\n"
	"\t\t\t\tfloat acc = b ? b[o] : 0.0f;\n"
	"\t\t\t\tfor (int ky = 0; ky < kh; ky++) {\n"
	"\t\t\t\t\tint iy = oy * s - p + ky * d;\n"
	"\t\t\t\t\tif (iy < 0 || iy >= h)\n\t\t\t\t\t\tcontinue;\n"
	"\t\t\t\t\tfor (int kx = 0; kx < kw; kx++) {\n"
	"\t\t\t\t\t\tint ix = ox * s - p + kx * d;\n"
	"\t\t\t\t\t\tif (ix < 0 || ix >= w)\n\t\t\t\t\t\t\tcontinue;\n"
	"\t\t\t\t\t\tconst float *xp = x + ((size_t)iy * w + ix) * c + (size_t)g * cg;\n"
	"\t\t\t\t\t\tconst float *wp = wt + (((size_t)o * kh + ky) * kw + kx) * cg;\n"
	"\t\t\t\t\t\tfor (int ci = 0; ci < cg; ci++)\n"
	"\t\t\t\t\t\t\tacc += xp[ci] * wp[ci];\n"
	"\t\t\t\t\t}\n\t\t\t\t}\n"
	"\t\t\t\ty[((size_t)oy * ow + ox) * k + o] = acc;\n"
	"\t\t\t}\n}\n\n";

const char k_dense[] =
	"/* y [out] = wt [out, in] x [in] + b */\n"
	"static void dlx_dense(const float *x, int in, const float *wt, const float *b, int out,\n"
	"\tfloat *y)\n{\n"
	"\tfor (int o = 0; o < out; o++) {\n"
	"\t\tconst float *wp = wt + (size_t)o * in;\n"
	"\t\tfloat acc = 0.0f;\n"
	"\t\tfor (int i = 0; i < in; i++)\n\t\t\tacc += wp[i] * x[i];\n"
	"\t\ty[o] = acc + (b ? b[o] : 0.0f);\n"
	"\t}\n}\n\n";

const char k_maxpool[] =
	"/* y [oh, ow, c] = max over size x size windows of x [h, w, c], p cells of\n"
	" * padding on every side that never win */\n"
	"static void dlx_maxpool(const float *x, int h, int w, int c, int size, int s, int p,\n"
	"\tfloat *y, int oh, int ow)\n{\n"
	"\tfor (int oy = 0; oy < oh; oy++)\n"
	"\t\tfor (int ox = 0; ox < ow; ox++)\n"
	"\t\t\tfor (int ch = 0; ch < c; ch++) {\n"
	"\t\t\t\tfloat m = 0.0f;\n\t\t\t\tint any = 0;\n"
	"\t\t\t\tfor (int ky = 0; ky < size; ky++)\n"
	"\t\t\t\t\tfor (int kx = 0; kx < size; kx++) {\n"
	"\t\t\t\t\t\tint iy = oy * s - p + ky, ix = ox * s - p + kx;\n"
	"\t\t\t\t\t\tif (iy < 0 || iy >= h || ix < 0 || ix >= w)\n\t\t\t\t\t\t\tcontinue;\n"
	"\t\t\t\t\t\tfloat v = x[((size_t)iy * w + ix) * c + ch];\n"
	"\t\t\t\t\t\tif (!any || v > m)\n\t\t\t\t\t\t\tm = v;\n"
	"\t\t\t\t\t\tany = 1;\n"
	"\t\t\t\t\t}\n"
	"\t\t\t\ty[((size_t)oy * ow + ox) * c + ch] = m;\n"
	"\t\t\t}\n}\n\n";

const char k_relu[] =
	"static void dlx_relu(const float *x, size_t n, float *y)\n{\n"
	"\tfor (size_t i = 0; i < n; i++)\n\t\ty[i] = x[i] > 0.0f ? x[i] : 0.0f;\n}\n\n";

const char k_leaky_relu[] =
	"static void dlx_leaky_relu(const float *x, size_t n, float slope, float *y)\n{\n"
	"\tfor (size_t i = 0; i < n; i++)\n\t\ty[i] = x[i] > 0.0f ? x[i] : x[i] * slope;\n}\n\n";

const char k_tanh[] =
	"static void dlx_tanh(const float *x, size_t n, float *y)\n{\n"
	"\tfor (size_t i = 0; i < n; i++)\n\t\ty[i] = tanhf(x[i]);\n}\n\n";

/* exp of a non-positive number only: no overflow */
const char k_sigmoid[] =
	"static void dlx_sigmoid(const float *x, size_t n, float *y)\n{\n"
	"\tfor (size_t i = 0; i < n; i++) {\n"
	"\t\tif (x[i] >= 0.0f) {\n\t\t\ty[i] = 1.0f / (1.0f + expf(-x[i]));\n\t\t} else {\n"
	"\t\t\tfloat e = expf(x[i]);\n\t\t\ty[i] = e / (1.0f + e);\n\t\t}\n\t}\n}\n\n";

/* x Phi(x), the exact erf form; 0x1.6a09e6p-1f = (float)sqrt(1/2) */
const char k_gelu[] =
	"static void dlx_gelu(const float *x, size_t n, float *y)\n{\n"
	"\tfor (size_t i = 0; i < n; i++)\n"
	"\t\ty[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0x1.6a09e6p-1f));\n}\n\n";

/* x * clamp(x + 3, 0, 6) / 6, in PyTorch's and the CPU backend's order */
const char k_hardswish[] =
	"static void dlx_hardswish(const float *x, size_t n, float *y)\n{\n"
	"\tfor (size_t i = 0; i < n; i++) {\n"
	"\t\tfloat r = x[i] + 3.0f;\n\t\tr = r > 0.0f ? r : 0.0f;\n\t\tr = r < 6.0f ? r : 6.0f;\n"
	"\t\ty[i] = x[i] * r / 6.0f;\n\t}\n}\n\n";

/* batchnorm (evaluation): scale and shift folded at export time from the
 * running statistics, as the CPU backend folds them */
const char k_batchnorm[] =
	"static void dlx_batchnorm(const float *x, size_t rows, int c, const float *scale,\n"
	"\tconst float *shift, float *y)\n{\n"
	"\tfor (size_t r = 0; r < rows; r++)\n"
	"\t\tfor (int ch = 0; ch < c; ch++)\n"
	"\t\t\ty[r * c + ch] = x[r * c + ch] * scale[ch] + shift[ch];\n}\n\n";

/* avgpool: the mean over the window, padding counted (divisor size*size) */
const char k_avgpool[] =
	"static void dlx_avgpool(const float *x, int h, int w, int c, int size, int s, int p,\n"
	"\tfloat *y, int oh, int ow)\n{\n"
	"\tfloat inv = 1.0f / ((float)size * (float)size);\n"
	"\tfor (int oy = 0; oy < oh; oy++)\n"
	"\t\tfor (int ox = 0; ox < ow; ox++)\n"
	"\t\t\tfor (int ch = 0; ch < c; ch++) {\n"
	"\t\t\t\tfloat acc = 0.0f;\n"
	"\t\t\t\tfor (int ky = 0; ky < size; ky++)\n"
	"\t\t\t\t\tfor (int kx = 0; kx < size; kx++) {\n"
	"\t\t\t\t\t\tint iy = oy * s - p + ky, ix = ox * s - p + kx;\n"
	"\t\t\t\t\t\tif (iy >= 0 && iy < h && ix >= 0 && ix < w)\n"
	"\t\t\t\t\t\t\tacc += x[((size_t)iy * w + ix) * c + ch];\n"
	"\t\t\t\t\t}\n"
	"\t\t\t\ty[((size_t)oy * ow + ox) * c + ch] = acc * inv;\n"
	"\t\t\t}\n}\n\n";

/* gap: y [c] = mean over h*w of x [h*w, c] */
const char k_gap[] =
	"static void dlx_gap(const float *x, size_t hw, int c, float *y)\n{\n"
	"\tfloat inv = 1.0f / (float)hw;\n"
	"\tfor (int ch = 0; ch < c; ch++) {\n"
	"\t\tfloat acc = 0.0f;\n"
	"\t\tfor (size_t i = 0; i < hw; i++)\n\t\t\tacc += x[i * c + ch];\n"
	"\t\ty[ch] = acc * inv;\n\t}\n}\n\n";

/* add: y = a + b (a sum of more inputs chains calls with a = y) */
const char k_add[] =
	"static void dlx_add(const float *a, const float *b, size_t n, float *y)\n{\n"
	"\tfor (size_t i = 0; i < n; i++)\n\t\ty[i] = a[i] + b[i];\n}\n\n";

/* concat: input j's rows [rows, cj] into columns off.. of y [rows, C] */
const char k_concat[] =
	"static void dlx_concat(const float *x, size_t rows, int cj, float *y, int off, int C)\n{\n"
	"\tfor (size_t r = 0; r < rows; r++)\n"
	"\t\tfor (int ch = 0; ch < cj; ch++)\n"
	"\t\t\ty[r * C + off + ch] = x[r * cj + ch];\n}\n";
