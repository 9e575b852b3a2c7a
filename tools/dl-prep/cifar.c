/* dl-prep cifar10 / cifar100: the CIFAR binary versions.
 *
 * A record is the label byte (CIFAR-100: coarse label byte, then fine),
 * then 3072 bytes: the 1024 red values of the 32x32 image row by row, then
 * green, then blue.  We interleave the planes into HWC.  Class names come
 * from batches.meta.txt (CIFAR-10) or fine_label_names.txt /
 * coarse_label_names.txt (CIFAR-100), one name per line. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep.h"

#define PLANE 1024

/* Reads one name per line (blank lines and a trailing \r ignored). */
static int read_names(const dl_fsrc *fs, const char *file, prep_set *s, dl_err *err)
{
	uint8_t *data;
	size_t len;
	int rc = dl_fsrc_read(fs, file, &data, &len, err);
	if (rc)
		return rc;
	size_t i = 0;
	while (!rc && i < len) {
		size_t e = i;
		while (e < len && data[e] != '\n')
			e++;
		size_t k = e;
		while (k > i && (data[k - 1] == '\r' || data[k - 1] == ' '))
			k--;
		if (k > i) {
			char name[256];
			if (k - i >= sizeof name || memchr(data + i, 0, k - i))
				rc = dl_fail(err, DL_EDATA, "%s/%s: bad class name line", fs->root, file);
			else {
				memcpy(name, data + i, k - i);
				name[k - i] = '\0';
				rc = prep_add_class(s, name, err);
			}
		}
		i = e + 1;
	}
	free(data);
	return rc;
}

typedef struct batches {
	uint8_t **px;       /* one HWC buffer per file, owned */
	int n;
} batches;

static int read_batch(const dl_fsrc *fs, const char *file, int labelbytes, int which,
		      batches *b, prep_set *s, dl_err *err)
{
	uint8_t *data;
	size_t len, rec = (size_t)labelbytes + 3 * PLANE;
	int rc = dl_fsrc_read(fs, file, &data, &len, err);
	if (rc)
		return rc;
	if (len == 0 || len % rec) {
		rc = dl_fail(err, DL_EDATA, "%s/%s: %zu bytes is not a whole number of %zu-byte records "
			     "(truncated or not CIFAR-%s binary)", fs->root, file, len, rec,
			     labelbytes == 1 ? "10" : "100");
		free(data);
		return rc;
	}
	size_t n = len / rec;
	uint8_t *px = malloc(n * 3 * PLANE), **nb = realloc(b->px, (size_t)(b->n + 1) * sizeof *nb);
	if (nb)
		b->px = nb;
	if (!px || !nb) {
		free(px);
		free(data);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	b->px[b->n++] = px;
	for (size_t r = 0; r < n && !rc; r++) {
		const uint8_t *p = data + r * rec;
		uint8_t *o = px + r * 3 * PLANE;
		for (int i = 0; i < PLANE; i++) {
			o[3 * i] = p[labelbytes + i];
			o[3 * i + 1] = p[labelbytes + PLANE + i];
			o[3 * i + 2] = p[labelbytes + 2 * PLANE + i];
		}
		char where[1200];
		snprintf(where, sizeof where, "%s/%s: record %zu", fs->root, file, r + 1);
		rc = prep_add(s, NULL, o, 32, 32, 3, p[which], NULL, NULL, where, err);
	}
	free(data);
	return rc;
}

typedef struct cifar_cfg {
	int hundred;        /* CIFAR-100 */
	int test;           /* --split test */
	int coarse;         /* --label coarse */
	batches b;
} cifar_cfg;

static const dl_opt_choice splits[] = { { "train", 0 }, { "test", 1 }, { NULL, 0 } };
static const dl_opt_choice labels[] = { { "fine", 0 }, { "coarse", 1 }, { NULL, 0 } };

static int setup_cifar10(void *p, dl_opt *opts)
{
	cifar_cfg *cf = p;
	opts[0] = (dl_opt)DL_OPT_CHOICE(0, "split", &cf->test, "SPLIT", splits,
					"the default batch files: the training (default) or test batches");
	return 1;
}

static int setup_cifar100(void *p, dl_opt *opts)
{
	cifar_cfg *cf = p;
	cf->hundred = 1;
	setup_cifar10(p, opts);
	opts[1] = (dl_opt)DL_OPT_CHOICE(0, "label", &cf->coarse, "LABEL", labels,
					"which label (default fine)");
	return 2;
}

static int fill_cifar(prep_set *s, int npos, char **argv, void *p, dl_err *err)
{
	cifar_cfg *cf = p;
	const dl_fsrc *fs = s->fs;
	int rc, hundred = cf->hundred;
	snprintf(s->source, sizeof s->source, "%s %s", hundred ? "cifar100" : "cifar10", argv[1]);
	const char *meta = !hundred ? "batches.meta.txt"
		: !cf->coarse ? "fine_label_names.txt" : "coarse_label_names.txt";
	if (dl_fsrc_exists(fs, meta)) {
		if ((rc = read_names(fs, meta, s, err)))
			return rc;
	} else if ((rc = prep_set_classes_n(s, hundred && cf->coarse ? 20 : hundred ? 100 : 10, err))) {
		return rc;
	}
	int lb = hundred ? 2 : 1, which = hundred && !cf->coarse ? 1 : 0;
	if (npos > 1) {
		for (int i = 2; i <= npos; i++)
			if ((rc = read_batch(fs, argv[i], lb, which, &cf->b, s, err)))
				return rc;
		return 0;
	}
	if (hundred)
		return read_batch(fs, cf->test ? "test.bin" : "train.bin", lb, which, &cf->b, s, err);
	if (cf->test)
		return read_batch(fs, "test_batch.bin", lb, which, &cf->b, s, err);
	for (int i = 1; i <= 5; i++) {
		char f[32];
		snprintf(f, sizeof f, "data_batch_%d.bin", i);
		if ((rc = read_batch(fs, f, lb, which, &cf->b, s, err)))
			return rc;
	}
	return 0;
}

static void release_cifar(void *p)
{
	cifar_cfg *cf = p;
	for (int i = 0; i < cf->b.n; i++)
		free(cf->b.px[i]);
	free(cf->b.px);
}

const prep_source prep_src_cifar10 = {
	.name = "cifar10",
	.args = "ROOT [BATCH...]",
	.what = "CIFAR-10 binary batches",
	.summary = "Converts CIFAR-10 binary batches (ROOT: the cifar-10-batches-bin folder or the\n"
		   "cifar-10-binary.tar.gz archive) into images U8 [N,32,32,3], labels I32 [N].\n"
		   "BATCH names files in ROOT; default data_batch_1.bin .. data_batch_5.bin\n"
		   "(--split test: test_batch.bin).  Class names from batches.meta.txt.",
	.footer = "example:\n  dl-prep cifar10 cifar-10-binary.tar.gz --val-fraction 0.1 --val-out val.st -o train.st\n",
	.minpos = 1, .maxpos = INT_MAX,
	.cfg_size = sizeof(cifar_cfg),
	.setup = setup_cifar10,
	.fill = fill_cifar,
	.release = release_cifar,
};

const prep_source prep_src_cifar100 = {
	.name = "cifar100",
	.args = "ROOT [FILE...]",
	.what = "CIFAR-100 binary (--label fine|coarse)",
	.summary = "Converts CIFAR-100 binary files (ROOT: the cifar-100-binary folder or the\n"
		   "cifar-100-binary.tar.gz archive) into images U8 [N,32,32,3], labels I32 [N]\n"
		   "(--label fine: 100 classes, coarse: 20).  FILE default train.bin (--split\n"
		   "test: test.bin).  Class names from fine_label_names.txt / coarse_label_names.txt.",
	.footer = "example:\n  dl-prep cifar100 cifar-100-binary.tar.gz --split test --label coarse -o test.st\n",
	.minpos = 1, .maxpos = INT_MAX,
	.cfg_size = sizeof(cifar_cfg),
	.setup = setup_cifar100,
	.fill = fill_cifar,
	.release = release_cifar,
};
