/* prep_write: one dataset file (lib/train/dataset.h layout), atomically. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/afile.h"
#include "core/buf.h"
#include "io/safetensors.h"
#include "set.h"
#include "train/dataset.h"

static void json_names(dl_buf *b, char *const *names, int n)
{
	dl_buf_puts(b, "[");
	for (int i = 0; i < n; i++) {
		dl_buf_puts(b, i ? ", " : "");
		dl_buf_json_string(b, names[i]);
	}
	dl_buf_puts(b, "]");
}

int prep_write(const char *path, dl_afile *a, const uint8_t *images, int n, int h, int w, int c,
	       const int32_t *labels, const float *targets, const prep_set *s,
	       const char *skipped_json, size_t nskipped, dl_err *err)
{
	char count[32];
	snprintf(count, sizeof count, "%zu", nskipped);
	/* per-channel mean and std of pixel/255, for users who normalise */
	double sum[4] = { 0 }, sq[4] = { 0 };
	size_t total = (size_t)n * h * w * c;
	for (size_t i = 0; i < total; i += (size_t)c)
		for (int k = 0; k < c; k++) {
			double v = images[i + (size_t)k] / 255.0;
			sum[k] += v;
			sq[k] += v * v;
		}
	dl_buf mean, stdv, cls, tgt;
	dl_buf_init(&mean);
	dl_buf_init(&stdv);
	dl_buf_init(&cls);
	dl_buf_init(&tgt);
	dl_buf_puts(&mean, "[");
	dl_buf_puts(&stdv, "[");
	double cnt = (double)n * h * w;
	for (int k = 0; k < c; k++) {
		double mu = cnt ? sum[k] / cnt : 0, var = cnt ? sq[k] / cnt - mu * mu : 0;
		dl_buf_printf(&mean, "%s%.6f", k ? ", " : "", mu);
		dl_buf_printf(&stdv, "%s%.6f", k ? ", " : "", sqrt(var > 0 ? var : 0));
	}
	dl_buf_puts(&mean, "]");
	dl_buf_puts(&stdv, "]");
	json_names(&cls, s->classes, s->nclasses);
	json_names(&tgt, s->target_names, s->ntargets);
	int rc = 0;
	memset(a, 0, sizeof *a);
	if (mean.oom || stdv.oom || cls.oom || tgt.oom) {
		rc = dl_fail(err, DL_EFAIL, "out of memory");
		goto out;
	}
	dl_st_writer wr;
	dl_st_writer_init(&wr);
	int64_t ishape[4] = { n, h, w, c }, lshape[1] = { n }, tshape[2] = { n, s->ntargets };
	if (!(rc = dl_st_add(&wr, "images", DL_U8, 4, ishape, images, err)) &&
	    !(rc = labels ? dl_st_add(&wr, "labels", DL_I32, 1, lshape, labels, err) : 0) &&
	    !(rc = targets ? dl_st_add(&wr, "targets", DL_F32, 2, tshape, targets, err) : 0) &&
	    !(rc = dl_st_add_meta(&wr, "dl.format", DL_DATASET_FORMAT, err)) &&
	    !(rc = labels ? dl_st_add_meta(&wr, "dl.classes", cls.p, err) : 0) &&
	    !(rc = targets ? dl_st_add_meta(&wr, "dl.targets", tgt.p, err) : 0) &&
	    !(rc = dl_st_add_meta(&wr, "dl.source", s->source, err)) &&
	    !(rc = dl_st_add_meta(&wr, "dl.mean", mean.p, err)) &&
	    !(rc = dl_st_add_meta(&wr, "dl.std", stdv.p, err)) &&
	    !(rc = skipped_json ? dl_st_add_meta(&wr, "dl.skipped", skipped_json, err) : 0) &&
	    !(rc = skipped_json ? dl_st_add_meta(&wr, "dl.skipped_count", count, err) : 0))
		rc = dl_st_write_open(&wr, path, a, err);
	dl_st_writer_release(&wr);
out:
	dl_buf_release(&mean);
	dl_buf_release(&stdv);
	dl_buf_release(&cls);
	dl_buf_release(&tgt);
	return rc;
}
