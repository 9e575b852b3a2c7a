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
	int nclasses, classes_cap;
	int has_labels;
	char source[1024];    /* dl.source */
	const dl_fsrc *fs;    /* where paths are read; NULL when all items are raw */
} prep_set;

/* The options every source command shares. */
typedef struct prep_opts {
	const char *out, *val_out, *size, *classes;
	long limit, per_class, seed, jobs;
	int channels;         /* 0: the first image's */
	double val_fraction;
	int shuffle, center_crop, skip_bad;
	long archive_max_mb, archive_max_files;
	double archive_max_ratio;   /* 0: DL_FSRC_RATIO */
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

#endif
