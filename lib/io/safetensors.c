/* safetensors reader and writer; see safetensors.h. */
#include "io/safetensors.h"
#include "core/readall.h"

#include "core/afile.h"
#include "core/buf.h"
#include "core/json.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	const char *name;
	size_t size;
} dtypes[DL_DTYPE_COUNT] = {
	[DL_BOOL] = { "BOOL", 1 }, [DL_U8] = { "U8", 1 }, [DL_I8] = { "I8", 1 },
	[DL_I16] = { "I16", 2 }, [DL_U16] = { "U16", 2 }, [DL_F16] = { "F16", 2 },
	[DL_BF16] = { "BF16", 2 }, [DL_I32] = { "I32", 4 }, [DL_U32] = { "U32", 4 },
	[DL_F32] = { "F32", 4 }, [DL_I64] = { "I64", 8 }, [DL_U64] = { "U64", 8 },
	[DL_F64] = { "F64", 8 },
};

size_t dl_dtype_size(dl_dtype t)
{
	return (unsigned)t < DL_DTYPE_COUNT ? dtypes[t].size : 0;
}

const char *dl_dtype_name(dl_dtype t)
{
	return (unsigned)t < DL_DTYPE_COUNT ? dtypes[t].name : "?";
}

int dl_dtype_parse(const char *s, dl_dtype *out)
{
	for (int i = 0; i < DL_DTYPE_COUNT; i++)
		if (!strcmp(s, dtypes[i].name)) {
			*out = (dl_dtype)i;
			return 0;
		}
	return -1;
}

/* ---- reader ---------------------------------------------------------- */

#define BAD(...) dl_fail(err, DL_EDATA, __VA_ARGS__)

/* A name from the file, fit for a one-line message: control bytes become
 * '?', long names are cut. */
typedef struct shown {
	char s[72];
} shown;

static const char *show(shown *o, const char *name)
{
	size_t n = 0;
	for (; *name && n < sizeof o->s - 4; name++)
		o->s[n++] = *name;
	if (*name) {
		memcpy(o->s + n, "...", 3);
		n += 3;
	}
	o->s[n] = '\0';
	return dl_err_oneline(o->s);
}

static int oom(dl_err *err, const char *path)
{
	return dl_fail(err, DL_EFAIL, "%s: out of memory", path);
}


static int read_u64_dims(const dl_json *a, int64_t *shape, int *ndim)
{
	if (!a || a->type != DL_JSON_ARRAY || a->len > DL_ST_MAX_DIMS)
		return -1;
	for (size_t i = 0; i < a->len; i++) {
		long long v;
		if (dl_json_int(&a->items[i], 0, LLONG_MAX, &v) != 0)
			return -1;
		shape[i] = v;
	}
	*ndim = (int)a->len;
	return 0;
}

typedef struct span {
	size_t b, e;
} span;

static int tensor_entry(dl_st_file *f, dl_st_tensor *t, span *sp, const char *key,
			const dl_json *v, size_t datalen, dl_err *err)
{
	const char *path = f->path;
	shown sn, sx;
	const char *name = show(&sn, key);
	if (v->type != DL_JSON_OBJECT)
		return BAD("%s: not a safetensors file: tensor '%s' is not an object", path, name);
	for (size_t i = 0; i < v->len; i++)
		if (strcmp(v->keys[i], "dtype") && strcmp(v->keys[i], "shape") &&
		    strcmp(v->keys[i], "data_offsets"))
			return BAD("%s: not a safetensors file: tensor '%s' has unknown field '%s'",
				   path, name, show(&sx, v->keys[i]));
	const dl_json *dt = dl_json_get(v, "dtype");
	const dl_json *sh = dl_json_get(v, "shape");
	const dl_json *of = dl_json_get(v, "data_offsets");
	if (!dt || !sh || !of)
		return BAD("%s: not a safetensors file: tensor '%s' lacks %s", path, name,
			   !dt ? "dtype" : !sh ? "shape" : "data_offsets");
	if (dt->type != DL_JSON_STRING || dl_dtype_parse(dt->str, &t->dtype) != 0)
		return BAD("%s: not a safetensors file: tensor '%s' has unknown dtype%s%s", path,
			   name, dt->type == DL_JSON_STRING ? " " : "",
			   dt->type == DL_JSON_STRING ? show(&sx, dt->str) : "");
	if (sh->type == DL_JSON_ARRAY && sh->len > DL_ST_MAX_DIMS)
		return BAD("%s: not a safetensors file: tensor '%s' has %zu dimensions (at most %d)",
			   path, name, sh->len, DL_ST_MAX_DIMS);
	if (read_u64_dims(sh, t->shape, &t->ndim) != 0)
		return BAD("%s: not a safetensors file: tensor '%s' has a bad shape "
			   "(expected an array of integers >= 0)", path, name);
	long long b, e;
	if (of->type != DL_JSON_ARRAY || of->len != 2 ||
	    dl_json_int(&of->items[0], 0, LLONG_MAX, &b) != 0 ||
	    dl_json_int(&of->items[1], 0, LLONG_MAX, &e) != 0 || b > e)
		return BAD("%s: not a safetensors file: tensor '%s' has bad data_offsets "
			   "(expected [begin, end] with 0 <= begin <= end)", path, name);
	size_t count = 1, nbytes;
	for (int i = 0; i < t->ndim; i++)
		if (__builtin_mul_overflow(count, (size_t)t->shape[i], &count))
			return BAD("%s: not a safetensors file: tensor '%s': shape product overflows",
				   path, name);
	if (__builtin_mul_overflow(count, dl_dtype_size(t->dtype), &nbytes))
		return BAD("%s: not a safetensors file: tensor '%s': byte size overflows",
			   path, name);
	if ((unsigned long long)e > datalen)
		return BAD("%s: not a safetensors file: tensor '%s': data_offsets [%lld, %lld] "
			   "out of range (data is %zu bytes)", path, name, b, e, datalen);
	if (nbytes != (size_t)(e - b))
		return BAD("%s: not a safetensors file: tensor '%s': shape and dtype need %zu "
			   "bytes but data_offsets span %lld", path, name, nbytes, e - b);
	t->count = count;
	t->nbytes = nbytes;
	sp->b = (size_t)b;
	sp->e = (size_t)e;
	if (!(t->name = strdup(key)))
		return oom(err, path);
	return 0;
}

static int metadata(dl_st_file *f, const dl_json *v, dl_err *err)
{
	shown sk;
	if (v->type != DL_JSON_OBJECT)
		return BAD("%s: not a safetensors file: __metadata__ is not an object", f->path);
	f->meta = calloc(v->len ? v->len : 1, sizeof *f->meta);
	if (!f->meta)
		return oom(err, f->path);
	for (size_t i = 0; i < v->len; i++) {
		if (v->items[i].type != DL_JSON_STRING)
			return BAD("%s: not a safetensors file: metadata '%s' is not a string",
				   f->path, show(&sk, v->keys[i]));
		dl_st_meta *m = &f->meta[f->nmeta++];
		m->key = strdup(v->keys[i]);
		m->value = strdup(v->items[i].str);
		if (!m->key || !m->value)
			return oom(err, f->path);
	}
	return 0;
}

/* Sort order: by data offsets, then by name so ties are deterministic. */
typedef struct order {
	span sp;
	dl_st_tensor t;
} order;

static int cmp_order(const void *pa, const void *pb)
{
	const order *a = pa, *b = pb;
	if (a->sp.b != b->sp.b)
		return a->sp.b < b->sp.b ? -1 : 1;
	if (a->sp.e != b->sp.e)
		return a->sp.e < b->sp.e ? -1 : 1;
	return strcmp(a->t.name, b->t.name);
}

/* Validates f->base[0..f->size) and fills the tensor and metadata tables. */
static int parse(dl_st_file *f, dl_err *err)
{
	const char *path = f->path;
	if (f->size < 8)
		return BAD("%s: not a safetensors file: only %zu bytes", path, f->size);
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | f->base[i];
	if (n > f->size - 8)
		return BAD("%s: not a safetensors file: header length %llu exceeds file size %zu",
			   path, (unsigned long long)n, f->size);
	if (n > DL_ST_MAX_HEADER)
		return BAD("%s: not a safetensors file: header length %llu exceeds the limit of %u",
			   path, (unsigned long long)n, DL_ST_MAX_HEADER);
	if (n < 1 || f->base[8] != '{')
		return BAD("%s: not a safetensors file: header does not start with '{'", path);
	const unsigned char *data = f->base + 8 + n;
	size_t datalen = f->size - 8 - (size_t)n;

	dl_json *root;
	dl_err jerr;
	int rc = dl_json_parse((const char *)f->base + 8, (size_t)n, "header", &root, &jerr);
	if (rc)
		return dl_fail(err, rc, "%s: not a safetensors file: %s", path, jerr.msg);
	if (root->type != DL_JSON_OBJECT) {
		dl_json_free(root);
		return BAD("%s: not a safetensors file: header is not a json object", path);
	}
	order *o = calloc(root->len ? root->len : 1, sizeof *o);
	if (!o) {
		dl_json_free(root);
		return oom(err, path);
	}
	int nt = 0;
	for (size_t i = 0; i < root->len && !rc; i++) {
		if (!strcmp(root->keys[i], "__metadata__"))
			rc = metadata(f, &root->items[i], err);
		else if (!(rc = tensor_entry(f, &o[nt].t, &o[nt].sp, root->keys[i],
					     &root->items[i], datalen, err)))
			nt++;
		else
			free(o[nt].t.name);
	}
	dl_json_free(root);
	if (!rc && nt > 1)
		qsort(o, (size_t)nt, sizeof *o, cmp_order);
	/* the sorted spans must tile [0, datalen) exactly */
	size_t pos = 0;
	shown s1, s2;
	for (int i = 0; i < nt && !rc; i++) {
		if (o[i].sp.b < pos)
			rc = BAD("%s: not a safetensors file: tensor '%s' overlaps tensor '%s'",
				 path, show(&s1, o[i].t.name), show(&s2, o[i - 1].t.name));
		else if (o[i].sp.b > pos)
			rc = BAD("%s: not a safetensors file: gap of %zu bytes before tensor '%s'",
				 path, o[i].sp.b - pos, show(&s1, o[i].t.name));
		pos = o[i].sp.e;
	}
	if (!rc && pos != datalen)
		rc = BAD("%s: not a safetensors file: %zu trailing bytes after the last tensor",
			 path, datalen - pos);
	if (rc) {
		for (int i = 0; i < nt; i++)
			free(o[i].t.name);
		free(o);
		return rc;
	}
	f->tensors = calloc(nt ? (size_t)nt : 1, sizeof *f->tensors);
	if (!f->tensors) {
		for (int i = 0; i < nt; i++)
			free(o[i].t.name);
		free(o);
		return oom(err, path);
	}
	for (int i = 0; i < nt; i++) {
		f->tensors[i] = o[i].t;
		f->tensors[i].data = data + o[i].sp.b;
	}
	f->ntensors = nt;
	free(o);
	return 0;
}

int dl_st_parse(dl_st_file *f, const void *buf, size_t size, const char *name, dl_err *err)
{
	memset(f, 0, sizeof *f);
	f->mapped = -1;
	f->base = buf;
	f->size = size;
	if (!(f->path = strdup(name)))
		return oom(err, name);
	int rc = parse(f, err);
	if (rc)
		dl_st_close(f);
	return rc;
}

int dl_st_open(dl_st_file *f, const char *path, dl_err *err)
{
	memset(f, 0, sizeof *f);
	if (!(f->path = strdup(path)))
		return oom(err, path);
	int rc = 0;
	if (!strcmp(path, "-")) {
		unsigned char *p;
		rc = dl_read_all(0, path, SIZE_MAX, &p, &f->size, err);
		f->base = p;
	} else {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0)
			rc = dl_fail_errno(err, DL_EIO, "%s: cannot open", path);
		else if (fstat(fd, &st) != 0)
			rc = dl_fail_errno(err, DL_EIO, "%s: cannot stat", path);
		else if (S_ISDIR(st.st_mode))
			rc = dl_fail(err, DL_EIO, "%s: is a directory", path);
		else if (!S_ISREG(st.st_mode)) {
			/* pipes and devices (<(cmd), /dev/stdin) cannot be mapped */
			unsigned char *p;
			rc = dl_read_all(fd, path, SIZE_MAX, &p, &f->size, err);
			f->base = p;
		} else if (st.st_size < 8) {
			f->size = (size_t)st.st_size;   /* parse() reports it */
		} else {
			void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
			if (m == MAP_FAILED)
				rc = dl_fail_errno(err, DL_EIO, "%s: cannot map", path);
			else {
				f->base = m;
				f->size = (size_t)st.st_size;
				f->mapped = 1;
			}
		}
		if (fd >= 0)
			close(fd);
	}
	if (!rc)
		rc = parse(f, err);
	if (rc)
		dl_st_close(f);
	return rc;
}

void dl_st_close(dl_st_file *f)
{
	if (f->mapped == 1 && f->base)
		munmap((void *)f->base, f->size);
	else if (f->mapped == 0)
		free((void *)f->base);
	for (int i = 0; i < f->ntensors; i++)
		free(f->tensors[i].name);
	free(f->tensors);
	for (int i = 0; i < f->nmeta; i++) {
		free(f->meta[i].key);
		free(f->meta[i].value);
	}
	free(f->meta);
	free(f->path);
	memset(f, 0, sizeof *f);
}

const dl_st_tensor *dl_st_find(const dl_st_file *f, const char *name)
{
	for (int i = 0; i < f->ntensors; i++)
		if (!strcmp(f->tensors[i].name, name))
			return &f->tensors[i];
	return NULL;
}

const char *dl_st_meta_get(const dl_st_file *f, const char *key)
{
	for (int i = 0; i < f->nmeta; i++)
		if (!strcmp(f->meta[i].key, key))
			return f->meta[i].value;
	return NULL;
}

int dl_st_get(const dl_st_file *f, const char *name, dl_dtype dtype, int ndim,
	      const dl_st_tensor **out, dl_err *err)
{
	const dl_st_tensor *t = dl_st_find(f, name);
	*out = NULL;
	if (!t)
		return BAD("%s: no tensor '%s'", f->path, name);
	if (t->dtype != dtype)
		return BAD("%s: tensor '%s' is %s, expected %s", f->path, name,
			   dl_dtype_name(t->dtype), dl_dtype_name(dtype));
	if (ndim >= 0 && t->ndim != ndim)
		return BAD("%s: tensor '%s' has %d dimensions, expected %d", f->path, name,
			   t->ndim, ndim);
	*out = t;
	return 0;
}

/* ---- writer ---------------------------------------------------------- */

void dl_st_writer_init(dl_st_writer *w)
{
	memset(w, 0, sizeof *w);
}

void dl_st_writer_release(dl_st_writer *w)
{
	for (int i = 0; i < w->n; i++)
		free(w->t[i].name);
	free(w->t);
	for (int i = 0; i < w->nmeta; i++) {
		free(w->meta[i].key);
		free(w->meta[i].value);
	}
	free(w->meta);
	memset(w, 0, sizeof *w);
}

int dl_st_add(dl_st_writer *w, const char *name, dl_dtype dtype, int ndim,
	      const int64_t *shape, const void *data, dl_err *err)
{
	if (!strcmp(name, "__metadata__"))
		return dl_fail(err, DL_EFAIL, "tensor name '__metadata__' is reserved");
	if ((unsigned)dtype >= DL_DTYPE_COUNT)
		return dl_fail(err, DL_EFAIL, "tensor '%s': bad dtype %d", name, (int)dtype);
	if (ndim < 0 || ndim > DL_ST_MAX_DIMS)
		return dl_fail(err, DL_EFAIL, "tensor '%s': rank %d not in 0..%d", name, ndim,
			       DL_ST_MAX_DIMS);
	size_t nbytes = dl_dtype_size(dtype);
	for (int i = 0; i < ndim; i++)
		if (shape[i] < 0 || __builtin_mul_overflow(nbytes, (uint64_t)shape[i], &nbytes))
			return dl_fail(err, DL_EFAIL, "tensor '%s': bad shape", name);
	if (!data && nbytes)
		return dl_fail(err, DL_EFAIL, "tensor '%s': no data", name);
	for (int i = 0; i < w->n; i++)
		if (!strcmp(w->t[i].name, name))
			return dl_fail(err, DL_EFAIL, "duplicate tensor name '%s'", name);
	if (w->n == w->cap) {
		int nc = w->cap ? w->cap * 2 : 16;
		struct dl_st_wtensor *t = realloc(w->t, (size_t)nc * sizeof *t);
		if (!t) {
			w->oom = 1;
			return dl_fail(err, DL_EFAIL, "out of memory");
		}
		w->t = t;
		w->cap = nc;
	}
	struct dl_st_wtensor *t = &w->t[w->n];
	memset(t, 0, sizeof *t);
	if (!(t->name = strdup(name))) {
		w->oom = 1;
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	t->dtype = dtype;
	t->ndim = ndim;
	for (int i = 0; i < ndim; i++)
		t->shape[i] = shape[i];
	t->data = data;
	t->nbytes = nbytes;
	w->n++;
	return 0;
}

int dl_st_add_meta(dl_st_writer *w, const char *key, const char *value, dl_err *err)
{
	for (int i = 0; i < w->nmeta; i++)
		if (!strcmp(w->meta[i].key, key))
			return dl_fail(err, DL_EFAIL, "duplicate metadata key '%s'", key);
	if (w->nmeta == w->metacap) {
		int nc = w->metacap ? w->metacap * 2 : 8;
		dl_st_meta *m = realloc(w->meta, (size_t)nc * sizeof *m);
		if (!m) {
			w->oom = 1;
			return dl_fail(err, DL_EFAIL, "out of memory");
		}
		w->meta = m;
		w->metacap = nc;
	}
	dl_st_meta *m = &w->meta[w->nmeta];
	m->key = strdup(key);
	m->value = strdup(value);
	if (!m->key || !m->value) {
		free(m->key);
		free(m->value);
		w->oom = 1;
		return dl_fail(err, DL_EFAIL, "out of memory");
	}
	w->nmeta++;
	return 0;
}

/* The header JSON, padded with spaces to a multiple of 8 bytes. */
static void build_header(const dl_st_writer *w, dl_buf *h)
{
	dl_buf_puts(h, "{");
	if (w->nmeta) {
		dl_buf_puts(h, "\"__metadata__\":{");
		for (int i = 0; i < w->nmeta; i++) {
			if (i)
				dl_buf_puts(h, ",");
			dl_buf_json_string(h, w->meta[i].key);
			dl_buf_puts(h, ":");
			dl_buf_json_string(h, w->meta[i].value);
		}
		dl_buf_puts(h, "}");
	}
	size_t off = 0;
	for (int i = 0; i < w->n; i++) {
		const struct dl_st_wtensor *t = &w->t[i];
		if (i || w->nmeta)
			dl_buf_puts(h, ",");
		dl_buf_json_string(h, t->name);
		dl_buf_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", dl_dtype_name(t->dtype));
		for (int d = 0; d < t->ndim; d++)
			dl_buf_printf(h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
		dl_buf_printf(h, "],\"data_offsets\":[%zu,%zu]}", off, off + t->nbytes);
		off += t->nbytes;
	}
	dl_buf_puts(h, "}");
	while (h->len % 8 && !h->oom)
		dl_buf_append(h, " ", 1);
}

int dl_st_write(dl_st_writer *w, const char *path, dl_err *err)
{
	dl_afile a;
	int rc = dl_st_write_open(w, path, &a, err);
	return rc ? rc : dl_afile_commit(&a, err);
}

int dl_st_write_open(dl_st_writer *w, const char *path, dl_afile *a, dl_err *err)
{
	memset(a, 0, sizeof *a);
	if (w->oom)
		return dl_fail(err, DL_EFAIL, "%s: out of memory building tensors", path);
	dl_buf h;
	dl_buf_init(&h);
	build_header(w, &h);
	if (h.oom) {
		dl_buf_release(&h);
		return dl_fail(err, DL_EFAIL, "%s: out of memory building header", path);
	}
	/* our own reader must accept what we write (catches names that are
	 * not valid UTF-8, which JSON cannot carry) */
	dl_json *check;
	dl_err jerr;
	if (h.len > DL_ST_MAX_HEADER ||
	    dl_json_parse(h.p, h.len, "header", &check, &jerr) != 0) {
		dl_buf_release(&h);
		return dl_fail(err, DL_EFAIL, "%s: cannot write header: %s", path,
			       h.len > DL_ST_MAX_HEADER ? "too large" : jerr.msg);
	}
	dl_json_free(check);

	int rc = dl_afile_open(a, path, err);
	if (rc) {
		dl_buf_release(&h);
		return rc;
	}
	unsigned char len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
	int ok = fwrite(len8, 1, 8, a->f) == 8 && fwrite(h.p, 1, h.len, a->f) == h.len;
	for (int i = 0; i < w->n && ok; i++)
		ok = w->t[i].nbytes == 0 ||
		     fwrite(w->t[i].data, 1, w->t[i].nbytes, a->f) == w->t[i].nbytes;
	dl_buf_release(&h);
	if (!ok) {
		rc = dl_fail_errno(err, DL_EIO, "%s: write failed", path);
		dl_afile_abort(a);
		return rc;
	}
	return 0;
}
