/* dl-prep cifar10 / cifar100: the CIFAR binary versions.
 *
 * A record is the label byte (CIFAR-100: coarse label byte, then fine),
 * then 3072 bytes: the 1024 red values of the 32x32 image row by row, then
 * green, then blue.  We interleave the planes into HWC.  Class names come
 * from batches.meta.txt (CIFAR-10) or fine_label_names.txt /
 * coarse_label_names.txt (CIFAR-100), one name per line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/opt.h"
#include "prep.h"
#include "core/guard.h"
#include "set.h"

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

static int cifar_main(int argc, char **argv, int hundred)
{
	prep_opts o;
	prep_opts_defaults(&o);
	const char *split = "train", *label = "fine";
	const dl_opt extra[] = {
		{ 0, "split", DL_OPT_STRING, &split, "train|test",
		  "the default batch files: the training (default) or test batches" },
		{ 0, "label", DL_OPT_STRING, &label, "fine|coarse", "CIFAR-100: which label (default fine)" },
		{ 0, NULL, 0, NULL, NULL, NULL },
	};
	dl_opt opts[40];
	prep_opt_table(&o, extra, opts, 40);
	if (!hundred)   /* --label is CIFAR-100's only */
		memmove(&opts[1], &opts[2], sizeof opts - 2 * sizeof opts[0]);
	const dl_cmd cmd10 = {
		"dl-prep cifar10", "ROOT [BATCH...] -o OUT [options]",
		"Converts CIFAR-10 binary batches (ROOT: the cifar-10-batches-bin folder or the\n"
		"cifar-10-binary.tar.gz archive) into images U8 [N,32,32,3], labels I32 [N].\n"
		"BATCH names files in ROOT; default data_batch_1.bin .. data_batch_5.bin\n"
		"(--split test: test_batch.bin).  Class names from batches.meta.txt.",
		opts,
		"example:\n  dl-prep cifar10 cifar-10-binary.tar.gz --val-fraction 0.1 --val-out val.st -o train.st\n",
	};
	const dl_cmd cmd100 = {
		"dl-prep cifar100", "ROOT [FILE...] -o OUT [options]",
		"Converts CIFAR-100 binary files (ROOT: the cifar-100-binary folder or the\n"
		"cifar-100-binary.tar.gz archive) into images U8 [N,32,32,3], labels I32 [N]\n"
		"(--label fine: 100 classes, coarse: 20).  FILE default train.bin (--split\n"
		"test: test.bin).  Class names from fine_label_names.txt / coarse_label_names.txt.",
		opts,
		"example:\n  dl-prep cifar100 cifar-100-binary.tar.gz --split test --label coarse -o test.st\n",
	};
	const dl_cmd *cmd = hundred ? &cmd100 : &cmd10;
	const char *name = hundred ? "cifar100" : "cifar10";
	dl_err err = { 0 };
	int npos, rc;
	dl_fsrc fs = { 0 };
	dl_fsrc_limits lim;
	batches b = { 0 };
	prep_set s;
	dl_guard g = { 0 };
	prep_set_init(&s);
	if ((rc = dl_opt_parse_std(cmd, argc, argv, &npos, &err)))
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-prep", &err);
	if (npos < 1) {
		rc = dl_fail(&err, DL_EUSAGE, "%s: expected ROOT (folder or archive)", name);
		goto fail;
	}
	if ((rc = prep_opts_check(&o, name, &err)) || (rc = prep_guard(&g, &o, 1, argv, &err)))
		goto fail;
	if (strcmp(split, "train") && strcmp(split, "test")) {
		rc = dl_fail(&err, DL_EUSAGE, "%s: --split must be train or test", name);
		goto fail;
	}
	if (strcmp(label, "fine") && strcmp(label, "coarse")) {
		rc = dl_fail(&err, DL_EUSAGE, "%s: --label must be fine or coarse", name);
		goto fail;
	}
	prep_fsrc_limits(&o, &lim);
	if ((rc = dl_fsrc_open(&fs, argv[1], &lim, &err)))
		goto fail;
	s.fs = &fs;
	snprintf(s.source, sizeof s.source, "%s %s", name, argv[1]);
	const char *meta = !hundred ? "batches.meta.txt"
		: !strcmp(label, "fine") ? "fine_label_names.txt" : "coarse_label_names.txt";
	if (dl_fsrc_exists(&fs, meta)) {
		if ((rc = read_names(&fs, meta, &s, &err)))
			goto fail;
	} else if ((rc = prep_set_classes_n(&s, hundred && !strcmp(label, "coarse") ? 20 :
					    hundred ? 100 : 10, &err))) {
		goto fail;
	}
	int lb = hundred ? 2 : 1, which = hundred && !strcmp(label, "fine") ? 1 : 0;
	if (npos > 1) {
		for (int i = 2; i <= npos; i++)
			if ((rc = read_batch(&fs, argv[i], lb, which, &b, &s, &err)))
				goto fail;
	} else if (hundred) {
		if ((rc = read_batch(&fs, strcmp(split, "test") ? "train.bin" : "test.bin", lb, which,
				     &b, &s, &err)))
			goto fail;
	} else if (!strcmp(split, "test")) {
		if ((rc = read_batch(&fs, "test_batch.bin", lb, which, &b, &s, &err)))
			goto fail;
	} else {
		for (int i = 1; i <= 5; i++) {
			char f[32];
			snprintf(f, sizeof f, "data_batch_%d.bin", i);
			if ((rc = read_batch(&fs, f, lb, which, &b, &s, &err)))
				goto fail;
		}
	}
	if ((rc = prep_classes_option(&s, o.classes, &err)) || (rc = prep_run(&s, &o, &err)))
		goto fail;
	rc = 0;
	goto out;
fail:
	rc = dl_tool_fail("dl-prep", &err);
out:
	dl_guard_end(&g);
	prep_set_release(&s);
	for (int i = 0; i < b.n; i++)
		free(b.px[i]);
	free(b.px);
	dl_fsrc_close(&fs);
	return rc;
}

int dl_prep_cifar10_main(int argc, char **argv)
{
	return cifar_main(argc, argv, 0);
}

int dl_prep_cifar100_main(int argc, char **argv)
{
	return cifar_main(argc, argv, 1);
}
