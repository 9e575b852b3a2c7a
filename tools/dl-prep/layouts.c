/* dl-prep gtsrb / tiny-imagenet: the folder layouts of two public datasets.
 *
 * GTSRB: the training set is Final_Training/Images/000NN/ with the class's
 * images (.ppm) and GT-000NN.csv; the test set is Final_Test/Images/ with
 * GT-final_test.csv.  Each CSV is ';'-separated with the header
 * Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId; the ROI
 * corners are inclusive pixel coordinates.
 *
 * Tiny ImageNet: wnids.txt (one WordNet id per line; its order is the label
 * order), words.txt (wnid TAB names, optional), train/<wnid>/images/NAME.JPEG,
 * val/images/NAME.JPEG with val/val_annotations.txt (file TAB wnid TAB bbox). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep.h"
#include "text.h"

static int has_folder(const dl_fsrc *fs, const char *dir)
{
	char **v = NULL;
	size_t n = 0;
	dl_err e = { 0 };
	int ok = !dl_fsrc_list(fs, dir, 1, &v, &n, &e) && n > 0;
	dl_fsrc_free_names(v, n);
	if (!ok && !dl_fsrc_list(fs, dir, 0, &v, &n, &e)) {
		ok = n > 0;
		dl_fsrc_free_names(v, n);
	}
	return ok;
}

typedef struct gtsrb_cfg {
	const char *gt;
	int split;          /* 1 train, 0 test, -1: train when ROOT has Final_Training */
	int roi;
} gtsrb_cfg;

/* One GT csv, read from the root (fs) or from disk (fs NULL): images relative to dir. */
static int gtsrb_csv(prep_set *s, const dl_fsrc *fs, const char *csv, const char *dir, int roi,
		     dl_err *err)
{
	prep_text t;
	char *f[64];
	int col[8];
	static const char *const want[8] = { "Filename", "Width", "Height", "Roi.X1", "Roi.Y1",
					     "Roi.X2", "Roi.Y2", "ClassId" };
	int rc = prep_text_read(&t, fs, csv, err);
	if (rc)
		return rc;
	char *line = prep_text_next(&t);
	int n = line ? prep_csv_split(line, ';', f, 64) : 0;
	for (int k = 0; k < 8; k++) {
		col[k] = -1;
		for (int i = 0; i < n; i++)
			if (!strcmp(f[i], want[k]))
				col[k] = i;
		if (col[k] < 0 && (k == 0 || k == 7 || (roi && k >= 3))) {
			rc = dl_fail(err, DL_EDATA, "%s:1: no column '%s' in the header", t.name, want[k]);
			goto out;
		}
	}
	while ((line = prep_text_next(&t))) {
		if (!*line)
			continue;
		n = prep_csv_split(line, ';', f, 64);
		int32_t v[8];
		for (int k = 0; k < 8; k++) {
			if (col[k] < 0 || k == 0)
				continue;
			if (col[k] >= n || prep_parse_label(f[col[k]], &v[k])) {
				rc = dl_fail(err, DL_EDATA, "%s:%d: %s is not an integer", t.name, t.line,
					     want[k]);
				goto out;
			}
		}
		if (col[0] >= n || (rc = prep_check_path(&t, f[col[0]], err))) {
			rc = rc ? rc : dl_fail(err, DL_EDATA, "%s:%d: no Filename", t.name, t.line);
			goto out;
		}
		int r[4] = { 0 };
		if (roi) {
			if (v[5] < v[3] || v[6] < v[4]) {
				rc = dl_fail(err, DL_EDATA, "%s:%d: empty ROI", t.name, t.line);
				goto out;
			}
			r[0] = v[3];
			r[1] = v[4];
			r[2] = v[5] - v[3] + 1;
			r[3] = v[6] - v[4] + 1;
		}
		char path[4096], where[1200];
		snprintf(path, sizeof path, "%s%s%s", dir, dir[0] ? "/" : "", f[col[0]]);
		snprintf(where, sizeof where, "%s:%d", t.name, t.line);
		if ((rc = prep_add(s, path, NULL, 0, 0, 0, v[7], NULL, roi ? r : NULL, where, err)))
			goto out;
	}
out:
	prep_text_release(&t);
	return rc;
}

static int fill_gtsrb(prep_set *s, int npos, char **argv, void *cfg, dl_err *err)
{
	(void)npos, (void)argv;
	const gtsrb_cfg *cf = cfg;
	const dl_fsrc *fs = s->fs;
	int rc = prep_set_classes_n(s, 43, err);
	if (rc)
		return rc;
	int train = cf->split >= 0 ? cf->split : has_folder(fs, "Final_Training/Images");
	const char *dirname = train ? "Final_Training/Images" : "Final_Test/Images";
	const char *base = has_folder(fs, dirname) ? dirname : "";
	char csv[8192];
	if (cf->gt)   /* a GT file on disk; its paths are relative to base */
		return gtsrb_csv(s, NULL, cf->gt, base, cf->roi, err);
	snprintf(csv, sizeof csv, "%s%sGT-final_test.csv", base, base[0] ? "/" : "");
	if (dl_fsrc_exists(fs, csv))
		return gtsrb_csv(s, fs, csv, base, cf->roi, err);
	char **cls = NULL;
	size_t ncls = 0;
	if ((rc = dl_fsrc_list(fs, base, 1, &cls, &ncls, err)))
		return rc;
	if (!ncls)
		rc = dl_fail(err, DL_EDATA, "%s: no Final_Training/Images/000NN folders and no "
			     "GT-final_test.csv", fs->root);
	for (size_t i = 0; !rc && i < ncls; i++) {
		char dir[4096];
		snprintf(dir, sizeof dir, "%s%s%s", base, base[0] ? "/" : "", cls[i]);
		snprintf(csv, sizeof csv, "%s/GT-%s.csv", dir, cls[i]);
		if (!dl_fsrc_exists(fs, csv))
			rc = dl_fail(err, DL_EDATA, "%s/%s: missing (GTSRB class folder without its "
				     "GT csv)", fs->root, csv);
		else
			rc = gtsrb_csv(s, fs, csv, dir, cf->roi, err);
	}
	dl_fsrc_free_names(cls, ncls);
	return rc;
}

static int setup_gtsrb(void *cfg, dl_opt *opts)
{
	static const dl_opt_choice splits[] = { { "train", 1 }, { "test", 0 }, { NULL, 0 } };
	gtsrb_cfg *cf = cfg;
	*cf = (gtsrb_cfg){ .split = -1 };
	const dl_opt rows[] = {
		DL_OPT_FLAG(0, "roi", &cf->roi, "crop each image to its Roi.X1..X2, Y1..Y2 (inclusive)"),
		DL_OPT_STRING(0, "gt", &cf->gt, "CSV",
		  "a GT csv on disk (e.g. GT-final_test.csv) naming images in ROOT's image folder"),
		DL_OPT_CHOICE(0, "split", &cf->split, "SPLIT", splits,
		  "Final_Training or Final_Test (default: Final_Training when ROOT has it)"),
	};
	memcpy(opts, rows, sizeof rows);
	return (int)(sizeof rows / sizeof rows[0]);
}

const prep_source prep_src_gtsrb = {
	.name = "gtsrb",
	.args = "ROOT",
	.what = "GTSRB traffic signs (GT-*.csv, --roi)",
	.summary = "Converts the German Traffic Sign Recognition Benchmark (ROOT: the GTSRB folder\n"
		   "or zip).  Training layout: Final_Training/Images/000NN/GT-000NN.csv per class;\n"
		   "test layout: Final_Test/Images/ with GT-final_test.csv (or --gt FILE).  Labels\n"
		   "are ClassId, 43 classes.  Images differ in size: give --size (e.g. 32x32).",
	.footer = "example:\n  dl-prep gtsrb GTSRB_Final_Training_Images.zip --roi --size 32x32 -o train.st\n",
	.minpos = 1, .maxpos = 1,
	.cfg_size = sizeof(gtsrb_cfg),
	.setup = setup_gtsrb,
	.fill = fill_gtsrb,
};

/* ---- Tiny ImageNet */

typedef struct tiny_cfg {
	int val;            /* --split val */
} tiny_cfg;

static int wnid_index(char **wnids, int n, const char *w)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(wnids[i], w))
			return i;
	return -1;
}

/* Class names: words.txt's names for each wnid, else the wnid itself. */
static int tiny_names(prep_set *s, char **wnids, int n, dl_err *err)
{
	prep_text t = { 0 };
	char **names = calloc((size_t)n + 1, sizeof *names);
	int rc = 0;
	if (!names)
		return dl_fail(err, DL_EFAIL, "out of memory");
	if (dl_fsrc_exists(s->fs, "words.txt") && !(rc = prep_text_read(&t, s->fs, "words.txt", err))) {
		char *line;
		while ((line = prep_text_next(&t))) {
			char *tab = strchr(line, '\t');
			if (!tab)
				continue;
			*tab = '\0';
			int k = wnid_index(wnids, n, line);
			if (k >= 0 && !names[k])
				names[k] = tab + 1;
		}
	}
	for (int i = 0; !rc && i < n; i++)
		rc = prep_add_class(s, names[i] ? names[i] : wnids[i], err);
	prep_text_release(&t);
	free(names);
	return rc;
}

static int fill_tiny(prep_set *s, int npos, char **argv, void *cfg, dl_err *err)
{
	(void)npos, (void)argv;
	const tiny_cfg *cf = cfg;
	prep_text w, v;
	char **wnids = NULL, *line;
	int n = 0, rc = prep_text_read(&w, s->fs, "wnids.txt", err);
	if (rc)
		return rc;
	while (!rc && (line = prep_text_next(&w))) {
		if (!*line)
			continue;
		char **nw = realloc(wnids, (size_t)(n + 1) * sizeof *nw);
		if (!nw) {
			rc = dl_fail(err, DL_EFAIL, "out of memory");
			break;
		}
		wnids = nw;
		wnids[n++] = line;
		if (wnid_index(wnids, n - 1, line) >= 0)
			rc = dl_fail(err, DL_EDATA, "%s:%d: wnid '%s' appears twice", w.name, w.line, line);
	}
	if (!rc && !n)
		rc = dl_fail(err, DL_EDATA, "%s: no wnids", w.name);
	if (!rc)
		rc = tiny_names(s, wnids, n, err);
	if (!rc && !cf->val) {
		for (int c = 0; !rc && c < n; c++) {
			char dir[4096], path[8192], **files = NULL;
			size_t nf = 0;
			snprintf(dir, sizeof dir, "train/%s/images", wnids[c]);
			if ((rc = dl_fsrc_list(s->fs, dir, 0, &files, &nf, err)))
				break;
			for (size_t i = 0; !rc && i < nf; i++) {
				if (!prep_is_image_name(files[i]))
					continue;
				snprintf(path, sizeof path, "%s/%s", dir, files[i]);
				rc = prep_add(s, path, NULL, 0, 0, 0, c, NULL, NULL, NULL, err);
			}
			dl_fsrc_free_names(files, nf);
		}
	} else if (!rc && !(rc = prep_text_read(&v, s->fs, "val/val_annotations.txt", err))) {
		while (!rc && (line = prep_text_next(&v))) {
			char *f[16], path[4096], where[1200];
			if (!*line)
				continue;
			int k = prep_csv_split(line, '\t', f, 16);
			if (k < 2) {
				rc = dl_fail(err, DL_EDATA, "%s:%d: expected FILE TAB WNID ...", v.name, v.line);
				break;
			}
			if ((rc = prep_check_path(&v, f[0], err)))
				break;
			int label = wnid_index(wnids, n, f[1]);
			snprintf(path, sizeof path, "val/images/%s", f[0]);
			snprintf(where, sizeof where, "%s:%d (wnid %s%s)", v.name, v.line, f[1],
				 label < 0 ? ", not in wnids.txt" : "");
			rc = prep_add(s, path, NULL, 0, 0, 0, label, NULL, NULL, where, err);
		}
		prep_text_release(&v);
	}
	free(wnids);
	prep_text_release(&w);
	return rc;
}

static int setup_tiny(void *cfg, dl_opt *opts)
{
	static const dl_opt_choice splits[] = { { "train", 0 }, { "val", 1 }, { NULL, 0 } };
	tiny_cfg *cf = cfg;
	opts[0] = (dl_opt)DL_OPT_CHOICE(0, "split", &cf->val, "SPLIT", splits,
					"which part (default train)");
	return 1;
}

const prep_source prep_src_tiny = {
	.name = "tiny-imagenet",
	.args = "ROOT",
	.what = "Tiny ImageNet (wnids.txt, train/, val/)",
	.summary = "Converts Tiny ImageNet (ROOT: the tiny-imagenet-200 folder or zip).  Labels\n"
		   "follow the order of wnids.txt; class names come from words.txt when present.\n"
		   "--split train: train/<wnid>/images/*; val: val/val_annotations.txt.",
	.footer = "example:\n  dl-prep tiny-imagenet tiny-imagenet-200.zip --split val -o val.st\n",
	.minpos = 1, .maxpos = 1,
	.cfg_size = sizeof(tiny_cfg),
	.setup = setup_tiny,
	.fill = fill_tiny,
};
