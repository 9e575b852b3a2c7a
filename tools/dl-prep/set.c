/* prep_set building: samples, class names, --classes. */
#include "set.h"


#include <math.h>
#include <stdio.h>
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

static void clear_classes(prep_set *s)
{
	free_names(s->classes, s->nclasses);
	s->classes = NULL;
	s->nclasses = s->classes_cap = 0;
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
	clear_classes(s);
	memset(s, 0, sizeof *s);
}

int prep_add(prep_set *s, const char *path, const uint8_t *raw, int w, int h, int c,
	     int32_t label, const float *targets, const int *roi, const char *where, dl_err *err)
{
	/* every source's targets: a sum such as steering + correction can
	 * overflow a float to inf, which no loss can use */
	for (int k = 0; targets && k < s->ntargets; k++)
		if (!isfinite(targets[k]))
			return dl_fail(err, DL_EDATA, "%s: target %d is %g, not a finite float",
				       where ? where : path ? path : "sample", k + 1, (double)targets[k]);
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
	/* doubling: a label of 1000000 makes a million names "0".."1000000",
	 * which one more slot per realloc copies O(n^2) times (ASan's realloc
	 * always copies: a fuzz input took over 5 minutes) */
	if (s->nclasses == s->classes_cap) {
		int cap = s->classes_cap ? 2 * s->classes_cap : 16;
		char **nv = realloc(s->classes, (size_t)cap * sizeof *nv);
		if (!nv)
			return dl_fail(err, DL_EFAIL, "out of memory");
		s->classes = nv;
		s->classes_cap = cap;
	}
	if (!(s->classes[s->nclasses] = strdup(name)))
		return dl_fail(err, DL_EFAIL, "out of memory");
	s->nclasses++;
	s->has_labels = 1;
	return 0;
}

int prep_set_classes_n(prep_set *s, int k, dl_err *err)
{
	char name[32];
	clear_classes(s);
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
	clear_classes(s);
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
