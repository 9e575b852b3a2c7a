/* dl-prep folder / list / csv: images named by folder structure, by a
 * Caffe-style list file, or by columns of a CSV file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep.h"
#include "text.h"

/* ---- folder: ROOT/<class>/<image>, classes sorted by name */

static int fill_folder(prep_set *s, int npos, char **argv, void *cfg, dl_err *err)
{
	(void)npos, (void)argv, (void)cfg;
	char **cls = NULL, **files = NULL;
	size_t ncls = 0, nfiles = 0;
	int rc = dl_fsrc_list(s->fs, "", 1, &cls, &ncls, err);
	if (!rc && !ncls)
		rc = dl_fail(err, DL_EDATA, "%s: no class folders", s->fs->root);
	for (size_t c = 0; !rc && c < ncls; c++) {
		if ((rc = prep_add_class(s, cls[c], err)) ||
		    (rc = dl_fsrc_list(s->fs, cls[c], 0, &files, &nfiles, err)))
			break;
		for (size_t i = 0; !rc && i < nfiles; i++) {
			char path[4096];
			if (!prep_is_image_name(files[i]))
				continue;
			snprintf(path, sizeof path, "%s/%s", cls[c], files[i]);
			rc = prep_add(s, path, NULL, 0, 0, 0, (int32_t)c, NULL, NULL, NULL, err);
		}
		dl_fsrc_free_names(files, nfiles);
		files = NULL;
	}
	dl_fsrc_free_names(cls, ncls);
	return rc;
}

const prep_source prep_src_folder = {
	.name = "folder",
	.args = "ROOT",
	.what = "image folders, one sub-folder per class",
	.summary = "Converts an image folder tree, ROOT/<class>/<image>, into a dataset: one class\n"
		   "per sub-folder, in name order (byte order), images in name order.  Files ending\n"
		   ".png .jpg .jpeg .ppm .pgm .pnm are read; others and hidden names are ignored.",
	.minpos = 1, .maxpos = 1,
	.fill = fill_folder,
};

/* ---- list: "path label" per line (Caffe convert_imageset) */

static int fill_list(prep_set *s, int npos, char **argv, void *cfg, dl_err *err)
{
	(void)npos, (void)cfg;
	prep_text t;
	int rc = prep_text_read(&t, NULL, argv[2], err), maxl = -1;
	char *line;
	while (!rc && (line = prep_text_next(&t))) {
		size_t n = strlen(line);
		while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
			line[--n] = '\0';
		if (!n)
			continue;
		char *sp = strrchr(line, ' '), *tab = strrchr(line, '\t');
		if (!sp || (tab && tab > sp))
			sp = tab;
		int32_t label;
		if (!sp || sp == line) {
			rc = dl_fail(err, DL_EDATA, "%s:%d: expected 'PATH LABEL'", t.name, t.line);
			break;
		}
		*sp = '\0';
		if (prep_parse_label(sp + 1, &label)) {
			rc = dl_fail(err, DL_EDATA, "%s:%d: label '%s' is not an integer in 0..1000000",
				     t.name, t.line, sp + 1);
			break;
		}
		while (sp > line && (sp[-1] == ' ' || sp[-1] == '\t'))
			*--sp = '\0';
		char where[1200];
		snprintf(where, sizeof where, "%s:%d", t.name, t.line);
		if (!(rc = prep_check_path(&t, line, err)))
			rc = prep_add(s, line, NULL, 0, 0, 0, label, NULL, NULL, where, err);
		if (label > maxl)
			maxl = label;
	}
	if (!rc)
		rc = prep_set_classes_n(s, maxl + 1, err);
	prep_text_release(&t);
	return rc;
}

const prep_source prep_src_list = {
	.name = "list",
	.args = "ROOT LIST",
	.what = "a 'path label' list file (Caffe convert_imageset)",
	.summary = "Reads LIST (a file on disk, '-' = stdin), one 'PATH LABEL' per line as Caffe's\n"
		   "convert_imageset: PATH relative to ROOT (it may hold spaces: the label is the\n"
		   "last field), LABEL an integer.  Classes are 0..max label unless --classes.",
	.minpos = 2, .maxpos = 2,
	.fill = fill_list,
};

/* ---- csv: chosen columns; also GTSRB's GT-*.csv (gtsrb.c) */

typedef struct csv_cfg {
	const char *path_col, *label_col, *sep;
	int header;
} csv_cfg;

/* Column index from a number or (with a header) a name; -1 if absent. */
static int column(const char *spec, char **head, int nhead)
{
	int32_t v;
	if (!prep_parse_label(spec, &v))
		return v < 4096 ? (int)v : -1;
	for (int i = 0; i < nhead; i++)
		if (!strcmp(head[i], spec))
			return i;
	return -1;
}

static int fill_csv(prep_set *s, int npos, char **argv, void *cfg, dl_err *err)
{
	(void)npos;
	const csv_cfg *cf = cfg;
	prep_text t;
	char *f[256], *head[256], sep = cf->sep[0] == '\\' && cf->sep[1] == 't' ? '\t' : cf->sep[0];
	int nhead = 0, pc = -1, lc = -1, maxl = -1;
	if (!cf->sep[0] || (cf->sep[1] && strcmp(cf->sep, "\\t")))
		return dl_fail(err, DL_EUSAGE, "csv: --sep must be one character (or '\\t')");
	int rc = prep_text_read(&t, NULL, argv[2], err);
	char *line;
	while (!rc && (line = prep_text_next(&t))) {
		if (!*line)
			continue;
		int n = prep_csv_split(line, sep, f, 256);
		if (n < 0) {
			rc = dl_fail(err, DL_EDATA, "%s:%d: more than 256 columns", t.name, t.line);
			break;
		}
		if (pc < 0) {
			if (cf->header) {
				nhead = n;
				memcpy(head, f, sizeof(char *) * (size_t)n);
			}
			pc = column(cf->path_col, head, nhead);
			lc = column(cf->label_col, head, nhead);
			if (pc < 0 || lc < 0) {
				rc = dl_fail(err, DL_EDATA, "%s:%d: no column '%s'", t.name, t.line,
					     pc < 0 ? cf->path_col : cf->label_col);
				break;
			}
			if (cf->header)
				continue;
		}
		int32_t label;
		if (pc >= n || lc >= n) {
			rc = dl_fail(err, DL_EDATA, "%s:%d: %d columns, expected at least %d", t.name,
				     t.line, n, (pc > lc ? pc : lc) + 1);
			break;
		}
		if (prep_parse_label(f[lc], &label)) {
			rc = dl_fail(err, DL_EDATA, "%s:%d: label '%s' is not an integer in 0..1000000",
				     t.name, t.line, f[lc]);
			break;
		}
		char where[1200];
		snprintf(where, sizeof where, "%s:%d", t.name, t.line);
		if (!(rc = prep_check_path(&t, f[pc], err)))
			rc = prep_add(s, f[pc], NULL, 0, 0, 0, label, NULL, NULL, where, err);
		if (label > maxl)
			maxl = label;
	}
	if (!rc)
		rc = prep_set_classes_n(s, maxl + 1, err);
	prep_text_release(&t);
	return rc;
}

static int setup_csv(void *cfg, dl_opt *opts)
{
	csv_cfg *cf = cfg;
	*cf = (csv_cfg){ "0", "1", ",", 0 };
	const dl_opt rows[] = {
		DL_OPT_STRING(0, "path-col", &cf->path_col, "COL",
		  "column of the image path: 0-based number or header name (default 0)"),
		DL_OPT_STRING(0, "label-col", &cf->label_col, "COL",
		  "column of the integer label (default 1)"),
		DL_OPT_STRING(0, "sep", &cf->sep, "C", "field separator (default ','; '\\t' for tab)"),
		DL_OPT_FLAG(0, "header", &cf->header, "the first line names the columns"),
	};
	memcpy(opts, rows, sizeof rows);
	return (int)(sizeof rows / sizeof rows[0]);
}

const prep_source prep_src_csv = {
	.name = "csv",
	.args = "ROOT CSV",
	.what = "a CSV file: path and label columns",
	.summary = "Reads CSV (a file on disk, '-' = stdin): one sample per line, the image path\n"
		   "(relative to ROOT) and an integer label in the chosen columns.  Fields may be\n"
		   "\"quoted\".  For GTSRB's layout use 'dl-prep gtsrb'.",
	.footer = "example:\n  dl-prep csv imgs labels.csv --header --path-col file --label-col class -o d.st\n",
	.minpos = 2, .maxpos = 2,
	.cfg_size = sizeof(csv_cfg),
	.setup = setup_csv,
	.fill = fill_csv,
};
