#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dl_buf_init(dl_buf *b)
{
	memset(b, 0, sizeof *b);
}

void dl_buf_release(dl_buf *b)
{
	free(b->p);
	dl_buf_init(b);
}

/* Makes room for n more bytes plus the terminating NUL; 0 or -1 (oom). */
static int reserve(dl_buf *b, size_t n)
{
	if (b->oom)
		return -1;
	if (n >= (size_t)-1 - b->len) {
		b->oom = 1;
		return -1;
	}
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > (size_t)-1 / 2 ? need : cap * 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void dl_buf_append(dl_buf *b, const void *data, size_t n)
{
	if (reserve(b, n) != 0)
		return;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void dl_buf_puts(dl_buf *b, const char *s)
{
	dl_buf_append(b, s, strlen(s));
}

void dl_buf_printf(dl_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if (reserve(b, (size_t)n) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void dl_buf_json_string(dl_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	dl_buf_append(b, "\"", 1);
	const char *run = s;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		dl_buf_append(b, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"': dl_buf_puts(b, "\\\""); break;
		case '\\': dl_buf_puts(b, "\\\\"); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			dl_buf_append(b, u, 6);
		}
		}
	}
	dl_buf_append(b, run, (size_t)(s - run));
	dl_buf_append(b, "\"", 1);
}
