/* Text inputs of dl-prep's sources: list files, CSV files, name lists. */
#ifndef DL_PREP_TEXT_H
#define DL_PREP_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include "core/error.h"
#include "fsrc.h"

/* A whole text file in memory, NUL-terminated, read from disk (fs NULL;
 * "-" = stdin) or from the dataset root. */
typedef struct prep_text {
	char *p;
	size_t len;
	size_t pos;
	int line;         /* number of the line last returned */
	char name[1024];  /* for messages: the path as shown */
} prep_text;

int prep_text_read(prep_text *t, const dl_fsrc *fs, const char *path, dl_err *err);
void prep_text_release(prep_text *t);
/* The next line (without \n or \r\n), NUL-terminated in place; NULL at the end.
 * A NUL byte inside the file is DL_EDATA (checked by prep_text_read). */
char *prep_text_next(prep_text *t);

/* Splits line in place at sep into at most max fields, with "..."
 * quoting ("" inside quotes is one "); fields are trimmed of spaces.
 * Returns the field count, or -1 when there are more than max. */
int prep_csv_split(char *line, char sep, char **fields, int max);

/* Whole-string integer in [0, 1e6] / finite float; 0 or -1. */
int prep_parse_label(const char *s, int32_t *out);
int prep_parse_float(const char *s, float *out);
/* A path from a list/CSV file, checked to stay inside the root: 0, or
 * DL_EDATA "FILE:LINE: path 'P' is absolute (...)". */
int prep_check_path(const prep_text *t, const char *path, dl_err *err);
/* 1 for a name ending in .png .jpg .jpeg .ppm .pgm .pnm (any case). */
int prep_is_image_name(const char *name);

#endif
