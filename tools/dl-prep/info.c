/* dl-prep info: what a tensor file holds. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int dl_prep_info_main(int argc, char **argv)
{
	const dl_opt opts[] = { { 0, NULL, 0, NULL, NULL, NULL } };
	const dl_cmd cmd = {
		"dl-prep info", "FILE",
		"Prints the tensors (name, dtype, shape) and metadata of a safetensors file;\n"
		"for a dataset also the class histogram and pixel statistics.",
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
	const dl_st_tensor *im = dl_st_find(&f, "images"), *lb = dl_st_find(&f, "labels");
	if (lb && lb->dtype == DL_I32 && lb->ndim == 1) {
		const int32_t *l = lb->data;
		long counts[1024] = { 0 }, other = 0;
		int maxc = -1;
		for (size_t i = 0; i < lb->count; i++) {
			if (l[i] >= 0 && l[i] < 1024) {
				counts[l[i]]++;
				if (l[i] > maxc)
					maxc = l[i];
			} else {
				other++;
			}
		}
		printf("class histogram:");
		for (int k = 0; k <= maxc; k++)
			printf(" %d:%ld", k, counts[k]);
		if (other)
			printf(" other:%ld", other);
		printf("\n");
	}
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
