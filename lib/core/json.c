/* Strict JSON reader; see json.h.  Recursive descent, depth-limited, with
 * every read bounds-checked against the end of the input. */
#include "core/json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct parser {
	const char *start, *p, *end;
	const char *what;
	dl_err *err;
} parser;

static int fail(parser *ps, const char *reason)
{
	return dl_fail(ps->err, DL_EDATA, "%s: bad json at byte %zu: %s", ps->what,
		       (size_t)(ps->p - ps->start), reason);
}

static int oom(parser *ps)
{
	return dl_fail(ps->err, DL_EFAIL, "%s: out of memory parsing json", ps->what);
}

static void skip_ws(parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
				   *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

/* Matches a literal word (true, false, null). */
static int word(parser *ps, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0)
		return fail(ps, "invalid literal");
	ps->p += n;
	return 0;
}

static int hex4(parser *ps, unsigned *out)
{
	if (ps->end - ps->p < 4)
		return fail(ps, "truncated \\u escape");
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = ps->p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return fail(ps, "bad hex digit in \\u escape");
	}
	ps->p += 4;
	*out = v;
	return 0;
}

/* Length of the valid UTF-8 sequence at s (s < end, *s >= 0x80), or 0. */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
	unsigned c = s[0];
	size_t n;
	unsigned lo = 0x80, hi = 0xBF;   /* range of the second byte */
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;           /* no overlongs */
		else if (c == 0xED)
			hi = 0x9F;           /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;           /* <= U+10FFFF */
	} else
		return 0;
	if ((size_t)(end - s) < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Parses a string at ps->p (the opening quote) into a new NUL-terminated
 * buffer.  The decoded form is never longer than the source, so one
 * allocation of the source length suffices. */
static int parse_string(parser *ps, char **out, size_t *outlen)
{
	ps->p++;   /* opening quote */
	const char *q = ps->p;
	/* find the closing quote to size the buffer */
	while (q < ps->end && *q != '"') {
		if (*q == '\\' && q + 1 < ps->end)
			q++;
		q++;
	}
	if (q >= ps->end) {
		ps->p = ps->end;
		return fail(ps, "unterminated string");
	}
	char *s = malloc((size_t)(q - ps->p) + 1);
	if (!s)
		return oom(ps);
	size_t n = 0;
	for (;;) {
		/* the scan above guarantees a closing quote before end */
		unsigned char c = (unsigned char)*ps->p;
		if (c == '"') {
			ps->p++;
			break;
		}
		if (c < 0x20) {
			free(s);
			return fail(ps, "control character in string");
		}
		if (c >= 0x80) {
			size_t k = utf8_len((const unsigned char *)ps->p,
					    (const unsigned char *)ps->end);
			if (!k) {
				free(s);
				return fail(ps, "invalid utf-8 in string");
			}
			memcpy(s + n, ps->p, k);
			n += k;
			ps->p += k;
			continue;
		}
		if (c != '\\') {
			s[n++] = (char)c;
			ps->p++;
			continue;
		}
		ps->p++;
		char e = *ps->p++;
		unsigned cp;
		switch (e) {
		case '"': s[n++] = '"'; break;
		case '\\': s[n++] = '\\'; break;
		case '/': s[n++] = '/'; break;
		case 'b': s[n++] = '\b'; break;
		case 'f': s[n++] = '\f'; break;
		case 'n': s[n++] = '\n'; break;
		case 'r': s[n++] = '\r'; break;
		case 't': s[n++] = '\t'; break;
		case 'u':
			if (hex4(ps, &cp) != 0) {
				free(s);
				return DL_EDATA;
			}
			if (cp >= 0xDC00 && cp <= 0xDFFF) {
				free(s);
				return fail(ps, "lone low surrogate in \\u escape");
			}
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				unsigned lo;
				if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
					free(s);
					return fail(ps, "lone high surrogate in \\u escape");
				}
				ps->p += 2;
				if (hex4(ps, &lo) != 0) {
					free(s);
					return DL_EDATA;
				}
				if (lo < 0xDC00 || lo > 0xDFFF) {
					free(s);
					return fail(ps, "lone high surrogate in \\u escape");
				}
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			}
			if (cp == 0) {
				free(s);
				return fail(ps, "\\u0000 in string");
			}
			/* \uXXXX is 6 source bytes -> at most 3; a pair is 12 -> 4 */
			n += put_utf8(s + n, cp);
			break;
		default:
			ps->p--;
			free(s);
			return fail(ps, "bad escape in string");
		}
		if (ps->p > ps->end) {   /* cannot happen: the quote bounds us */
			free(s);
			return fail(ps, "unterminated string");
		}
	}
	s[n] = '\0';
	*out = s;
	*outlen = n;
	return 0;
}

static int is_digit(parser *ps)
{
	return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

static int parse_number(parser *ps, double *out)
{
	const char *s = ps->p;
	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (!is_digit(ps))
		return fail(ps, "bad number");
	if (*ps->p == '0') {
		ps->p++;
		if (is_digit(ps))
			return fail(ps, "leading zero in number");
	} else
		while (is_digit(ps))
			ps->p++;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!is_digit(ps))
			return fail(ps, "bad fraction in number");
		while (is_digit(ps))
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!is_digit(ps))
			return fail(ps, "bad exponent in number");
		while (is_digit(ps))
			ps->p++;
	}
	/* strtod needs a NUL-terminated copy; the grammar above already
	 * excluded everything strtod would accept beyond JSON (hex, inf) */
	size_t n = (size_t)(ps->p - s);
	char small[64], *tmp = small;
	if (n >= sizeof small && !(tmp = malloc(n + 1)))
		return oom(ps);
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	double v = strtod(tmp, NULL);
	if (tmp != small)
		free(tmp);
	if (!isfinite(v)) {
		ps->p = s;
		return fail(ps, "number out of range");
	}
	*out = v;
	return 0;
}

static int parse_value(parser *ps, dl_json *v, int depth);

/* Appends one slot to a growing array of items (and keys, for objects). */
static int grow(parser *ps, dl_json *v, size_t *cap, int with_keys)
{
	if (v->len < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 4;
	dl_json *items = realloc(v->items, nc * sizeof *items);
	if (!items)
		return oom(ps);
	v->items = items;
	if (with_keys) {
		char **keys = realloc(v->keys, nc * sizeof *keys);
		if (!keys)
			return oom(ps);
		v->keys = keys;
	}
	*cap = nc;
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Duplicate keys, found by sorting a copy of the key pointers. */
static int check_dup_keys(parser *ps, const dl_json *v)
{
	if (v->len < 2)
		return 0;
	if (v->len <= 8) {
		for (size_t i = 0; i < v->len; i++)
			for (size_t j = i + 1; j < v->len; j++)
				if (!strcmp(v->keys[i], v->keys[j]))
					return fail(ps, "duplicate key in object");
		return 0;
	}
	char **k = malloc(v->len * sizeof *k);
	if (!k)
		return oom(ps);
	memcpy(k, v->keys, v->len * sizeof *k);
	qsort(k, v->len, sizeof *k, cmp_key);
	int dup = 0;
	for (size_t i = 1; i < v->len && !dup; i++)
		dup = !strcmp(k[i - 1], k[i]);
	free(k);
	return dup ? fail(ps, "duplicate key in object") : 0;
}

static int parse_array(parser *ps, dl_json *v, int depth)
{
	size_t cap = 0;
	v->type = DL_JSON_ARRAY;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return 0;
	}
	for (;;) {
		int rc = grow(ps, v, &cap, 0);
		if (rc)
			return rc;
		dl_json *it = &v->items[v->len];
		memset(it, 0, sizeof *it);
		v->len++;
		if ((rc = parse_value(ps, it, depth + 1)) != 0)
			return rc;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return fail(ps, "unterminated array");
		if (*ps->p == ']') {
			ps->p++;
			return 0;
		}
		if (*ps->p != ',')
			return fail(ps, "expected ',' or ']' in array");
		ps->p++;
	}
}

static int parse_object(parser *ps, dl_json *v, int depth)
{
	size_t cap = 0;
	v->type = DL_JSON_OBJECT;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return 0;
	}
	for (;;) {
		int rc = grow(ps, v, &cap, 1);
		if (rc)
			return rc;
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != '"')
			return fail(ps, "expected string key in object");
		char *key;
		size_t klen;
		if ((rc = parse_string(ps, &key, &klen)) != 0)
			return rc;
		dl_json *it = &v->items[v->len];
		memset(it, 0, sizeof *it);
		v->keys[v->len] = key;
		v->len++;
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != ':')
			return fail(ps, "expected ':' in object");
		ps->p++;
		if ((rc = parse_value(ps, it, depth + 1)) != 0)
			return rc;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return fail(ps, "unterminated object");
		if (*ps->p == '}') {
			ps->p++;
			return check_dup_keys(ps, v);
		}
		if (*ps->p != ',')
			return fail(ps, "expected ',' or '}' in object");
		ps->p++;
	}
}

/* Parses one value into *v (zeroed by the caller).  On failure v may hold
 * partial children; the caller frees them. */
static int parse_value(parser *ps, dl_json *v, int depth)
{
	skip_ws(ps);
	if (ps->p >= ps->end)
		return fail(ps, "unexpected end of input");
	switch (*ps->p) {
	case '{':
	case '[':
		if (depth >= MAX_DEPTH)
			return fail(ps, "nesting deeper than 64");
		return *ps->p == '{' ? parse_object(ps, v, depth) : parse_array(ps, v, depth);
	case '"':
		v->type = DL_JSON_STRING;
		return parse_string(ps, &v->str, &v->len);
	case 't':
		v->type = DL_JSON_BOOL;
		v->boolean = 1;
		return word(ps, "true");
	case 'f':
		v->type = DL_JSON_BOOL;
		return word(ps, "false");
	case 'n':
		v->type = DL_JSON_NULL;
		return word(ps, "null");
	default:
		v->type = DL_JSON_NUMBER;
		return parse_number(ps, &v->number);
	}
}

/* Frees what v owns, not v itself. */
static void clear(dl_json *v)
{
	if (v->type == DL_JSON_ARRAY || v->type == DL_JSON_OBJECT) {
		for (size_t i = 0; i < v->len; i++) {
			clear(&v->items[i]);
			if (v->keys)
				free(v->keys[i]);
		}
		free(v->items);
		free(v->keys);
	} else if (v->type == DL_JSON_STRING)
		free(v->str);
}

int dl_json_parse(const char *text, size_t len, const char *what, dl_json **out,
		  dl_err *err)
{
	*out = NULL;
	parser ps = { text, text, text + len, what, err };
	dl_json *v = calloc(1, sizeof *v);
	if (!v)
		return oom(&ps);
	int rc = parse_value(&ps, v, 0);
	if (!rc) {
		skip_ws(&ps);
		if (ps.p != ps.end)
			rc = fail(&ps, "trailing characters after value");
	}
	if (rc) {
		dl_json_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

void dl_json_free(dl_json *j)
{
	if (!j)
		return;
	clear(j);
	free(j);
}

const dl_json *dl_json_get(const dl_json *j, const char *key)
{
	if (!j || j->type != DL_JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < j->len; i++)
		if (!strcmp(j->keys[i], key))
			return &j->items[i];
	return NULL;
}

int dl_json_int(const dl_json *j, long long lo, long long hi, long long *out)
{
	/* from 2^53 on, a double no longer tells which integer the text wrote */
	const double exact = 9007199254740992.0;
	if (!j || j->type != DL_JSON_NUMBER)
		return -1;
	double d = j->number;
	if (!(d > -exact && d < exact) || d != floor(d))
		return -1;
	long long v = (long long)d;
	if (v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}
