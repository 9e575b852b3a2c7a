/* A growable byte buffer for building text (JSON headers, logs) in memory.
 * Allocation failure is sticky: it sets `oom` and later appends do nothing,
 * so a caller checks once at the end. */
#ifndef DL_CORE_BUF_H
#define DL_CORE_BUF_H

#include <stddef.h>

typedef struct dl_buf {
	char *p;        /* NUL-terminated when len > 0 or after any append */
	size_t len, cap;
	int oom;
} dl_buf;

void dl_buf_init(dl_buf *b);
void dl_buf_release(dl_buf *b);
void dl_buf_append(dl_buf *b, const void *data, size_t n);
void dl_buf_puts(dl_buf *b, const char *s);
void dl_buf_printf(dl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included, escaping ", \ and
 * control characters (\u00XX).  Bytes >= 0x80 are copied as they are. */
void dl_buf_json_string(dl_buf *b, const char *s);

#endif
