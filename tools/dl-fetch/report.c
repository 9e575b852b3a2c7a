#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

int report_list(FILE *out, const fetch_dataset *ds, size_t n, const char *only, dl_err *err)
{
	for (size_t i = 0; i < n; i++) {
		if (only && strcmp(only, ds[i].name))
			continue;
		for (size_t j = 0; j < ds[i].nfiles; j++) {
			const fetch_file *f = &ds[i].files[j];
			char b[32] = "size unknown";
			if (f->bytes >= 0)
				snprintf(b, sizeof b, "%lld", f->bytes);
			fprintf(out, "%s\t%s\t%s\t%s\t%s%s\t%s\n", ds[i].name, f->name, b,
				f->md5 ? f->md5 : "-", f->sha256 && f->gz ? "gunzipped:" : "",
				f->sha256 ? f->sha256 : "-", f->unpack ? dl_unpack_kind_name(f->unpack) : "-");
		}
	}
	if (fflush(out) != 0 || ferror(out))
		return dl_fail_errno(err, DL_EIO, "stdout: write failed");
	return 0;
}

void report_summary(const char *prog, const fetch_req *rq, const fetch_report *rep)
{
	char line[3072];
	size_t k = 0;
	const char *sep = "";
#define ADD(...) (k += (size_t)snprintf(line + k, k < sizeof line ? sizeof line - k : 0, __VA_ARGS__))
	if (rep->copied) {
		ADD("%scopied %zu file%s from %s", sep, rep->copied, rep->copied == 1 ? "" : "s", rep->copied_from);
		sep = ", ";
	}
	if (rep->downloaded) {
		ADD("%sdownloaded %zu file%s from %s", sep, rep->downloaded, rep->downloaded == 1 ? "" : "s",
		    rep->downloaded_from);
		sep = ", ";
	}
	if (rep->replaced)
		ADD(" (replacing %zu that failed verification)", rep->replaced);
	if (rep->kept) {
		ADD("%s%zu file%s already in %s", sep, rep->kept, rep->kept == 1 ? "" : "s", rq->dir);
		sep = ", ";
	}
	if (!k)
		ADD("nothing to fetch");
	ADD(", verified");
	if (rep->unpacked)
		ADD("; unpacked %zu archive%s", rep->unpacked, rep->unpacked == 1 ? "" : "s");
#undef ADD
	fprintf(stderr, "%s: %s: %s\n", prog, rq->ds->name, line);
}

static const char *how_name(int how)
{
	return how == HOW_KEPT ? "kept" : how == HOW_COPIED ? "copied" : how == HOW_DOWNLOADED ? "downloaded" : "none";
}

int report_json(FILE *out, const fetch_req *rq, const fetch_report *rep, dl_err *err)
{
	dl_buf b;
	dl_buf_init(&b);
	dl_buf_puts(&b, "{\"dataset\": ");
	dl_buf_json_string(&b, rq->ds->name);
	dl_buf_puts(&b, ", \"dir\": ");
	dl_buf_json_string(&b, rq->dir);
	dl_buf_printf(&b, ", \"kept\": %zu, \"copied\": %zu, \"downloaded\": %zu, \"replaced\": %zu, "
		      "\"unpacked\": %zu, \"waited_for_lock\": %s, \"files\": [",
		      rep->kept, rep->copied, rep->downloaded, rep->replaced, rep->unpacked,
		      rep->waited ? "true" : "false");
	const char *sep = "";
	for (size_t i = 0; i < rep->nfiles; i++) {
		const fetch_file_report *fr = &rep->files[i];
		if (!fr->selected)
			continue;
		dl_buf_printf(&b, "%s{\"name\": ", sep);
		dl_buf_json_string(&b, rq->ds->files[i].name);
		dl_buf_puts(&b, ", \"path\": ");
		dl_buf_json_string(&b, fr->path);
		dl_buf_printf(&b, ", \"bytes\": %lld, \"how\": \"%s\"", fr->bytes, how_name(fr->how));
		if (fr->from) {
			dl_buf_puts(&b, ", \"from\": ");
			dl_buf_json_string(&b, fr->from);
		}
		if (fr->how == HOW_DOWNLOADED)
			dl_buf_printf(&b, ", \"attempts\": %d, \"resumed\": %d, \"restarted\": %d",
				      fr->attempts, fr->resumed, fr->restarted);
		if (fr->unpack_path) {
			dl_buf_puts(&b, ", \"unpacked_into\": ");
			dl_buf_json_string(&b, fr->unpack_path);
			if (fr->unpacked_now)
				dl_buf_printf(&b, ", \"entries\": %lld, \"unpacked_bytes\": %lld",
					      fr->entries, fr->unpacked_bytes);
		}
		dl_buf_puts(&b, "}");
		sep = ", ";
	}
	dl_buf_puts(&b, "]}\n");
	int rc = 0;
	if (b.oom)
		rc = dl_fail(err, DL_EFAIL, "out of memory");
	else if (fwrite(b.p, 1, b.len, out) != b.len || fflush(out) != 0 || ferror(out))
		rc = dl_fail_errno(err, DL_EIO, "stdout: write failed");
	dl_buf_release(&b);
	return rc;
}

int report_stream(const char *path, FILE *out, dl_err *err)
{
	FILE *in = fopen(path, "rb");
	if (!in)
		return dl_fail_errno(err, DL_EIO, "%s: cannot open", path);
	char *buf = malloc(1 << 16);
	int rc = buf ? 0 : dl_fail(err, DL_EFAIL, "out of memory");
	size_t n;
	while (!rc && (n = fread(buf, 1, 1 << 16, in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rc = dl_fail_errno(err, DL_EIO, "stdout: write failed");
	if (!rc && ferror(in))
		rc = dl_fail_errno(err, DL_EIO, "%s: read failed", path);
	if (!rc && (fflush(out) != 0 || ferror(out)))
		rc = dl_fail_errno(err, DL_EIO, "stdout: write failed");
	free(buf);
	fclose(in);
	return rc;
}
