/* dl-prep info: what a tensor file holds. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/opt.h"
#include "io/safetensors.h"
#include "prep.h"

static void print_shape(const dl_st_tensor *t)
{
	printf("[");
	for (int d = 0; d < t->ndim; d++)
		printf("%s%" PRId64, d ? ", " : "", t->shape[d]);
	printf("]");
}

/* Name i of the JSON array names, or NULL. */
static const char *class_name(const dl_json *names, long i)
{
	if (!names || names->type != DL_JSON_ARRAY || i < 0 || (size_t)i >= names->len ||
	    names->items[i].type != DL_JSON_STRING)
		return NULL;
	return names->items[i].str;
}

/* "class histogram: 0:12 1:9 ..." then one line per class with its name. */
static void histogram(const dl_st_file *f, const dl_st_tensor *lb)
{
	const int32_t *l = lb->data;
	const char *cj = dl_st_meta_get(f, "dl.classes");
	dl_json *names = NULL;
	dl_err e = { 0 };
	if (cj && dl_json_parse(cj, strlen(cj), "dl.classes", &names, &e))
		names = NULL;
	long maxc = -1, other = 0;
	for (size_t i = 0; i < lb->count; i++)
		if (l[i] >= 0 && l[i] < 1000000 && l[i] > maxc)
			maxc = l[i];
	if (names && names->type == DL_JSON_ARRAY && (long)names->len - 1 > maxc)
		maxc = (long)names->len - 1;
	long *counts = calloc((size_t)(maxc + 2), sizeof *counts);
	if (!counts) {
		dl_json_free(names);
		return;
	}
	for (size_t i = 0; i < lb->count; i++) {
		if (l[i] >= 0 && l[i] <= maxc)
			counts[l[i]]++;
		else
			other++;
	}
	printf("class histogram:");
	for (long k = 0; k <= maxc; k++)
		printf(" %ld:%ld", k, counts[k]);
	if (other)
		printf(" other:%ld", other);
	printf("\n");
	for (long k = 0; k <= maxc && names; k++) {
		const char *n = class_name(names, k);
		printf("  %4ld %8ld  %s\n", k, counts[k], n ? n : "?");
	}
	free(counts);
	dl_json_free(names);
}

/* Per target column: name, min, max, mean, std. */
static void target_stats(const dl_st_file *f, const dl_st_tensor *tg)
{
	const float *t = tg->data;
	long n = (long)tg->shape[0], k = (long)tg->shape[1];
	const char *tj = dl_st_meta_get(f, "dl.targets");
	dl_json *names = NULL;
	dl_err e = { 0 };
	if (tj && dl_json_parse(tj, strlen(tj), "dl.targets", &names, &e))
		names = NULL;
	printf("targets:\n");
	for (long c = 0; c < k; c++) {
		double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
		for (long i = 0; i < n; i++) {
			double v = t[i * k + c];
			sum += v;
			sq += v * v;
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
		double mu = n ? sum / n : 0, var = n ? sq / n - mu * mu : 0;
		const char *nm = class_name(names, c);
		printf("  %-12s min %.6g max %.6g mean %.6g std %.6g\n", nm ? nm : "?", n ? lo : 0,
		       n ? hi : 0, mu, sqrt(var > 0 ? var : 0));
	}
	dl_json_free(names);
}

int dl_prep_info_main(int argc, char **argv, const void *data)
{
	(void)data;
	const dl_opt opts[] = { DL_OPT_END };
	const dl_cmd cmd = {
		"dl-prep info", "FILE",
		"Prints the tensors (name, dtype, shape) and metadata of a safetensors file;\n"
		"for a dataset also the class histogram (with names), per-channel pixel\n"
		"statistics, per-target statistics and the count of skipped samples.",
		opts, NULL,
	};
	dl_err err = { 0 };
	int npos;
	dl_st_file f = { 0 };
	int rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err);
	if (rc)
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-prep", &err);
	if (npos != 1) {
		dl_fail(&err, DL_EUSAGE, "info: expected one FILE, got %d arguments", npos);
		return dl_tool_fail("dl-prep", &err);
	}
	if (dl_st_open(&f, argv[1], &err))
		return dl_tool_fail("dl-prep", &err);
	printf("file: %s (%zu bytes)\ntensors: %d\n", argv[1], f.size, f.ntensors);
	for (int i = 0; i < f.ntensors; i++) {
		const dl_st_tensor *t = &f.tensors[i];
		printf("  %-24s %-5s ", t->name, dl_dtype_name(t->dtype));
		print_shape(t);
		printf("\n");
	}
	if (f.nmeta)
		printf("metadata:\n");
	for (int i = 0; i < f.nmeta; i++) {
		const char *v = f.meta[i].value;
		size_t len = strlen(v);
		int multi = strchr(v, '\n') != NULL;
		if (multi || len > 200)
			printf("  %s: (%zu bytes%s)\n", f.meta[i].key, len, multi ? ", multi-line" : "");
		else
			printf("  %s: %s\n", f.meta[i].key, v);
	}
	const dl_st_tensor *im = dl_st_find(&f, "images"), *lb = dl_st_find(&f, "labels"),
			   *tg = dl_st_find(&f, "targets");
	if (lb && lb->dtype == DL_I32 && lb->ndim == 1)
		histogram(&f, lb);
	if (tg && tg->dtype == DL_F32 && tg->ndim == 2 && tg->shape[1] > 0)
		target_stats(&f, tg);
	const char *sk = dl_st_meta_get(&f, "dl.skipped_count");
	if (sk)
		printf("skipped when prepared: %s bad samples (dl.skipped lists up to 1000)\n", sk);
	if (im && im->dtype == DL_U8 && im->ndim == 4 && im->shape[3] > 0) {
		int c = (int)im->shape[3];
		double sum[8] = { 0 }, sq[8] = { 0 };
		const uint8_t *p = im->data;
		for (size_t i = 0; i < im->count; i++) {
			double v = p[i] / 255.0;
			sum[i % (size_t)c % 8] += v;
			sq[i % (size_t)c % 8] += v * v;
		}
		double per = (double)im->count / c;
		printf("pixels (/255):");
		for (int k = 0; k < c && k < 8; k++) {
			double mu = per ? sum[k] / per : 0;
			printf(" c%d mean %.4f std %.4f", k, mu, per ? sqrt(sq[k] / per - mu * mu) : 0);
		}
		printf("\n");
	}
	dl_st_close(&f);
	if (fflush(stdout) || ferror(stdout)) {
		dl_fail(&err, DL_EIO, "stdout: write failed");
		return dl_tool_fail("dl-prep", &err);
	}
	return 0;
}
