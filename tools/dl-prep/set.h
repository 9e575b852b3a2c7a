/* The sample set every dl-prep source fills, and the one pipeline that
 * turns it into dataset files (run.c): select (--per-class, --limit),
 * split (stratified --val-fraction), order (--shuffle), decode and
 * transform on -j threads (ROI crop, centre crop, resize, channels), write
 * (write.c).
 *
 * A sample is either a file in the dataset root (path, decoded by
 * lib/image) or raw pixels already in memory (CIFAR records, IDX), plus a
 * class label and/or K regression targets, an optional ROI, and `where`
 * ("list.txt:12") for messages.  Ownership: the set owns paths, wheres,
 * names and targets; raw pixels are borrowed from the source and must
 * outlive prep_run. */
#ifndef DL_PREP_SET_H
#define DL_PREP_SET_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/opt.h"
#include "fsrc.h"

typedef struct prep_item {
	char *path;           /* file in the root, or NULL for raw pixels */
	const uint8_t *raw;   /* h * w * c bytes, HWC */
	int rw, rh, rc;
	int32_t label;        /* -1: none */
	int roi[4];           /* x, y, w, h in pixels; w == 0: no ROI */
	char *where;          /* "file:line" or NULL */
} prep_item;

typedef struct prep_set {
	prep_item *items;
	size_t n, cap;
	float *targets;       /* n * ntargets */
	int ntargets;
	char **target_names;
	char **classes;       /* class names, nclasses of them */
	int nclasses;
	int has_labels;
	char source[1024];    /* dl.source */
	const dl_fsrc *fs;    /* where paths are read; NULL when all items are raw */
} prep_set;

/* The options every source command shares. */
typedef struct prep_opts {
	const char *out, *val_out, *size, *classes;
	long limit, per_class, seed, jobs, channels;
	double val_fraction;
	int shuffle, center_crop, skip_bad;
	long archive_max_mb, archive_max_files;
} prep_opts;

void prep_set_init(prep_set *s);
void prep_set_release(prep_set *s);
/* Adds a sample (path and where are copied; targets has ntargets values or
 * is NULL when ntargets is 0).  Returns 0 or DL_EFAIL. */
int prep_add(prep_set *s, const char *path, const uint8_t *raw, int w, int h, int c,
	     int32_t label, const float *targets, const int *roi, const char *where, dl_err *err);
/* Adds a class name (copied); prep_set_classes_n: "0".."k-1". */
int prep_add_class(prep_set *s, const char *name, dl_err *err);
int prep_set_classes_n(prep_set *s, int k, dl_err *err);
/* Applies --classes (a comma list) over whatever the source named. */
int prep_classes_option(prep_set *s, const char *spec, dl_err *err);

/* The common options as dl_opt rows appended after `extra` into table
 * (room for cap rows, terminator included); with_roi adds nothing here. */
int prep_opt_table(prep_opts *o, const dl_opt *extra, dl_opt *table, int cap);
void prep_opts_defaults(prep_opts *o);
/* Checks the common options (usage errors). */
/* Outputs never destroy inputs; outputs guarded against signals
 * (core/guard.h): inputs are argv[1..nin], outputs -o and --val-out. */
struct dl_guard;
int prep_guard(struct dl_guard *g, const prep_opts *o, int nin, char **argv, dl_err *err);
int prep_opts_check(const prep_opts *o, const char *cmd, dl_err *err);
/* Archive limits from the options. */
void prep_fsrc_limits(const prep_opts *o, dl_fsrc_limits *lim);

/* The pipeline; writes o->out (and o->val_out), both or neither. */
int prep_run(prep_set *s, const prep_opts *o, dl_err *err);

/* dataset file writer (write.c); labels / targets may be NULL.  With
 * --skip-bad, skipped_json lists the first PREP_SKIP_LIST_MAX skipped
 * samples (dl.skipped) and nskipped counts all (dl.skipped_count).  The
 * file is written to a temp (*a) and not committed: run.c commits the train
 * and val files together (both or neither). */
#define PREP_SKIP_LIST_MAX 1000
struct dl_afile;
int prep_write(const char *path, struct dl_afile *a, const uint8_t *images, int n, int h, int w, int c,
	       const int32_t *labels, const float *targets, const prep_set *s,
	       const char *skipped_json, size_t nskipped, dl_err *err);

/* Common option help, shared by the commands' footers. */
extern const char prep_common_help[];


/* The body of a source command: parse argv with cmd (whose table came from
 * prep_opt_table over o), check the options and the positional count
 * [minpos, maxpos], open argv[1] as the dataset root, call fill to add the
 * samples, apply --classes, run the pipeline, clean up.  Returns the exit code. */
typedef int (*prep_fill_fn)(prep_set *s, int npos, char **argv, const prep_opts *o, void *ctx,
			    dl_err *err);
int prep_main(const dl_cmd *cmd, prep_opts *o, int argc, char **argv, int minpos, int maxpos,
	      prep_fill_fn fill, void *ctx);

#endif
