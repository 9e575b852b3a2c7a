/* Model spec text: one layer per line, `kind key=value ...`, `#` comments.
 *
 *   # lenet
 *   input h=28 w=28 c=1
 *   conv2d filters=20 size=5 pad=same
 *   relu
 *
 * The parser only splits text into lines of options; each layer kind reads
 * its own options with dl_spec_int / dl_spec_str and the model builder then
 * rejects any option nobody read (a typo is an error, never ignored).
 * Errors name "<source>:<line>".  Graph options (name=ID, from=ID[,ID...])
 * are read by the model builder (lib/nn/graph.c); man/dl-model.5 documents
 * the whole format. */
#ifndef DL_NN_SPEC_H
#define DL_NN_SPEC_H

#include "core/error.h"

#define DL_SPEC_MAX_OPTS 16
#define DL_SPEC_MAX_TOKEN 64

typedef struct dl_spec_opt {
	char key[DL_SPEC_MAX_TOKEN];
	char val[DL_SPEC_MAX_TOKEN];
	int used;
} dl_spec_opt;

typedef struct dl_spec_line {
	const char *src;   /* source name for messages (borrowed) */
	int lineno;
	char kind[DL_SPEC_MAX_TOKEN];
	int nopt;
	dl_spec_opt opt[DL_SPEC_MAX_OPTS];
} dl_spec_line;

typedef struct dl_spec {
	int nlines;
	dl_spec_line *lines;   /* owned */
} dl_spec;

int dl_spec_parse(dl_spec *s, const char *text, const char *src, dl_err *err);
void dl_spec_release(dl_spec *s);

/* Reads option `key` as an integer in [lo, hi]; absent: *out = def (a def
 * below lo means the option is required). */
int dl_spec_int(dl_spec_line *l, const char *key, int def, int lo, int hi, int *out,
		dl_err *err);
/* Reads option `key` as a finite number in [lo, hi]; absent: *out = def
 * (required if def is NaN). */
int dl_spec_float(dl_spec_line *l, const char *key, double def, double lo, double hi,
		  double *out, dl_err *err);
/* Reads option `key` as a string; absent: *out = def (NULL: required). */
int dl_spec_str(dl_spec_line *l, const char *key, const char *def, const char **out,
		dl_err *err);
/* DL_EDATA naming the first option no one read. */
int dl_spec_check_used(const dl_spec_line *l, dl_err *err);

#endif
