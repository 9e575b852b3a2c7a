#include "nn/spec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Kinds, keys and values: letters, digits, _ - . (values also ',' for
 * lists such as from=a,b). */
static int token_ok(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i]))
			return 0;
	return n > 0;
}

static int parse_line(dl_spec_line *l, const char *p, const char *end, dl_err *err)
{
	int first = 1;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p >= end)
			break;
		const char *tok = p;
		while (p < end && *p != ' ' && *p != '\t')
			p++;
		size_t n = (size_t)(p - tok);
		if (n >= DL_SPEC_MAX_TOKEN)
			return dl_fail(err, DL_EDATA, "%s:%d: token too long", l->src, l->lineno);
		if (first) {
			if (!token_ok(tok, n, "_-."))
				return dl_fail(err, DL_EDATA, "%s:%d: bad layer kind '%.*s'", l->src,
					       l->lineno, (int)n, tok);
			memcpy(l->kind, tok, n);
			l->kind[n] = '\0';
			first = 0;
			continue;
		}
		const char *eq = memchr(tok, '=', n);
		if (!eq || eq == tok || eq == tok + n - 1)
			return dl_fail(err, DL_EDATA, "%s:%d: expected key=value, got '%.*s'",
				       l->src, l->lineno, (int)n, tok);
		size_t kn = (size_t)(eq - tok), vn = n - kn - 1;
		if (!token_ok(tok, kn, "_-.") || !token_ok(eq + 1, vn, "_-.,"))
			return dl_fail(err, DL_EDATA, "%s:%d: bad characters in '%.*s'", l->src,
				       l->lineno, (int)n, tok);
		if (l->nopt == DL_SPEC_MAX_OPTS)
			return dl_fail(err, DL_EDATA, "%s:%d: too many options", l->src, l->lineno);
		for (int i = 0; i < l->nopt; i++)
			if (strlen(l->opt[i].key) == kn && !memcmp(l->opt[i].key, tok, kn))
				return dl_fail(err, DL_EDATA, "%s:%d: option '%.*s' given twice",
					       l->src, l->lineno, (int)kn, tok);
		dl_spec_opt *o = &l->opt[l->nopt++];
		memcpy(o->key, tok, kn);
		o->key[kn] = '\0';
		memcpy(o->val, eq + 1, vn);
		o->val[vn] = '\0';
		o->used = 0;
	}
	return 0;
}

int dl_spec_parse(dl_spec *s, const char *text, const char *src, dl_err *err)
{
	memset(s, 0, sizeof *s);
	int cap = 0, lineno = 0;
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		const char *end = nl ? nl : p + strlen(p);
		lineno++;
		const char *hash = memchr(p, '#', (size_t)(end - p));
		const char *stop = hash ? hash : end;
		while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t' || stop[-1] == '\r'))
			stop--;
		const char *q = p;
		while (q < stop && (*q == ' ' || *q == '\t'))
			q++;
		if (q < stop) {
			if (s->nlines == cap) {
				int ncap = cap ? cap * 2 : 16;
				dl_spec_line *nl2 = realloc(s->lines, (size_t)ncap * sizeof *nl2);
				if (!nl2) {
					dl_spec_release(s);
					return dl_fail(err, DL_EFAIL, "out of memory");
				}
				s->lines = nl2;
				cap = ncap;
			}
			dl_spec_line *l = &s->lines[s->nlines++];
			memset(l, 0, sizeof *l);
			l->src = src;
			l->lineno = lineno;
			int rc = parse_line(l, q, stop, err);
			if (rc) {
				dl_spec_release(s);
				return rc;
			}
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	if (s->nlines == 0)
		return dl_fail(err, DL_EDATA, "%s: empty model spec", src);
	return 0;
}

void dl_spec_release(dl_spec *s)
{
	free(s->lines);
	s->lines = NULL;
	s->nlines = 0;
}

static dl_spec_opt *find(dl_spec_line *l, const char *key)
{
	for (int i = 0; i < l->nopt; i++)
		if (!strcmp(l->opt[i].key, key))
			return &l->opt[i];
	return NULL;
}

/* key's option, marked used; NULL when l lacks it, with *rc = 0 (the
 * caller takes its default) or, when it is required, DL_EDATA naming it. */
static dl_spec_opt *take(dl_spec_line *l, const char *key, int required, int *rc, dl_err *err)
{
	dl_spec_opt *o = find(l, key);
	*rc = 0;
	if (o)
		o->used = 1;
	else if (required)
		*rc = dl_fail(err, DL_EDATA, "%s:%d: %s: option '%s' is required", l->src, l->lineno,
			      l->kind, key);
	return o;
}

int dl_spec_int(dl_spec_line *l, const char *key, int def, int lo, int hi, int *out,
		dl_err *err)
{
	int rc;
	dl_spec_opt *o = take(l, key, def < lo, &rc, err);
	if (!o) {
		if (!rc)
			*out = def;
		return rc;
	}
	char *end;
	errno = 0;
	long v = strtol(o->val, &end, 10);
	if (*end || errno || v < lo || v > hi)
		return dl_fail(err, DL_EDATA, "%s:%d: %s: %s=%s: expected an integer in [%d, %d]",
			       l->src, l->lineno, l->kind, key, o->val, lo, hi);
	*out = (int)v;
	return 0;
}

int dl_spec_float(dl_spec_line *l, const char *key, double def, double lo, double hi,
		  double *out, dl_err *err)
{
	int rc;
	dl_spec_opt *o = take(l, key, isnan(def), &rc, err);
	if (!o) {
		if (!rc)
			*out = def;
		return rc;
	}
	char *end;
	errno = 0;
	double v = strtod(o->val, &end);
	if (end == o->val || *end || errno || !isfinite(v) || v < lo || v > hi)
		return dl_fail(err, DL_EDATA, "%s:%d: %s: %s=%s: expected a number in [%g, %g]",
			       l->src, l->lineno, l->kind, key, o->val, lo, hi);
	*out = v;
	return 0;
}

int dl_spec_str(dl_spec_line *l, const char *key, const char *def, const char **out,
		dl_err *err)
{
	int rc;
	dl_spec_opt *o = take(l, key, !def, &rc, err);
	if (!rc)
		*out = o ? o->val : def;
	return rc;
}

int dl_spec_check_used(const dl_spec_line *l, dl_err *err)
{
	for (int i = 0; i < l->nopt; i++)
		if (!l->opt[i].used)
			return dl_fail(err, DL_EDATA, "%s:%d: %s: unknown option '%s'", l->src,
				       l->lineno, l->kind, l->opt[i].key);
	return 0;
}
