/* dl-fetch: put a dataset's files into a directory, verified. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/opt.h"
#include "io/http.h"
#include "fetch.h"
#include "registry.h"

static const char prog[] = "dl-fetch";

/* --list: one TSV line per file: dataset, file, upstream bytes, content
 * bytes, content sha256 ("-" where unknown). */
static int list(const char *only, dl_err *err)
{
	size_t n;
	const fetch_dataset *r = fetch_registry(&n);
	if (only && !fetch_find(only))
		return dl_fail(err, DL_EUSAGE, "unknown dataset '%s' (see dl-fetch --list)", only);
	for (size_t i = 0; i < n; i++) {
		if (only && strcmp(only, r[i].name))
			continue;
		for (size_t j = 0; j < r[i].nfiles; j++) {
			const fetch_file *f = &r[i].files[j];
			char b[32] = "-", c[32] = "-";
			if (f->bytes >= 0)
				snprintf(b, sizeof b, "%lld", f->bytes);
			if (f->content_bytes >= 0)
				snprintf(c, sizeof c, "%lld", f->content_bytes);
			printf("%s\t%s\t%s\t%s\t%s\n", r[i].name, f->name, b, c, f->sha256);
		}
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		return dl_fail_errno(err, DL_EIO, "stdout: write failed");
	return 0;
}

/* "copied 4 files from X, verified" and the like, for stderr. */
static void summary(const fetch_req *rq, const fetch_report *rep)
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
	if (rep->kept)
		ADD("%s%zu file%s already in %s", sep, rep->kept, rep->kept == 1 ? "" : "s", rq->dir);
#undef ADD
	fprintf(stderr, "%s: %s: %s, verified\n", prog, rq->ds->name, line);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *from = NULL, *url = NULL;
	int offline = 0, no_local = 0, do_list = 0, quiet = 0, verbose = 0;
	const dl_opt opts[] = {
		{ 'd', "dir", DL_OPT_STRING, &dir, "DIR", "put the files in DIR (created if needed; required)" },
		{ 0, "from", DL_OPT_STRING, &from, "SRCDIR", "copy from SRCDIR only (no local copy, no network)" },
		{ 0, "url", DL_OPT_STRING, &url, "BASE", "download from BASE + file name instead of the registry's URL" },
		{ 0, "offline", DL_OPT_FLAG, &offline, NULL, "never use the network" },
		{ 0, "no-local", DL_OPT_FLAG, &no_local, NULL, "skip the packaged local copy (download instead)" },
		{ 0, "list", DL_OPT_FLAG, &do_list, NULL, "print the registry as TSV on stdout and exit" },
		{ 'q', "quiet", DL_OPT_FLAG, &quiet, NULL, "no summary line on stderr, errors only" },
		{ 'v', "verbose", DL_OPT_FLAG, &verbose, NULL, "a line per file and per failed source on stderr" },
		{ 0, NULL, 0, NULL, NULL, NULL },
	};
	/* the footer lists the registry, so --help never goes stale */
	char footer[4096];
	size_t k = 0, nds;
	const fetch_dataset *reg = fetch_registry(&nds);
	k += (size_t)snprintf(footer + k, sizeof footer - k, "datasets:\n");
	for (size_t i = 0; i < nds && k < sizeof footer; i++)
		k += (size_t)snprintf(footer + k, sizeof footer - k,
				      "  %-15s %s\n    packaged copy: %s (Debian %s)\n    download: %s\n",
				      reg[i].name, reg[i].summary, reg[i].local_dir ? reg[i].local_dir : "none",
				      reg[i].local_pkg ? reg[i].local_pkg : "-",
				      reg[i].base_urls && reg[i].base_urls[0] ? reg[i].base_urls[0] : "none");
	if (k < sizeof footer)
		snprintf(footer + k, sizeof footer - k,
		"\nsources, in order (the first that has a verified file wins):\n"
		"  1. --from SRCDIR if given, and then nothing else;\n"
		"  2. the packaged copy ($DL_FETCH_LOCAL_DIR overrides its path; set it\n"
		"     empty or use --no-local to skip it);\n"
		"  3. the dataset's download URL, or --url BASE (not with --offline).\n"
		"Files go to DIR under their upstream names.  Each is checked by the\n"
		"sha256 of its gunzipped content (or upstream's md5 of the .gz); files\n"
		"already in DIR are checked again and kept, bad ones replaced.  Files\n"
		"appear only when all are verified: a failed run adds nothing to DIR.\n"
		"--list columns: dataset, file, upstream bytes, content bytes, content sha256.\n"
		"\nexamples:\n"
		"  dl-fetch fashion-mnist -d data/raw\n"
		"  dl-fetch fashion-mnist -d data/raw --offline\n"
		"  dl-fetch fashion-mnist -d data/raw --from ~/Downloads/fashion-mnist\n"
		"  dl-fetch --list\n"
		"\nfetch failures: 4 a source lacks a file or none is available (--offline),\n"
		"  5 download failed, 6 a file failed verification.\n");
	const dl_cmd cmd = {
		prog,
		"DATASET -d DIR [--from SRCDIR | --url BASE] [--offline]\n"
		"--list [DATASET]",
		"Put a dataset's files into DIR, copied from a local copy or downloaded,\n"
		"and verify every file by checksum.  Nothing is written to stdout except by --list.",
		opts, footer,
	};
	dl_err err = { 0, "" };
	int what, npos = 0;
	if (dl_opt_parse(&cmd, argc, argv, &what, &npos, &err))
		return dl_tool_fail(prog, &err);
	if (what == DL_OPT_HELP) {
		dl_opt_help(&cmd, stdout);
		return fflush(stdout) || ferror(stdout) ? DL_EIO : 0;
	}
	if (what == DL_OPT_VERSION) {
		dl_print_version(prog, stdout);
		return fflush(stdout) || ferror(stdout) ? DL_EIO : 0;
	}
	if (do_list) {
		if (npos > 1)
			dl_fail(&err, DL_EUSAGE, "--list takes at most one dataset, got %d arguments", npos);
		else
			list(npos ? argv[1] : NULL, &err);
		return err.code ? dl_tool_fail(prog, &err) : 0;
	}

	const fetch_dataset *ds = NULL;
	if (npos == 0)
		dl_fail(&err, DL_EUSAGE, "missing the dataset name (see dl-fetch --list)");
	else if (npos > 1)
		dl_fail(&err, DL_EUSAGE, "expected one dataset, got %d arguments", npos);
	else if (!(ds = fetch_find(argv[1])))
		dl_fail(&err, DL_EUSAGE, "unknown dataset '%s' (see dl-fetch --list)", argv[1]);
	else if (!dir || !*dir)
		dl_fail(&err, DL_EUSAGE, "missing -d DIR (where to put the files)");
	else if (from && url)
		dl_fail(&err, DL_EUSAGE, "--from and --url exclude each other (--from uses only SRCDIR)");
	else if (url && offline)
		dl_fail(&err, DL_EUSAGE, "--url and --offline exclude each other");
	else if (url && !dl_http_url_ok(url))
		dl_fail(&err, DL_EUSAGE, "--url '%s': only http:// and https:// are supported", url);
	else if (from && !*from)
		dl_fail(&err, DL_EUSAGE, "--from needs a directory");
	if (err.code)
		return dl_tool_fail(prog, &err);

	const char *local = ds->local_dir;
	const char *env = getenv("DL_FETCH_LOCAL_DIR");
	if (env)
		local = env;
	if (no_local || from)
		local = NULL;
	fetch_req rq = { ds, dir, from, local, url, offline, verbose ? stderr : NULL, prog };
	fetch_report rep;
	int use_net = !offline && !from;
	if (use_net && dl_http_global_init(&err))
		return dl_tool_fail(prog, &err);
	int rc = fetch_run(&rq, &rep, &err);
	if (use_net)
		dl_http_global_cleanup();
	if (rc)
		return dl_tool_fail(prog, &err);
	if (!quiet)
		summary(&rq, &rep);
	return 0;
}
