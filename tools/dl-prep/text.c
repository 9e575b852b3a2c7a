/* Text inputs: whole-file reads, lines, CSV fields, strict numbers. */
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/readall.h"

int prep_text_read(prep_text *t, const dl_fsrc *fs, const char *path, dl_err *err)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;
	memset(t, 0, sizeof *t);
	if (fs) {
		snprintf(t->name, sizeof t->name, "%s/%s", fs->root, path);
		rc = dl_fsrc_read(fs, path, &data, &len, err);
	} else {
		snprintf(t->name, sizeof t->name, "%s", path);
		int fd = strcmp(path, "-") ? dl_open_regular(path, NULL, err) : 0;
		if (fd < 0)
			return err->code;
		rc = dl_read_all(fd, path, (size_t)1 << 30, &data, &len, err);
		if (fd)
			close(fd);
	}
	if (rc)
		return rc;
	if (memchr(data, 0, len)) {
		free(data);
		return dl_fail(err, DL_EDATA, "%s: not a text file (NUL byte)", t->name);
	}
	char *p = realloc(data, len + 1);
	if (!p) {
		free(data);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	p[len] = '\0';
	t->p = p;
	t->len = len;
	return 0;
}

void prep_text_release(prep_text *t)
{
	free(t->p);
	t->p = NULL;
}

char *prep_text_next(prep_text *t)
{
	if (t->pos >= t->len)
		return NULL;
	char *s = t->p + t->pos, *e = strchr(s, '\n');
	size_t n = e ? (size_t)(e - s) : strlen(s);
	t->pos += n + (e ? 1 : 0);
	s[n] = '\0';
	if (n && s[n - 1] == '\r')
		s[n - 1] = '\0';
	t->line++;
	return s;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

int prep_csv_split(char *line, char sep, char **fields, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		if (n == max)
			return -1;
		while (*p == ' ' && sep != ' ')
			p++;
		if (*p == '"') {   /* quoted: copy in place, "" is one quote */
			char *w = ++p, *start = p;
			while (*p && !(*p == '"' && p[1] != '"')) {
				if (*p == '"')
					p++;
				*w++ = *p++;
			}
			if (*p == '"')
				p++;
			char *after = p;
			*w = '\0';
			fields[n++] = start;
			while (*after && *after != sep)
				after++;
			if (!*after)
				return n;
			p = after + 1;
			continue;
		}
		char *e = strchr(p, sep);
		if (e)
			*e = '\0';
		fields[n++] = trim(p);
		if (!e)
			return n;
		p = e + 1;
	}
}

int prep_parse_label(const char *s, int32_t *out)
{
	char *end;
	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > 1000000)
		return -1;
	*out = (int32_t)v;
	return 0;
}

int prep_parse_float(const char *s, float *out)
{
	char *end;
	if (!*s)
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || fabs(v) > 3e38)
		return -1;
	*out = (float)v;
	return 0;
}

int prep_check_path(const prep_text *t, const char *path, dl_err *err)
{
	char norm[4096];
	const char *why;
	if (dl_fsrc_norm(path, norm, sizeof norm, &why))
		return dl_fail(err, DL_EDATA, "%s:%d: path '%s' %s (paths must stay inside the dataset root)",
			       t->name, t->line, path, why);
	return 0;
}

int prep_is_image_name(const char *name)
{
	static const char *const ext[] = { ".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pnm" };
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		size_t k = strlen(ext[i]);
		if (n > k && !strcasecmp(name + n - k, ext[i]))
			return 1;
	}
	return 0;
}
