/* A small, strict JSON reader (RFC 8259) for untrusted headers.
 *
 * Limits: nesting depth 64; input length as given (no NUL needed); strings
 * must be valid UTF-8 after unescaping, \u escapes with surrogate pairs are
 * decoded, a lone surrogate or an embedded NUL (\u0000) is an error.
 * Duplicate object keys are an error.  Numbers are parsed as double and must
 * be finite.  Never reads outside [text, text + len). */
#ifndef DL_CORE_JSON_H
#define DL_CORE_JSON_H

#include <stddef.h>
#include "core/error.h"

typedef enum {
	DL_JSON_NULL, DL_JSON_BOOL, DL_JSON_NUMBER, DL_JSON_STRING,
	DL_JSON_ARRAY, DL_JSON_OBJECT
} dl_json_type;

typedef struct dl_json dl_json;
struct dl_json {
	dl_json_type type;
	int boolean;        /* BOOL */
	double number;      /* NUMBER */
	char *str;          /* STRING: NUL-terminated, unescaped */
	size_t len;         /* STRING: byte length; ARRAY/OBJECT: item count */
	dl_json *items;     /* ARRAY elements / OBJECT values, `len` of them */
	char **keys;        /* OBJECT keys, parallel to items */
};

/* Parses text[0..len).  On error returns DL_EDATA with a message
 * "<what>: bad json at byte N: <reason>". *out is owned by the caller. */
int dl_json_parse(const char *text, size_t len, const char *what, dl_json **out,
		  dl_err *err);
void dl_json_free(dl_json *j);

/* Object member by key, or NULL (also when j is not an object). */
const dl_json *dl_json_get(const dl_json *j, const char *key);
/* Number that is an exact integer in [lo, hi] (and below 2^53 in magnitude,
 * where doubles still hold every integer); returns 0 and sets *out, else -1. */
int dl_json_int(const dl_json *j, long long lo, long long hi, long long *out);

#endif
