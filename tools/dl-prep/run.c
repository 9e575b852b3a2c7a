/* prep_run: select, split, order, decode on threads, write.
 *
 * Determinism: every decision (selection, split, order) is made on the
 * item list before any decoding, from the seed only; each worker writes
 * its sample into its own slot; a failure is reported for the lowest
 * failing sample.  So the output is byte-identical for any -j. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/afile.h"
#include "core/buf.h"
#include "core/rng.h"
#include "image/image.h"
#include "set.h"

typedef struct job {
	size_t item;
	uint8_t *dst;       /* h * w * c bytes */
} job;

typedef struct run_ctx {
	const prep_set *s;
	const job *jobs;
	size_t njobs;
	int h, w, c, resize, center;
	atomic_size_t next, first_fail;
	int skip_bad;
	int *code;          /* per job: 0 ok, else the dl_err code */
	char **msg;         /* per job: the message of a failure */
	const prep_item *kept_it;   /* the item probe() decoded, and its image: */
	dl_image kept;              /* the worker uses it instead of decoding again */
} run_ctx;

static const char *item_name(const prep_set *s, const prep_item *it, char *buf, size_t cap)
{
	if (it->where)
		snprintf(buf, cap, "%s", it->where);
	else if (it->path)
		snprintf(buf, cap, "%s/%s", s->fs ? s->fs->root : ".", it->path);
	else
		snprintf(buf, cap, "%s: sample %zu", s->source, (size_t)(it - s->items));
	return buf;
}

/* Turns item into an image of exactly ctx's h x w x c at dst. */
static int make_sample(const run_ctx *x, const prep_item *it, uint8_t *dst, dl_err *err)
{
	dl_image a = { 0 }, b = { 0 };
	char name[1200];
	int rc = 0;
	if (it == x->kept_it && x->kept.px && x->kept.c == x->c) {
		a = x->kept;   /* borrowed: decode_all frees it */
	} else if (it->raw) {
		if (it->rc == x->c) {
			a = (dl_image){ it->rw, it->rh, it->rc, (uint8_t *)it->raw };
		} else {
			dl_image r = { it->rw, it->rh, it->rc, (uint8_t *)it->raw };
			if ((rc = dl_image_convert(&r, x->c, &a, err)))
				return rc;
		}
	} else {
		uint8_t *data = NULL;
		size_t len = 0;
		snprintf(name, sizeof name, "%s/%s", x->s->fs->root, it->path);
		if (!(rc = dl_fsrc_read(x->s->fs, it->path, &data, &len, err)))
			rc = dl_image_decode(data, len, name, NULL, x->c, &a, err);
		free(data);
		if (rc)
			return rc;
	}
	int owned = a.px != it->raw && a.px != x->kept.px;
#define STEP(call)                                          \
	do {                                                \
		rc = (call);                                \
		if (owned)                                  \
			dl_image_free(&a);                  \
		if (rc)                                     \
			return rc;                          \
		a = b;                                      \
		b = (dl_image){ 0 };                        \
		owned = 1;                                  \
	} while (0)
	if (it->roi[2]) {
		if (it->roi[0] < 0 || it->roi[1] < 0 || it->roi[0] + it->roi[2] > a.w ||
		    it->roi[1] + it->roi[3] > a.h) {
			if (owned)
				dl_image_free(&a);
			return dl_fail(err, DL_EDATA, "ROI %d,%d %dx%d lies outside the %dx%d image",
				       it->roi[0], it->roi[1], it->roi[2], it->roi[3], a.w, a.h);
		}
		STEP(dl_image_crop(&a, it->roi[0], it->roi[1], it->roi[2], it->roi[3], &b, err));
	}
	if (x->center && (a.w * x->h != a.h * x->w))
		STEP(dl_image_center_crop(&a, x->w, x->h, &b, err));
	if (a.w != x->w || a.h != x->h) {
		if (!x->resize) {
			if (owned)
				dl_image_free(&a);
			return dl_fail(err, DL_EDATA, "image is %dx%d (WxH), the first was %dx%d: give --size",
				       a.w, a.h, x->w, x->h);
		}
		STEP(dl_image_resize(&a, x->w, x->h, &b, err));
	}
#undef STEP
	if (a.c != x->c) {   /* a decoder must honour want_c; refuse if not */
		rc = dl_fail(err, DL_EFAIL, "decoder returned %d channels, asked for %d", a.c, x->c);
	} else {
		memcpy(dst, a.px, (size_t)x->h * x->w * x->c);
	}
	if (owned)
		dl_image_free(&a);
	return rc;
}

static void *worker(void *arg)
{
	run_ctx *x = arg;
	for (;;) {
		size_t j = atomic_fetch_add(&x->next, 1);
		if (j >= x->njobs)
			break;
		if (!x->skip_bad && j > atomic_load(&x->first_fail))
			continue;   /* an earlier sample already failed: nothing more to do */
		dl_err e = { 0 };
		const prep_item *it = &x->s->items[x->jobs[j].item];
		int rc = make_sample(x, it, x->jobs[j].dst, &e);
		if (rc) {
			char name[1200];
			x->code[j] = rc;
			size_t len = strlen(e.msg) + 1300;
			if ((x->msg[j] = malloc(len))) {
				/* decoder messages already start with the file; a list line goes first */
				if (it->where || !strstr(e.msg, it->path ? it->path : "\x01"))
					snprintf(x->msg[j], len, "%s: %s",
						 item_name(x->s, it, name, sizeof name), e.msg);
				else
					snprintf(x->msg[j], len, "%s", e.msg);
			}
			size_t cur = atomic_load(&x->first_fail);
			while (j < cur && !atomic_compare_exchange_weak(&x->first_fail, &cur, j))
				;
		}
	}
	return NULL;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* Marks in_val[] for a stratified split: per class floor(F * n_c), the
 * rest of round(F * N) to the classes with the largest remainders. */
static int split(const prep_set *s, const size_t *sel, size_t n, double f, uint64_t seed,
		 char *in_val, size_t *nval, dl_err *err)
{
	int k = s->has_labels ? s->nclasses : 1;
	size_t *cnt = calloc((size_t)k, sizeof *cnt), *quota = calloc((size_t)k, sizeof *quota);
	uint32_t *idx = malloc((n ? n : 1) * sizeof *idx);
	double *rem = calloc((size_t)k, sizeof *rem);
	int rc = 0;
	if (!cnt || !quota || !idx || !rem) {
		rc = dl_fail(err, DL_EFAIL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		cnt[s->has_labels ? s->items[sel[i]].label : 0]++;
	size_t want = (size_t)llround(f * (double)n), got = 0;
	for (int c = 0; c < k; c++) {
		double q = f * (double)cnt[c];
		quota[c] = (size_t)floor(q);
		rem[c] = q - floor(q);
		got += quota[c];
	}
	while (got < want) {   /* largest remainder first, ties to the lower class */
		int best = -1;
		for (int c = 0; c < k; c++)
			if (quota[c] < cnt[c] && (best < 0 || rem[c] > rem[best]))
				best = c;
		if (best < 0)
			break;
		quota[best]++;
		rem[best] = -1;
		got++;
	}
	dl_rng rng;
	dl_rng_seed(&rng, seed);
	for (int c = 0; c < k; c++) {
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if ((s->has_labels ? s->items[sel[i]].label : 0) == c)
				idx[m++] = (uint32_t)i;
		dl_rng_shuffle_u32(&rng, idx, (uint32_t)m);
		for (size_t i = 0; i < quota[c]; i++)
			in_val[idx[i]] = 1;
	}
	*nval = got;
out:
	free(cnt);
	free(quota);
	free(idx);
	free(rem);
	return rc;
}

typedef struct part {
	size_t n;
	size_t *items;
	uint8_t *images;
	int32_t *labels;
	float *targets;
} part;

/* The output h, w, c: --size / --channels, else the first sample (in source
 * order) that decodes; that sample's image is kept for the parallel pass
 * (*kept_it, *kept), which does not decode it again.  Samples that fail
 * here fail again, and are reported, in the parallel pass. */
static int probe(const prep_set *s, const prep_opts *o, const part *parts, int *h, int *w,
		 int *c, const prep_item **kept_it, dl_image *kept, dl_err *err)
{
	if (*h && *c)
		return 0;
	size_t n = parts[0].n + parts[1].n;
	size_t *all = malloc(n * sizeof *all);
	if (!all)
		return dl_fail(err, DL_EFAIL, "out of memory");
	memcpy(all, parts[0].items, parts[0].n * sizeof *all);
	memcpy(all + parts[0].n, parts[1].items, parts[1].n * sizeof *all);
	qsort(all, n, sizeof *all, cmp_size);
	int rc = -1;
	for (size_t i = 0; i < n && rc; i++) {
		const prep_item *it = &s->items[all[i]];
		dl_image im = { 0 };
		if (it->raw) {
			im = (dl_image){ it->rw, it->rh, it->rc, NULL };
		} else {
			uint8_t *data = NULL;
			size_t len = 0;
			dl_err e = { 0 };
			if (dl_fsrc_read(s->fs, it->path, &data, &len, &e) ||
			    dl_image_decode(data, len, it->path, NULL, (int)o->channels, &im, &e)) {
				free(data);
				continue;
			}
			free(data);
			*kept_it = it;
			*kept = im;
		}
		if (it->roi[2]) {
			im.w = it->roi[2];
			im.h = it->roi[3];
		}
		if (!*h) {
			*h = im.h;
			*w = im.w;
		}
		if (!*c)
			*c = im.c;
		rc = 0;
	}
	free(all);
	if (rc) {   /* nothing decodes: the parallel pass names the first failure */
		*h = *h ? *h : 1;
		*w = *w ? *w : 1;
		*c = *c ? *c : 3;
	}
	return 0;
}

static int decode_all(const prep_set *s, const prep_opts *o, part *parts, int *hp, int *wp,
		      int *cp, dl_buf *skipped, size_t *nskipped, dl_err *err)
{
	const prep_item *kept_it = NULL;
	dl_image kept = { 0 };
	int rc = probe(s, o, parts, hp, wp, cp, &kept_it, &kept, err), h = *hp, w = *wp, c = *cp;
	if (rc)
		return rc;
	size_t sample = (size_t)h * w * c, njobs = parts[0].n + parts[1].n;
	job *jobs = calloc(njobs, sizeof *jobs);
	run_ctx x = { .s = s, .h = h, .w = w, .c = c, .resize = o->size != NULL,
		      .center = o->center_crop, .skip_bad = o->skip_bad, .njobs = njobs,
		      .kept_it = kept_it, .kept = kept };
	x.code = calloc(njobs, sizeof *x.code);
	x.msg = calloc(njobs, sizeof *x.msg);
	if (!jobs || !x.code || !x.msg) {
		rc = dl_fail(err, DL_EFAIL, "out of memory");
		goto out;
	}
	size_t j = 0;
	for (int p = 0; p < 2; p++) {
		part *pt = &parts[p];
		size_t m = pt->n ? pt->n : 1;
		if (sample && m > SIZE_MAX / sample) {
			rc = dl_fail(err, DL_EDATA, "%s: %zu images of %dx%dx%d do not fit in memory",
				     s->source, pt->n, h, w, c);
			goto out;
		}
		pt->images = malloc(m * sample);
		pt->labels = s->has_labels ? malloc(m * sizeof *pt->labels) : NULL;
		pt->targets = s->ntargets ? malloc(m * (size_t)s->ntargets * sizeof(float)) : NULL;
		if (!pt->images || (s->has_labels && !pt->labels) || (s->ntargets && !pt->targets)) {
			rc = dl_fail(err, DL_EFAIL, "out of memory (%zu images of %dx%dx%d)", pt->n, h,
				     w, c);
			goto out;
		}
		for (size_t i = 0; i < pt->n; i++, j++) {
			size_t it = pt->items[i];
			jobs[j] = (job){ it, pt->images + i * sample };
			if (pt->labels)
				pt->labels[i] = s->items[it].label;
			if (pt->targets)
				memcpy(pt->targets + i * (size_t)s->ntargets,
				       s->targets + it * (size_t)s->ntargets,
				       (size_t)s->ntargets * sizeof(float));
		}
	}
	x.jobs = jobs;
	atomic_init(&x.next, 0);
	atomic_init(&x.first_fail, SIZE_MAX);
	long nt = o->jobs > 0 ? o->jobs : sysconf(_SC_NPROCESSORS_ONLN);
	if (nt < 1)
		nt = 1;
	if ((size_t)nt > njobs)
		nt = (long)njobs;
	pthread_t th[1024];
	long started = 0;
	for (; started < nt - 1; started++)
		if (pthread_create(&th[started], NULL, worker, &x))
			break;
	worker(&x);   /* the main thread works too; with -j1 it is the only one */
	for (long t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	size_t ff = atomic_load(&x.first_fail);
	if (!o->skip_bad && ff < njobs) {
		rc = dl_fail(err, x.code[ff], "%s", x.msg[ff] ? x.msg[ff] : "out of memory");
		goto out;
	}
	/* drop the failed samples, keeping the order of the rest */
	j = 0;
	for (int p = 0; p < 2; p++) {
		part *pt = &parts[p];
		size_t keep = 0;
		for (size_t i = 0; i < pt->n; i++, j++) {
			if (x.code[j]) {
				fprintf(stderr, "dl-prep: skipped %s\n", x.msg[j] ? x.msg[j] : "(no memory)");
				if (*nskipped < PREP_SKIP_LIST_MAX) {
					dl_buf_puts(skipped, skipped->len > 1 ? ", " : "");
					dl_buf_json_string(skipped, x.msg[j] ? x.msg[j] : "?");
				}
				(*nskipped)++;
				continue;
			}
			if (keep != i) {
				memmove(pt->images + keep * sample, pt->images + i * sample, sample);
				if (pt->labels)
					pt->labels[keep] = pt->labels[i];
				if (pt->targets)
					memmove(pt->targets + keep * (size_t)s->ntargets,
						pt->targets + i * (size_t)s->ntargets,
						(size_t)s->ntargets * sizeof(float));
			}
			keep++;
		}
		pt->n = keep;
	}
out:
	dl_image_free(&kept);
	for (size_t i = 0; x.msg && i < njobs; i++)
		free(x.msg[i]);
	free(x.msg);
	free(x.code);
	free(jobs);
	return rc;
}

/* Selection: labels checked, then --per-class and --limit in source order. */
static int select_items(const prep_set *s, const prep_opts *o, size_t *sel, size_t *np,
			dl_buf *skipped, size_t *nskipped, dl_err *err)
{
	size_t n = 0;
	size_t *percls = s->has_labels ? calloc((size_t)s->nclasses + 1, sizeof *percls) : NULL;
	if (s->has_labels && !percls)
		return dl_fail(err, DL_EFAIL, "out of memory");
	for (size_t i = 0; i < s->n && (o->limit < 0 || n < (size_t)o->limit); i++) {
		const prep_item *it = &s->items[i];
		if (s->has_labels && (it->label < 0 || it->label >= s->nclasses)) {
			char name[1200], msg[1400];
			snprintf(msg, sizeof msg, "%s: label %d is outside the %d classes",
				 item_name(s, it, name, sizeof name), (int)it->label, s->nclasses);
			if (!o->skip_bad) {
				free(percls);
				return dl_fail(err, DL_EDATA, "%s", msg);
			}
			fprintf(stderr, "dl-prep: skipped %s\n", msg);
			if (*nskipped < PREP_SKIP_LIST_MAX) {
				dl_buf_puts(skipped, skipped->len > 1 ? ", " : "");
				dl_buf_json_string(skipped, msg);
			}
			(*nskipped)++;
			continue;
		}
		if (s->has_labels && o->per_class > 0 && percls[it->label]++ >= (size_t)o->per_class)
			continue;
		sel[n++] = i;
	}
	free(percls);
	*np = n;
	if (!n)
		return dl_fail(err, DL_EDATA, "%s: no samples", s->source);
	return 0;
}

int prep_run(prep_set *s, const prep_opts *o, dl_err *err)
{
	size_t n = 0, nval = 0, nskipped = 0;
	size_t *sel = malloc((s->n ? s->n : 1) * sizeof *sel);
	char *in_val = calloc(s->n ? s->n : 1, 1);
	uint32_t *perm = malloc((s->n ? s->n : 1) * sizeof *perm);
	part parts[2] = { { 0 } };   /* 0: val, 1: train */
	dl_buf skipped;
	int rc = 0, h = 0, w = 0, c = (int)o->channels;
	dl_buf_init(&skipped);
	dl_buf_puts(&skipped, "[");
	if (!sel || !in_val || !perm) {
		rc = dl_fail(err, DL_EFAIL, "out of memory");
		goto out;
	}
	if ((rc = select_items(s, o, sel, &n, &skipped, &nskipped, err)))
		goto out;
	if (o->val_out) {
		if ((rc = split(s, sel, n, o->val_fraction, (uint64_t)o->seed, in_val, &nval, err)))
			goto out;
		if (nval < 1 || nval >= n) {
			rc = dl_fail(err, DL_EUSAGE, "--val-fraction %g of %zu samples leaves an empty set",
				     o->val_fraction, n);
			goto out;
		}
	}
	/* order: source order, or one seeded permutation shared by both parts */
	for (size_t i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	if (o->shuffle) {
		dl_rng rng;
		dl_rng_seed(&rng, (uint64_t)o->seed ^ 0x5348554646ull);   /* apart from the split's */
		dl_rng_shuffle_u32(&rng, perm, (uint32_t)n);
	}
	parts[0].items = malloc((nval ? nval : 1) * sizeof(size_t));
	parts[1].items = malloc((n - nval ? n - nval : 1) * sizeof(size_t));
	if (!parts[0].items || !parts[1].items) {
		rc = dl_fail(err, DL_EFAIL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		part *p = &parts[in_val[perm[i]] ? 0 : 1];
		p->items[p->n++] = sel[perm[i]];
	}
	if (o->size)
		sscanf(o->size, "%dx%d", &h, &w);
	if ((rc = decode_all(s, o, parts, &h, &w, &c, &skipped, &nskipped, err)))
		goto out;
	dl_buf_puts(&skipped, "]");
	if (skipped.oom) {
		rc = dl_fail(err, DL_EFAIL, "out of memory");
		goto out;
	}
	if (!parts[1].n || (o->val_out && !parts[0].n)) {
		rc = dl_fail(err, DL_EDATA, "%s: no samples left after skipping %zu bad ones", s->source,
			     nskipped);
		goto out;
	}
	const char *sk = nskipped ? skipped.p : NULL;
	/* both files or neither: each is written completely to its temp, then
	 * both are renamed into place together; an old pair is never lost */
	dl_afile fv = { 0 }, ft = { 0 };
	if ((o->val_out && (rc = prep_write(o->val_out, &fv, parts[0].images, (int)parts[0].n, h, w, c,
					    parts[0].labels, parts[0].targets, s, sk, nskipped, err))) ||
	    (rc = prep_write(o->out, &ft, parts[1].images, (int)parts[1].n, h, w, c, parts[1].labels,
			     parts[1].targets, s, sk, nskipped, err)) ||
	    (rc = o->val_out ? dl_afile_commit_pair(&fv, &ft, err) : dl_afile_commit(&ft, err))) {
		dl_afile_abort(&fv);
		dl_afile_abort(&ft);
		goto out;
	}
	fprintf(stderr, "dl-prep: %s: %zu samples %dx%dx%d", o->out, parts[1].n, h, w, c);
	if (s->has_labels)
		fprintf(stderr, ", %d classes", s->nclasses);
	if (s->ntargets)
		fprintf(stderr, ", %d targets", s->ntargets);
	fprintf(stderr, "\n");
	if (o->val_out)
		fprintf(stderr, "dl-prep: %s: %zu samples (seed %ld)\n", o->val_out, parts[0].n, o->seed);
	if (nskipped)
		fprintf(stderr, "dl-prep: skipped %zu bad samples (--skip-bad)\n", nskipped);
out:
	for (int i = 0; i < 2; i++) {
		free(parts[i].items);
		free(parts[i].images);
		free(parts[i].labels);
		free(parts[i].targets);
	}
	dl_buf_release(&skipped);
	free(sel);
	free(in_val);
	free(perm);
	return rc;
}
