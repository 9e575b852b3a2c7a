/* The one driver every dl-prep source runs through, and the options they
 * all share (source.h). */
#include "source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char prep_common_help[] =
	"Every source reads a directory or an archive (tar, tar.gz, zip; '-' = stdin)\n"
	"as ROOT.  Paths in list and CSV files are relative to ROOT; absolute paths and\n"
	"'..' are refused.  A bad image or label stops with file and line (exit 3) and\n"
	"no output, unless --skip-bad.\n";

static const dl_opt_choice channel_choices[] = { { "1", 1 }, { "3", 3 }, { NULL, 0 } };

/* The common options' defaults and rows (written to rows; returns how many). */
static int common_opts(prep_opts *o, dl_opt *rows)
{
	memset(o, 0, sizeof *o);
	o->limit = -1;
	o->per_class = -1;
	o->seed = 1;
	const dl_opt common[] = {
		DL_OPT_STRING('o', "output", &o->out, "FILE", "dataset file to write (required)"),
		DL_OPT_FLOAT(0, "val-fraction", &o->val_fraction, "F",
		  "move a seeded fraction F of the samples, stratified by class, to --val-out",
		  DL_MIN(0), DL_BELOW(1)),
		DL_OPT_STRING(0, "val-out", &o->val_out, "FILE", "validation file to write"),
		DL_OPT_INT(0, "seed", &o->seed, "S", "seed of the split and of --shuffle (default 1)"),
		DL_OPT_FLAG(0, "shuffle", &o->shuffle, "write the samples in a seeded random order"),
		DL_OPT_INT(0, "limit", &o->limit, "N", "keep only the first N samples (tiny CI sets)",
			   DL_MIN(1)),
		DL_OPT_INT(0, "per-class", &o->per_class, "N", "keep only the first N samples of each class",
			   DL_MIN(1)),
		DL_OPT_STRING(0, "classes", &o->classes, "NAMES",
		  "class names: a comma list (or fashion-mnist, mnist); overrides the source's"),
		DL_OPT_STRING(0, "size", &o->size, "HxW", "resize every image to H x W pixels"),
		DL_OPT_FLAG(0, "center-crop", &o->center_crop,
		  "before resizing, crop the largest centred W:H rectangle (needs --size)"),
		DL_OPT_CHOICE(0, "channels", &o->channels, "C", channel_choices,
			      "1 (gray) or 3 (RGB); default: the first image's"),
		DL_OPT_INT('j', "jobs", &o->jobs, "N", "decode on N threads (default: all cores)",
			   DL_MIN(0), DL_MAX(1024)),
		DL_OPT_FLAG(0, "skip-bad", &o->skip_bad,
		  "skip undecodable images and bad labels (listed on stderr and in metadata)"),
		DL_OPT_INT(0, "archive-max-mb", &o->archive_max_mb, "MB",
		  "most bytes read from an archive into memory (default 8192)", DL_MIN(0)),
		DL_OPT_INT(0, "archive-max-files", &o->archive_max_files, "N",
		  "most files indexed in an archive (default 1000000)", DL_MIN(0)),
		DL_OPT_FLOAT(0, "archive-max-ratio", &o->archive_max_ratio, "R",
		  "most bytes decoded per compressed byte of an archive (default 50)", DL_MIN(0)),
	};
	memcpy(rows, common, sizeof common);
	return (int)(sizeof common / sizeof common[0]);
}

/* What the table cannot check: options that go together, --size. */
static int check_opts(const prep_opts *o, const char *cmd, dl_err *err)
{
	if (!o->out)
		return dl_fail(err, DL_EUSAGE, "%s: missing -o OUT", cmd);
	if ((o->val_fraction > 0) != (o->val_out != NULL))
		return dl_fail(err, DL_EUSAGE, "%s: --val-fraction F (0 < F < 1) and --val-out go together",
			       cmd);
	if (o->center_crop && !o->size)
		return dl_fail(err, DL_EUSAGE, "%s: --center-crop needs --size", cmd);
	if (o->size) {
		int h, w, end = 0;
		if (sscanf(o->size, "%dx%d%n", &h, &w, &end) != 2 || o->size[end] || h < 1 || w < 1 ||
		    h > 8192 || w > 8192)
			return dl_fail(err, DL_EUSAGE, "%s: --size '%s': expected HxW, e.g. 32x32", cmd,
				       o->size);
	}
	if (o->val_out && !strcmp(o->val_out, o->out))
		return dl_fail(err, DL_EUSAGE, "%s: -o and --val-out name the same file", cmd);
	return 0;
}

/* Opens argv[1] as the dataset root with the archive limits of o. */
static int open_root(dl_fsrc *fs, const char *root, const prep_opts *o, dl_err *err)
{
	dl_fsrc_limits lim;
	lim.max_bytes = o->archive_max_mb > 0 ? (size_t)o->archive_max_mb << 20 : 0;
	lim.max_entries = o->archive_max_files > 0 ? (size_t)o->archive_max_files : 0;
	lim.max_ratio = o->archive_max_ratio;
	return dl_fsrc_open(fs, root, &lim, err);
}

/* Outputs never destroy inputs, and are guarded against signals
 * (core/guard.h): the inputs are argv[1..npos], the outputs -o and
 * --val-out.  host: the caller's started guard, else g is started. */
static int prep_guard(dl_guard *g, dl_guard *host, const prep_opts *o, int npos, char **argv,
		      dl_err *err)
{
	dl_iofile in[16];
	int nin = 0;
	for (int i = 1; i <= npos && nin < 16; i++)
		in[nin++] = (dl_iofile){ "input", argv[i] };
	const dl_iofile out[] = { { "-o", o->out }, { "--val-out", o->val_out } };
	return host ? dl_guard_add(host, in, nin, out, 2, err)
		    : dl_guard_begin(g, DL_GUARD_DIE, in, nin, out, 2, err);
}

int prep_source_main(int argc, char **argv, const void *source)
{
	return prep_source_run(argc, argv, source, NULL);
}

int prep_source_run(int argc, char **argv, const prep_source *src, dl_guard *host)
{
	dl_opt opts[PREP_SOURCE_MAX_OPTS + 24];
	char prog[64], usage[160];
	prep_opts o;
	prep_set s;
	dl_fsrc fs = { 0 };
	dl_guard g = { 0 };
	dl_err err = { 0 };
	int npos, rc;
	void *cfg = calloc(1, src->cfg_size ? src->cfg_size : 1);
	prep_set_init(&s);
	if (!cfg) {
		dl_fail(&err, DL_EFAIL, "out of memory");
		return dl_tool_fail("dl-prep", &err);
	}
	int n = src->setup ? src->setup(cfg, opts) : 0;
	n += common_opts(&o, opts + n);
	opts[n] = (dl_opt)DL_OPT_END;
	snprintf(prog, sizeof prog, "dl-prep %s", src->name);
	snprintf(usage, sizeof usage, "%s -o OUT [options]", src->args);
	const dl_cmd cmd = { prog, usage, src->summary, opts,
			     src->footer ? src->footer : prep_common_help };
	if ((rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err))) {
		free(cfg);
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-prep", &err);
	}
	if (npos < src->minpos || npos > src->maxpos) {
		rc = dl_fail(&err, DL_EUSAGE, "%s: expected %s, got %d arguments", src->name, src->args,
			     npos);
		goto fail;
	}
	if ((rc = check_opts(&o, src->name, &err)) || (rc = prep_guard(&g, host, &o, npos, argv, &err)))
		goto fail;
	if (!src->files) {
		if ((rc = open_root(&fs, argv[1], &o, &err)))
			goto fail;
		s.fs = &fs;
	}
	size_t k = (size_t)snprintf(s.source, sizeof s.source, "%s", src->name);
	for (int i = 1; i <= npos && k < sizeof s.source; i++)
		k += (size_t)snprintf(s.source + k, sizeof s.source - k, " %s", argv[i]);
	if ((rc = src->fill(&s, npos, argv, cfg, &err)) ||
	    (rc = prep_classes_option(&s, o.classes, &err)) || (rc = prep_run(&s, &o, &err)))
		goto fail;
	rc = 0;
	goto out;
fail:
	rc = dl_tool_fail("dl-prep", &err);
out:
	dl_guard_end(&g);
	prep_set_release(&s);
	if (src->release)
		src->release(cfg);
	free(cfg);
	dl_fsrc_close(&fs);
	return rc;
}
