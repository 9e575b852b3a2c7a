#include "manifest.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/readall.h"
#include "io/http.h"

enum { MANIFEST_MAX = 1 << 20 };

int fetch_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 200 || name[0] == '.' || name[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._+-", name[i]))
			return 0;
	return 1;
}

/* One dataset while parsing: growable arrays, pointed to at the end. */
typedef struct mset {
	fetch_file *files;
	size_t nf;
	const char **urls;      /* NULL-terminated at the end */
	size_t nu;
} mset;

typedef struct parser {
	const char *path;
	int line;
	mset *sets;
	fetch_dataset *ds;
	size_t n;
} parser;

static int bad(parser *p, dl_err *err, const char *what, const char *s)
{
	return dl_fail(err, DL_EDATA, "%s:%d: %s%s%s%s", p->path, p->line, what,
		       s ? " '" : "", s ? s : "", s ? "'" : "");
}

static int is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

static int url_ok(const char *u)
{
	return dl_http_url_ok(u) || dl_http_url_is_file(u);
}

static char *next_word(char **s)
{
	char *p = *s;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return NULL;
	char *w = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p)
		*p++ = '\0';
	*s = p;
	return w;
}

static int file_line(parser *p, char *rest, dl_err *err)
{
	mset *m = &p->sets[p->n - 1];
	char *name = next_word(&rest);
	if (!name || !fetch_name_ok(name))
		return bad(p, err, "file: bad or missing file name (letters, digits, . _ + -)", name);
	for (size_t i = 0; i < m->nf; i++)
		if (!strcmp(m->files[i].name, name))
			return bad(p, err, "file listed twice:", name);
	fetch_file f = { name, NULL, 0, -1, -1, NULL, NULL, DL_UNPACK_NONE };
	for (char *w; (w = next_word(&rest));) {
		char *eq = strchr(w, '=');
		if (!eq)
			return bad(p, err, "expected key=value, got", w);
		*eq = '\0';
		const char *v = eq + 1;
		if (!strcmp(w, "size")) {
			char *end;
			errno = 0;
			long long b = strtoll(v, &end, 10);
			if (!strcmp(v, "unknown"))
				f.bytes = -1;
			else if (!*v || *end || errno || b < 0 || !isdigit((unsigned char)*v))
				return bad(p, err, "size: not a byte count:", v);
			else
				f.bytes = b;
		} else if (!strcmp(w, "sha256")) {
			if (!is_hex(v, 64))
				return bad(p, err, "sha256: not 64 hex digits:", v);
			f.sha256 = v;
		} else if (!strcmp(w, "md5")) {
			if (!is_hex(v, 32))
				return bad(p, err, "md5: not 32 hex digits:", v);
			f.md5 = v;
		} else if (!strcmp(w, "url")) {
			if (!url_ok(v))
				return bad(p, err, "url: only http://, https:// and file:// are supported:", v);
			f.url = v;
		} else if (!strcmp(w, "unpack")) {
			if (!strcmp(v, "no"))
				f.unpack = DL_UNPACK_NONE;
			else if (!strcmp(v, "yes") && (f.unpack = dl_unpack_kind_of(name)) == DL_UNPACK_NONE)
				return bad(p, err, "unpack=yes: the name ends in none of .tar .tar.gz .tgz .zip .gz:", name);
			else if (strcmp(v, "yes") && (f.unpack = dl_unpack_kind_parse(v)) == DL_UNPACK_NONE)
				return bad(p, err, "unpack: expected no, yes, tar, tar.gz, tgz, zip or gz, got", v);
		} else {
			return bad(p, err, "unknown key (size, sha256, md5, url, unpack):", w);
		}
	}
	if (!f.sha256 && !f.md5)
		return bad(p, err, "file needs sha256= or md5=:", name);
	fetch_file *nf = realloc(m->files, (m->nf + 1) * sizeof *nf);
	if (!nf)
		return dl_fail(err, DL_EFAIL, "out of memory");
	m->files = nf;
	m->files[m->nf++] = f;
	return 0;
}

static int add_url(parser *p, char *rest, dl_err *err)
{
	mset *m = &p->sets[p->n - 1];
	char *u = next_word(&rest);
	if (!u || next_word(&rest))
		return bad(p, err, "url: expected one base URL", NULL);
	if (!url_ok(u))
		return bad(p, err, "url: only http://, https:// and file:// are supported:", u);
	const char **nu = realloc(m->urls, (m->nu + 2) * sizeof *nu);
	if (!nu)
		return dl_fail(err, DL_EFAIL, "out of memory");
	m->urls = nu;
	m->urls[m->nu++] = u;
	m->urls[m->nu] = NULL;
	return 0;
}

static int new_set(parser *p, char *rest, dl_err *err)
{
	char *name = next_word(&rest);
	if (!name || next_word(&rest) || !fetch_name_ok(name))
		return bad(p, err, "dataset: expected one name (letters, digits, . _ + -)", name);
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->ds[i].name, name))
			return bad(p, err, "dataset defined twice:", name);
	mset *ns = realloc(p->sets, (p->n + 1) * sizeof *ns);
	if (ns)
		p->sets = ns;
	fetch_dataset *nd = ns ? realloc(p->ds, (p->n + 1) * sizeof *nd) : NULL;
	if (!nd)
		return dl_fail(err, DL_EFAIL, "out of memory");
	p->ds = nd;
	memset(&p->sets[p->n], 0, sizeof p->sets[p->n]);
	memset(&p->ds[p->n], 0, sizeof p->ds[p->n]);
	p->ds[p->n].name = name;
	p->ds[p->n].summary = "";
	p->n++;
	return 0;
}

static int parse_line(parser *p, char *s, dl_err *err)
{
	char *hash = strchr(s, '#');
	if (hash)
		*hash = '\0';
	char *w = next_word(&s);
	if (!w)
		return 0;
	if (!strcmp(w, "dataset"))
		return new_set(p, s, err);
	if (strcmp(w, "summary") && strcmp(w, "url") && strcmp(w, "file"))
		return bad(p, err, "unknown line (dataset, summary, url, file):", w);
	if (!p->n)
		return bad(p, err, "expected 'dataset NAME' first, got", w);
	if (!strcmp(w, "url"))
		return add_url(p, s, err);
	if (!strcmp(w, "file"))
		return file_line(p, s, err);
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	p->ds[p->n - 1].summary = s;
	return 0;
}

int fetch_manifest_load(const char *path, fetch_manifest *m, dl_err *err)
{
	memset(m, 0, sizeof *m);
	unsigned char *text = NULL;
	size_t len = 0;
	int rc = dl_read_file(path, MANIFEST_MAX, &text, &len, err);
	if (rc)
		return rc;
	char *t = (char *)text;
	m->text = t;
	parser p = { path, 0, NULL, NULL, 0 };
	if (memchr(t, '\0', len))
		rc = dl_fail(err, DL_EDATA, "%s: not a text file (NUL byte)", path);
	for (char *line = t, *nl; !rc && line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		p.line++;
		size_t n = strlen(line);
		if (n && line[n - 1] == '\r')
			line[n - 1] = '\0';
		rc = parse_line(&p, line, err);
	}
	for (size_t i = 0; !rc && i < p.n; i++)
		if (!p.sets[i].nf)
			rc = dl_fail(err, DL_EDATA, "%s: dataset '%s' has no file line", path, p.ds[i].name);
	for (size_t i = 0; i < p.n; i++) {
		p.ds[i].files = p.sets[i].files;
		p.ds[i].nfiles = p.sets[i].nf;
		p.ds[i].base_urls = p.sets[i].urls;
	}
	m->ds = p.ds;
	m->n = p.n;
	m->owned = p.sets;
	if (rc)
		fetch_manifest_release(m);
	return rc;
}

void fetch_manifest_release(fetch_manifest *m)
{
	mset *sets = m->owned;
	for (size_t i = 0; sets && i < m->n; i++) {
		free(sets[i].files);
		free(sets[i].urls);
	}
	free(sets);
	free(m->ds);
	free(m->text);
	memset(m, 0, sizeof *m);
}

const fetch_dataset *fetch_manifest_find(const fetch_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->ds[i].name, name))
			return &m->ds[i];
	return NULL;
}
