#include "core/opt.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef DL_VERSION
#define DL_VERSION "0.1.0"
#endif

const char dl_exit_code_help[] =
	"exit codes: 0 ok, 1 failure, 2 usage, 3 bad input data, 4 i/o error,\n"
	"  5 network, 6 checksum mismatch, 7 quality gate failed, 8 interrupted\n"
	"  (resumable checkpoint written), 9 training diverged\n";

static const dl_opt *find_long(const dl_opt *o, const char *name, size_t len)
{
	for (; o->longname; o++)
		if (strlen(o->longname) == len && !strncmp(o->longname, name, len))
			return o;
	return NULL;
}

static const dl_opt *find_short(const dl_opt *o, char c)
{
	for (; o->longname; o++)
		if (o->shortname && o->shortname == c)
			return o;
	return NULL;
}

static int set_value(const dl_opt *o, const char *shown, const char *val, dl_err *err)
{
	char *end;
	switch (o->type) {
	case DL_OPT_FLAG:
		*(int *)o->dest = 1;
		return 0;
	case DL_OPT_INT: {
		errno = 0;
		long v = strtol(val, &end, 10);
		if (!*val || *end || errno)
			return dl_fail(err, DL_EUSAGE, "option %s: '%s' is not an integer", shown, val);
		*(long *)o->dest = v;
		return 0;
	}
	case DL_OPT_FLOAT: {
		errno = 0;
		double v = strtod(val, &end);
		if (!*val || *end || errno || !isfinite(v))
			return dl_fail(err, DL_EUSAGE, "option %s: '%s' is not a number", shown, val);
		*(double *)o->dest = v;
		return 0;
	}
	case DL_OPT_STRING:
		*(const char **)o->dest = val;
		return 0;
	}
	return dl_fail(err, DL_EFAIL, "option %s: bad option table", shown);
}

int dl_opt_parse(const dl_cmd *cmd, int argc, char **argv, int *what,
		 int *npos, dl_err *err)
{
	int np = 0, only_pos = 0;
	char shown[64];
	*what = DL_OPT_RUN;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (only_pos || a[0] != '-' || !strcmp(a, "-")) {
			argv[1 + np++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_pos = 1;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			*what = DL_OPT_HELP;
			return 0;
		}
		if (!strcmp(a, "--version")) {
			*what = DL_OPT_VERSION;
			return 0;
		}
		const dl_opt *o;
		const char *val = NULL;
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			o = find_long(cmd->opts, name, len);
			snprintf(shown, sizeof shown, "--%.*s", (int)(len > 40 ? 40 : len), name);
			if (!o)
				return dl_fail(err, DL_EUSAGE, "unknown option '%s'", shown);
			if (eq) {
				if (o->type == DL_OPT_FLAG)
					return dl_fail(err, DL_EUSAGE, "option %s takes no value", shown);
				val = eq + 1;
			}
		} else {
			o = find_short(cmd->opts, a[1]);
			snprintf(shown, sizeof shown, "-%c", a[1]);
			if (!o)
				return dl_fail(err, DL_EUSAGE, "unknown option '%s'", shown);
			if (a[2]) {
				if (o->type == DL_OPT_FLAG)
					return dl_fail(err, DL_EUSAGE, "option %s takes no value (got '%s')", shown, a);
				val = a + 2;
			}
		}
		if (o->type != DL_OPT_FLAG && !val) {
			if (i + 1 >= argc)
				return dl_fail(err, DL_EUSAGE, "option %s needs a value (%s)", shown,
					       o->argname ? o->argname : "VALUE");
			val = argv[++i];
		}
		int rc = set_value(o, shown, val, err);
		if (rc)
			return rc;
	}
	*npos = np;
	return 0;
}

void dl_opt_help(const dl_cmd *cmd, FILE *out)
{
	const char *u = cmd->usage;
	int first = 1;
	while (*u) {
		const char *nl = strchr(u, '\n');
		size_t len = nl ? (size_t)(nl - u) : strlen(u);
		fprintf(out, "%s%s %.*s\n", first ? "usage: " : "       ", cmd->prog, (int)len, u);
		first = 0;
		u += len + (nl ? 1 : 0);
	}
	fprintf(out, "\n%s\n\noptions:\n", cmd->summary);
	for (const dl_opt *o = cmd->opts; o->longname; o++) {
		char left[64];
		int n = 0;
		if (o->shortname)
			n = snprintf(left, sizeof left, "-%c, ", o->shortname);
		else
			n = snprintf(left, sizeof left, "    ");
		snprintf(left + n, sizeof left - (size_t)n, "--%s%s%s", o->longname,
			 o->argname ? " " : "", o->argname ? o->argname : "");
		fprintf(out, "  %-28s %s\n", left, o->help);
	}
	fprintf(out, "  %-28s %s\n", "-h, --help", "show this help and exit");
	fprintf(out, "  %-28s %s\n", "    --version", "show the version and exit");
	if (cmd->footer)
		fprintf(out, "\n%s", cmd->footer);
	fprintf(out, "\n%s", dl_exit_code_help);
}

int dl_opt_parse_std(const dl_cmd *cmd, int argc, char **argv, int *npos, dl_err *err)
{
	int what, rc = dl_opt_parse(cmd, argc, argv, &what, npos, err);
	if (rc)
		return rc;
	if (what == DL_OPT_HELP) {
		dl_opt_help(cmd, stdout);
		return dl_stdout_check(err) ? DL_EIO : DL_OPT_DONE;
	}
	if (what == DL_OPT_VERSION) {
		/* "dl-prep idx" -> "dl-prep" */
		char prog[64];
		snprintf(prog, sizeof prog, "%s", cmd->prog);
		prog[strcspn(prog, " ")] = '\0';
		dl_print_version(prog, stdout);
		return dl_stdout_check(err) ? DL_EIO : DL_OPT_DONE;
	}
	return 0;
}

int dl_stdout_check(dl_err *err)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		return dl_fail_errno(err, DL_EIO, "stdout: write failed");
	return 0;
}

int dl_tool_fail(const char *prog, const dl_err *err)
{
	int code = err->code ? err->code : DL_EFAIL;
	fprintf(stderr, "%s: %s\n", prog, err->msg[0] ? err->msg : dl_code_name(code));
	if (code == DL_EUSAGE)
		fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	return code;
}

void dl_print_version(const char *prog, FILE *out)
{
	fprintf(out, "%s (dl-tools) %s\n", prog, DL_VERSION);
}
