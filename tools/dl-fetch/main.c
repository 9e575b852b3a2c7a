/* dl-fetch: put a dataset's files into a directory, verified, unpacked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/guard.h"
#include "core/opt.h"
#include "io/http.h"
#include "fetch.h"
#include "manifest.h"
#include "registry.h"
#include "report.h"

static const char prog[] = "dl-fetch";

typedef struct args {
	const char *dir, *from, *url, *mirror, *manifest, *cache, *output;
	int offline, no_local, no_unpack, do_list, json, quiet, verbose;
	long retries, connect_timeout, stall_timeout, max_size, max_unpack, max_entries;
} args;

static const char footer_text[] =
	"\nsources, in order (the first that has a verified file wins):\n"
	"  1. --from SRCDIR if given, and then nothing else;\n"
	"  2. the packaged copy ($DL_FETCH_LOCAL_DIR overrides its path; set it\n"
	"     empty or use --no-local to skip it);\n"
	"  3. the cache's copy (CACHE/DATASET) when -d names another folder;\n"
	"  4. unless --offline: MIRROR/DATASET/FILE (--mirror or $DL_MIRROR), then\n"
	"     --url BASE + FILE, or the dataset's own URLs.\n"
	"DIR defaults to CACHE/DATASET; CACHE is --cache, else $XDG_CACHE_HOME/dl-tools,\n"
	"else ~/.cache/dl-tools.  Files are checked by md5 or sha256; those already in\n"
	"DIR are checked again and kept, bad ones replaced.  Downloads go to FILE.part\n"
	"(resumed after a dropped connection or a killed run) and are renamed into\n"
	"place only when verified.  Archives (tar, tar.gz, zip, gz) are then unpacked\n"
	"into DIR/<name without extension>, whole or not at all.  Two dl-fetch runs\n"
	"into one DIR take turns; the second finds the work done.\n"
	"Retries: timeouts, dropped connections, HTTP 429 and 5xx, with exponential\n"
	"backoff from $DL_FETCH_BACKOFF_MS (default 1000) ms; Retry-After honoured.\n"
	"--list columns: dataset, file, size in bytes, md5, sha256, unpack.\n"
	"\nexamples:\n"
	"  dl-fetch fashion-mnist -d data/raw\n"
	"  dl-fetch cifar-10 --json\n"
	"  dl-fetch -f data.manifest my-images -d data/my-images\n"
	"  dl-fetch cifar-10 -o - | dl-prep ...\n"
	"  dl-fetch --list\n"
	"\nfetch failures: 3 bad manifest or a hostile/corrupt archive, 4 a source lacks\n"
	"  a file or none is available (--offline), 5 download failed, 6 a file failed\n"
	"  verification.\n";

/* CACHE/NAME, or NULL when there is no cache folder to use (caller frees). */
static char *cache_for(const args *a, const char *name)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *s = NULL;
	int r = -1;
	if (a->cache)
		r = asprintf(&s, "%s/%s", a->cache, name);
	else if (xdg && xdg[0] == '/')
		r = asprintf(&s, "%s/dl-tools/%s", xdg, name);
	else if (home && *home)
		r = asprintf(&s, "%s/.cache/dl-tools/%s", home, name);
	return r < 0 ? NULL : s;
}

/* Checks the command line once the dataset is known. */
static int check_args(const args *a, const fetch_dataset *ds, const char *file, dl_err *err)
{
	if (a->from && a->url)
		return dl_fail(err, DL_EUSAGE, "--from and --url exclude each other (--from uses only SRCDIR)");
	if (a->url && a->offline)
		return dl_fail(err, DL_EUSAGE, "--url and --offline exclude each other");
	if (a->url && !dl_http_url_ok(a->url) && !dl_http_url_is_file(a->url))
		return dl_fail(err, DL_EUSAGE, "--url '%s': only http://, https:// and file:// are supported", a->url);
	if (a->mirror && *a->mirror && !dl_http_url_ok(a->mirror) && !dl_http_url_is_file(a->mirror))
		return dl_fail(err, DL_EUSAGE, "mirror '%s': only http://, https:// and file:// are supported",
			       a->mirror);
	if (a->from && !*a->from)
		return dl_fail(err, DL_EUSAGE, "--from needs a directory");
	if (a->dir && !*a->dir)
		return dl_fail(err, DL_EUSAGE, "-d needs a directory");
	if (a->output && strcmp(a->output, "-"))
		return dl_fail(err, DL_EUSAGE, "-o: only '-' (stdout) is supported; use -d DIR for a folder");
	if (a->output && a->json)
		return dl_fail(err, DL_EUSAGE, "-o - and --json both want stdout");
	if (file && !a->output)
		return dl_fail(err, DL_EUSAGE, "a FILE argument goes with -o -");
	if (a->output && !file && ds->nfiles != 1)
		return dl_fail(err, DL_EUSAGE, "-o -: %s has %zu files; name one (dl-fetch %s FILE -o -)",
			       ds->name, ds->nfiles, ds->name);
	if (file) {
		size_t i = 0;
		while (i < ds->nfiles && strcmp(ds->files[i].name, file))
			i++;
		if (i == ds->nfiles)
			return dl_fail(err, DL_EUSAGE, "%s has no file '%s' (see dl-fetch --list %s)", ds->name, file,
				       ds->name);
	}
	return 0;
}

static void setup_http(const args *a, fetch_req *rq)
{
	dl_http_opts_default(&rq->http);
	rq->http.retries = (int)a->retries;
	rq->http.connect_timeout_s = a->connect_timeout;
	rq->http.low_speed_time_s = a->stall_timeout;
	const char *b = getenv("DL_FETCH_BACKOFF_MS");
	if (b && *b) {
		char *end;
		long ms = strtol(b, &end, 10);
		if (!*end && ms >= 0)
			rq->http.backoff_ms = ms;
	}
	if (!a->quiet)
		rq->http.log = dl_logger_stderr(prog);
	rq->unknown_cap = a->max_size;
	rq->unpack_opts.max_bytes = a->max_unpack;
	rq->unpack_opts.max_entries = a->max_entries;
}

/* Outputs never destroy inputs: DIR/NAME may be neither the manifest nor
 * the --from copy it is made from (a bad copy would be deleted). */
static int check_io(const args *a, const fetch_dataset *ds, const char *dir, dl_err *err)
{
	int rc = 0;
	for (size_t i = 0; i < ds->nfiles && !rc; i++) {
		char *out = NULL, *src = NULL;
		if (asprintf(&out, "%s/%s", dir, ds->files[i].name) < 0 ||
		    (a->from && asprintf(&src, "%s/%s", a->from, ds->files[i].name) < 0)) {
			free(out);
			return dl_fail(err, DL_EFAIL, "out of memory");
		}
		const dl_iofile in[] = { { "-f", a->manifest }, { "--from", src } };
		const dl_iofile o[] = { { "-d", out } };
		rc = dl_io_check(in, 2, o, 1, err);
		free(out);
		free(src);
	}
	return rc;
}

static int run(args *a, const fetch_dataset *ds, const char *file, dl_err *err)
{
	int rc = check_args(a, ds, file, err);
	if (rc)
		return rc;
	char *cache = cache_for(a, ds->name);
	if (!a->dir && !cache)
		return dl_fail(err, DL_EUSAGE, "no -d DIR, and no cache folder (set HOME, XDG_CACHE_HOME or --cache)");
	const char *dir = a->dir ? a->dir : cache;
	const char *local = ds->local_dir;
	const char *env = getenv("DL_FETCH_LOCAL_DIR");
	if (env)
		local = env;
	if (a->no_local || a->from)
		local = NULL;
	const char *mirror = a->mirror ? a->mirror : getenv("DL_MIRROR");
	progress bar;
	fetch_req rq;
	memset(&rq, 0, sizeof rq);
	rq.ds = ds;
	rq.dir = dir;
	rq.only = a->output ? (file ? file : ds->files[0].name) : NULL;
	rq.from = a->from;
	rq.local_dir = local;
	rq.cache_dir = a->dir && cache && strcmp(cache, a->dir) ? cache : NULL;
	rq.mirror = mirror && *mirror ? mirror : NULL;
	rq.base_url = a->url;
	rq.offline = a->offline;
	rq.unpack = !a->no_unpack && !a->output;
	rq.bar = !a->quiet && isatty(STDERR_FILENO) ? &bar : NULL;
	rq.log = a->verbose ? stderr : NULL;
	rq.prog = prog;
	setup_http(a, &rq);
	fetch_report rep;
	memset(&rep, 0, sizeof rep);
	/* temps (DIR/NAME.tmp.PID.*: copies, unpacked trees) go on a signal;
	 * NAME.part stays for the next run to resume */
	dl_guard g;
	int use_net = !a->offline && !a->from;
	if ((rc = check_io(a, ds, dir, err)) || (rc = dl_guard_start(&g, DL_GUARD_DIE, err)) ||
	    (rc = dl_guard_output(&g, dir, 1, err))) {
		dl_guard_end(&g);
		free(cache);
		return rc;
	}
	rc = use_net ? dl_http_global_init(err) : 0;
	if (!rc)
		rc = fetch_run(&rq, &rep, err);
	if (use_net)
		dl_http_global_cleanup();
	if (!rc && !a->quiet)
		report_summary(prog, &rq, &rep);
	if (!rc && a->json)
		rc = report_json(stdout, &rq, &rep, err);
	for (size_t i = 0; !rc && a->output && i < rep.nfiles; i++)
		if (rep.files[i].selected)
			rc = report_stream(rep.files[i].path, stdout, err);
	fetch_report_release(&rep);
	dl_guard_end(&g);
	free(cache);
	return rc;
}

int main(int argc, char **argv)
{
	args a = { .retries = 5, .connect_timeout = 30, .stall_timeout = 60, .max_size = 64L << 30,
		   .max_unpack = 64L << 30, .max_entries = 1000000 };
	const dl_opt opts[] = {
		DL_OPT_STRING('d', "dir", &a.dir, "DIR", "put the files in DIR (created if needed; default CACHE/DATASET)"),
		DL_OPT_STRING('f', "manifest", &a.manifest, "FILE", "datasets from this manifest instead of the registry"),
		DL_OPT_STRING('o', "output", &a.output, "-", "stream the verified file to stdout (no unpacking)"),
		DL_OPT_STRING(0, "cache", &a.cache, "CACHE", "the cache folder (default $XDG_CACHE_HOME/dl-tools)"),
		DL_OPT_STRING(0, "from", &a.from, "SRCDIR", "copy from SRCDIR only (no local copy, no network)"),
		DL_OPT_STRING(0, "mirror", &a.mirror, "URL", "try URL/DATASET/FILE first (default $DL_MIRROR)"),
		DL_OPT_STRING(0, "url", &a.url, "BASE", "download from BASE + file name instead of the dataset's URLs"),
		DL_OPT_FLAG(0, "offline", &a.offline, "never use the network (fail at once unless cached)"),
		DL_OPT_FLAG(0, "no-local", &a.no_local, "skip the packaged local copy (download instead)"),
		DL_OPT_FLAG(0, "no-unpack", &a.no_unpack, "keep archives packed"),
		DL_OPT_INT(0, "retries", &a.retries, "N", "retries after a timeout, a drop, 429 or 5xx (default 5)", DL_MIN(0), DL_MAX(100)),
		DL_OPT_INT(0, "connect-timeout", &a.connect_timeout, "S", "give up connecting after S seconds (default 30)", DL_MIN(1)),
		DL_OPT_INT(0, "stall-timeout", &a.stall_timeout, "S", "abort below 1 KB/s for S seconds (default 60)", DL_MIN(1)),
		DL_OPT_INT(0, "max-size", &a.max_size, "BYTES", "cap on a download of unknown size (default 64 GiB)", DL_MIN(1)),
		DL_OPT_INT(0, "max-unpack", &a.max_unpack, "BYTES", "cap on an archive's unpacked bytes (default 64 GiB)", DL_MIN(1)),
		DL_OPT_INT(0, "max-entries", &a.max_entries, "N", "cap on an archive's entries (default 1000000)", DL_MIN(1)),
		DL_OPT_FLAG(0, "json", &a.json, "a JSON summary on stdout"),
		DL_OPT_FLAG(0, "list", &a.do_list, "print the datasets' files as TSV on stdout and exit"),
		DL_OPT_FLAG('q', "quiet", &a.quiet, "no summary, progress or retry lines; errors only"),
		DL_OPT_FLAG('v', "verbose", &a.verbose, "a line per file and per failed source on stderr"),
		DL_OPT_END,
	};
	dl_err err = { 0, "" };
	fetch_manifest man;
	memset(&man, 0, sizeof man);
	/* the footer lists the registry, so --help never goes stale */
	char footer[8192];
	size_t k = 0, nreg;
	const fetch_dataset *reg = fetch_registry(&nreg);
	k += (size_t)snprintf(footer + k, sizeof footer - k, "datasets:\n");
	for (size_t i = 0; i < nreg && k < sizeof footer; i++) {
		k += (size_t)snprintf(footer + k, sizeof footer - k, "  %-14s %s\n", reg[i].name, reg[i].summary);
		if (reg[i].local_dir && k < sizeof footer)
			k += (size_t)snprintf(footer + k, sizeof footer - k, "    packaged copy: %s (Debian %s)\n",
					      reg[i].local_dir, reg[i].local_pkg ? reg[i].local_pkg : "-");
		if (k < sizeof footer)
			k += (size_t)snprintf(footer + k, sizeof footer - k, "    download: %s\n",
					      reg[i].base_urls && reg[i].base_urls[0] ? reg[i].base_urls[0] : "none");
	}
	if (k < sizeof footer)
		snprintf(footer + k, sizeof footer - k, "%s", footer_text);
	const dl_cmd cmd = {
		prog,
		"DATASET [-d DIR] [--from SRCDIR | --url BASE] [--mirror URL] [--offline] [--json]\n"
		"DATASET [FILE] -o -\n"
		"-f MANIFEST DATASET [-d DIR] ...\n"
		"--list [DATASET] [-f MANIFEST]",
		"Put a dataset's files into DIR, copied from a local copy or downloaded,\n"
		"verify every file by checksum and unpack its archives safely.  Nothing is\n"
		"written to stdout except by --list, --json and -o -.",
		opts, footer,
	};
	int npos = 0;
	int rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err);
	if (rc == DL_OPT_DONE)
		return fflush(stdout) || ferror(stdout) ? DL_EIO : 0;
	if (rc)
		return dl_tool_fail(prog, &err);
	if (a.manifest && fetch_manifest_load(a.manifest, &man, &err))
		return dl_tool_fail(prog, &err);
	const fetch_dataset *all = a.manifest ? man.ds : reg;
	size_t nall = a.manifest ? man.n : nreg;
	const fetch_dataset *ds = NULL;
	const char *hint = a.manifest ? a.manifest : "dl-fetch --list";
	if (a.do_list) {
		if (npos > 1)
			rc = dl_fail(&err, DL_EUSAGE, "--list takes at most one dataset, got %d arguments", npos);
		else if (npos && !(a.manifest ? fetch_manifest_find(&man, argv[1]) : fetch_find(argv[1])))
			rc = dl_fail(&err, DL_EUSAGE, "unknown dataset '%s' (see %s)", argv[1], hint);
		else
			rc = report_list(stdout, all, nall, npos ? argv[1] : NULL, &err);
	} else if (npos == 0) {
		rc = dl_fail(&err, DL_EUSAGE, "missing the dataset name (see %s)", hint);
	} else if (npos > 2) {
		rc = dl_fail(&err, DL_EUSAGE, "expected a dataset and at most one file, got %d arguments", npos);
	} else if (!(ds = a.manifest ? fetch_manifest_find(&man, argv[1]) : fetch_find(argv[1]))) {
		rc = dl_fail(&err, DL_EUSAGE, "unknown dataset '%s' (see %s)", argv[1], hint);
	} else {
		rc = run(&a, ds, npos == 2 ? argv[2] : NULL, &err);
	}
	fetch_manifest_release(&man);
	return rc ? dl_tool_fail(prog, &err) : 0;
}
