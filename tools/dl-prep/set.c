/* prep_set building and the options every source command shares. */
#include "set.h"
#include "core/guard.h"

#include <stdlib.h>
#include <string.h>

void prep_set_init(prep_set *s)
{
	memset(s, 0, sizeof *s);
}

static void free_names(char **v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void prep_set_release(prep_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->items[i].path);
		free(s->items[i].where);
	}
	free(s->items);
	free(s->targets);
	free_names(s->target_names, s->ntargets);
	free_names(s->classes, s->nclasses);
	memset(s, 0, sizeof *s);
}

int prep_add(prep_set *s, const char *path, const uint8_t *raw, int w, int h, int c,
	     int32_t label, const float *targets, const int *roi, const char *where, dl_err *err)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 1024;
		prep_item *ni = realloc(s->items, nc * sizeof *ni);
		if (!ni)
			return dl_fail(err, DL_EFAIL, "out of memory");
		s->items = ni;
		if (s->ntargets) {
			float *nt = realloc(s->targets, nc * (size_t)s->ntargets * sizeof *nt);
			if (!nt)
				return dl_fail(err, DL_EFAIL, "out of memory");
			s->targets = nt;
		}
		s->cap = nc;
	}
	prep_item *it = &s->items[s->n];
	memset(it, 0, sizeof *it);
	it->raw = raw;
	it->rw = w;
	it->rh = h;
	it->rc = c;
	it->label = label;
	if (roi)
		memcpy(it->roi, roi, sizeof it->roi);
	if ((path && !(it->path = strdup(path))) || (where && !(it->where = strdup(where)))) {
		free(it->path);
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	if (s->ntargets)
		memcpy(s->targets + s->n * (size_t)s->ntargets, targets,
		       (size_t)s->ntargets * sizeof *targets);
	s->n++;
	return 0;
}

int prep_add_class(prep_set *s, const char *name, dl_err *err)
{
	char **nv = realloc(s->classes, (size_t)(s->nclasses + 1) * sizeof *nv);
	if (!nv)
		return dl_fail(err, DL_EFAIL, "out of memory");
	s->classes = nv;
	if (!(nv[s->nclasses] = strdup(name)))
		return dl_fail(err, DL_EFAIL, "out of memory");
	s->nclasses++;
	s->has_labels = 1;
	return 0;
}

int prep_set_classes_n(prep_set *s, int k, dl_err *err)
{
	char name[32];
	free_names(s->classes, s->nclasses);
	s->classes = NULL;
	s->nclasses = 0;
	for (int i = 0; i < k; i++) {
		snprintf(name, sizeof name, "%d", i);
		int rc = prep_add_class(s, name, err);
		if (rc)
			return rc;
	}
	s->has_labels = 1;
	return 0;
}

static const char *const fashion[] = {
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

int prep_classes_option(prep_set *s, const char *spec, dl_err *err)
{
	int rc;
	if (!spec)
		return 0;
	free_names(s->classes, s->nclasses);
	s->classes = NULL;
	s->nclasses = 0;
	if (!strcmp(spec, "fashion-mnist")) {
		for (int i = 0; i < 10; i++)
			if ((rc = prep_add_class(s, fashion[i], err)))
				return rc;
		return 0;
	}
	if (!strcmp(spec, "mnist") || !strcmp(spec, "numbers"))
		return prep_set_classes_n(s, 10, err);
	const char *p = spec;
	while (*p) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == 0 || len > 200)
			return dl_fail(err, DL_EUSAGE, "--classes: empty or overlong class name");
		char name[256];
		memcpy(name, p, len);
		name[len] = '\0';
		if ((rc = prep_add_class(s, name, err)))
			return rc;
		p += len + (c ? 1 : 0);
		if (c && !*p)
			return dl_fail(err, DL_EUSAGE, "--classes: trailing comma");
	}
	return 0;
}

void prep_opts_defaults(prep_opts *o)
{
	memset(o, 0, sizeof *o);
	o->limit = -1;
	o->per_class = -1;
	o->seed = 1;
	o->jobs = 0;
}

int prep_opt_table(prep_opts *o, const dl_opt *extra, dl_opt *table, int cap)
{
	const dl_opt common[] = {
		{ 'o', "output", DL_OPT_STRING, &o->out, "FILE", "dataset file to write (required)" },
		{ 0, "val-fraction", DL_OPT_FLOAT, &o->val_fraction, "F",
		  "move a seeded fraction F of the samples, stratified by class, to --val-out" },
		{ 0, "val-out", DL_OPT_STRING, &o->val_out, "FILE", "validation file to write" },
		{ 0, "seed", DL_OPT_INT, &o->seed, "S", "seed of the split and of --shuffle (default 1)" },
		{ 0, "shuffle", DL_OPT_FLAG, &o->shuffle, NULL, "write the samples in a seeded random order" },
		{ 0, "limit", DL_OPT_INT, &o->limit, "N", "keep only the first N samples (tiny CI sets)" },
		{ 0, "per-class", DL_OPT_INT, &o->per_class, "N", "keep only the first N samples of each class" },
		{ 0, "classes", DL_OPT_STRING, &o->classes, "NAMES",
		  "class names: a comma list (or fashion-mnist, mnist); overrides the source's" },
		{ 0, "size", DL_OPT_STRING, &o->size, "HxW", "resize every image to H x W pixels" },
		{ 0, "center-crop", DL_OPT_FLAG, &o->center_crop, NULL,
		  "before resizing, crop the largest centred W:H rectangle (needs --size)" },
		{ 0, "channels", DL_OPT_INT, &o->channels, "C", "1 (gray) or 3 (RGB); default: the first image's" },
		{ 'j', "jobs", DL_OPT_INT, &o->jobs, "N", "decode on N threads (default: all cores)" },
		{ 0, "skip-bad", DL_OPT_FLAG, &o->skip_bad, NULL,
		  "skip undecodable images and bad labels (listed on stderr and in metadata)" },
		{ 0, "archive-max-mb", DL_OPT_INT, &o->archive_max_mb, "MB",
		  "most bytes read from an archive into memory (default 8192)" },
		{ 0, "archive-max-files", DL_OPT_INT, &o->archive_max_files, "N",
		  "most files indexed in an archive (default 1000000)" },
	};
	int n = 0, k = (int)(sizeof common / sizeof common[0]);
	for (; extra && extra[n].longname; n++)
		if (n < cap - 1)
			table[n] = extra[n];
	for (int i = 0; i < k && n < cap - 1; i++)
		table[n++] = common[i];
	table[n] = (dl_opt){ 0, NULL, 0, NULL, NULL, NULL };
	return n;
}

int prep_opts_check(const prep_opts *o, const char *cmd, dl_err *err)
{
	if (!o->out)
		return dl_fail(err, DL_EUSAGE, "%s: missing -o OUT", cmd);
	if (o->val_fraction < 0 || o->val_fraction >= 1 || (o->val_fraction > 0) != (o->val_out != NULL))
		return dl_fail(err, DL_EUSAGE, "%s: --val-fraction F (0 < F < 1) and --val-out go together",
			       cmd);
	if (o->limit == 0 || o->limit < -1)
		return dl_fail(err, DL_EUSAGE, "%s: --limit must be positive", cmd);
	if (o->per_class == 0 || o->per_class < -1)
		return dl_fail(err, DL_EUSAGE, "%s: --per-class must be positive", cmd);
	if (o->channels != 0 && o->channels != 1 && o->channels != 3)
		return dl_fail(err, DL_EUSAGE, "%s: --channels must be 1 or 3", cmd);
	if (o->jobs < 0 || o->jobs > 1024)
		return dl_fail(err, DL_EUSAGE, "%s: --jobs must be 1..1024", cmd);
	if (o->archive_max_mb < 0 || o->archive_max_files < 0)
		return dl_fail(err, DL_EUSAGE, "%s: archive limits must be positive", cmd);
	if (o->center_crop && !o->size)
		return dl_fail(err, DL_EUSAGE, "%s: --center-crop needs --size", cmd);
	if (o->size) {
		int h, w, end = 0;
		if (sscanf(o->size, "%dx%d%n", &h, &w, &end) != 2 || o->size[end] || h < 1 || w < 1 ||
		    h > 8192 || w > 8192)
			return dl_fail(err, DL_EUSAGE, "%s: --size '%s': expected HxW, e.g. 32x32", cmd,
				       o->size);
	}
	if (o->val_out && !strcmp(o->val_out, o->out))
		return dl_fail(err, DL_EUSAGE, "%s: -o and --val-out name the same file", cmd);
	return 0;
}

void prep_fsrc_limits(const prep_opts *o, dl_fsrc_limits *lim)
{
	lim->max_bytes = o->archive_max_mb > 0 ? (size_t)o->archive_max_mb << 20 : 0;
	lim->max_entries = o->archive_max_files > 0 ? (size_t)o->archive_max_files : 0;
}

const char prep_common_help[] =
	"Every source reads a directory or an archive (tar, tar.gz, zip; '-' = stdin)\n"
	"as ROOT.  Paths in list and CSV files are relative to ROOT; absolute paths and\n"
	"'..' are refused.  A bad image or label stops with file and line (exit 3) and\n"
	"no output, unless --skip-bad.\n";

int prep_guard(dl_guard *g, const prep_opts *o, int npos, char **argv, dl_err *err)
{
	dl_iofile in[16];
	int nin = 0;
	for (int i = 1; i <= npos && nin < 16; i++)
		in[nin++] = (dl_iofile){ "input", argv[i] };
	const dl_iofile out[] = { { "-o", o->out }, { "--val-out", o->val_out } };
	return dl_guard_begin(g, DL_GUARD_DIE, in, nin, out, 2, err);
}

int prep_main(const dl_cmd *cmd, prep_opts *o, int argc, char **argv, int minpos, int maxpos,
	      prep_fill_fn fill, void *ctx)
{
	dl_err err = { 0 };
	int npos, rc;
	dl_fsrc fs = { 0 };
	dl_fsrc_limits lim;
	dl_guard g = { 0 };
	prep_set s;
	prep_set_init(&s);
	const char *name = strchr(cmd->prog, ' ') ? strchr(cmd->prog, ' ') + 1 : cmd->prog;
	if ((rc = dl_opt_parse_std(cmd, argc, argv, &npos, &err)))
		return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-prep", &err);
	if (npos < minpos || npos > maxpos) {
		rc = dl_fail(&err, DL_EUSAGE, "%s: expected %s, got %d arguments", name, cmd->usage, npos);
		goto fail;
	}
	if ((rc = prep_opts_check(o, name, &err)) || (rc = prep_guard(&g, o, npos, argv, &err)))
		goto fail;
	prep_fsrc_limits(o, &lim);
	if ((rc = dl_fsrc_open(&fs, argv[1], &lim, &err)))
		goto fail;
	s.fs = &fs;
	size_t k = (size_t)snprintf(s.source, sizeof s.source, "%s", name);
	for (int i = 1; i <= npos && k < sizeof s.source; i++)
		k += (size_t)snprintf(s.source + k, sizeof s.source - k, " %s", argv[i]);
	if ((rc = fill(&s, npos, argv, o, ctx, &err)) ||
	    (rc = prep_classes_option(&s, o->classes, &err)) || (rc = prep_run(&s, o, &err)))
		goto fail;
	rc = 0;
	goto out;
fail:
	rc = dl_tool_fail("dl-prep", &err);
out:
	prep_set_release(&s);
	dl_fsrc_close(&fs);
	dl_guard_end(&g);
	return rc;
}
