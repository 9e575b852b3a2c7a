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
	"  or stopped early (resumable checkpoint written), 9 training diverged\n";

static int is_option(const dl_opt *o)
{
	return o->type != DL_OPT_T_SUBCMD;
}

static const dl_opt *find_long(const dl_opt *o, const char *name, size_t len)
{
	for (; o->longname; o++)
		if (is_option(o) && strlen(o->longname) == len && !strncmp(o->longname, name, len))
			return o;
	return NULL;
}

static const dl_opt *find_short(const dl_opt *o, char c)
{
	for (; o->longname; o++)
		if (is_option(o) && o->shortname && o->shortname == c)
			return o;
	return NULL;
}

static const dl_opt *find_sub(const dl_opt *o, const char *name)
{
	for (; o && o->longname; o++)
		if (o->type == DL_OPT_T_SUBCMD && !strcmp(o->longname, name))
			return o;
	return NULL;
}

int dl_opt_choice_value(const dl_opt_choice *t, const char *name, int *value)
{
	for (; t->name; t++)
		if (!strcmp(t->name, name)) {
			*value = t->value;
			return 0;
		}
	return -1;
}

const char *dl_opt_choice_name(const dl_opt_choice *t, int value)
{
	for (; t->name; t++)
		if (t->value == value)
			return t->name;
	return "?";
}

/* Joins up to 64 names as "a, b or c" into buf. */
static void join_names(char *buf, size_t cap, const char *const *v, int n)
{
	size_t k = 0;
	buf[0] = '\0';
	for (int i = 0; i < n && k < cap; i++)
		k += (size_t)snprintf(buf + k, cap - k, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ",
				      v[i]);
}

static void choice_names(const dl_opt_choice *ch, char *buf, size_t cap)
{
	const char *v[64];
	int n = 0;
	for (; ch->name && n < 64; ch++)
		v[n++] = ch->name;
	join_names(buf, cap, v, n);
}

static void sub_names(const dl_opt *o, char *buf, size_t cap)
{
	const char *v[64];
	int n = 0;
	for (; o->longname && n < 64; o++)
		if (o->type == DL_OPT_T_SUBCMD)
			v[n++] = o->longname;
	join_names(buf, cap, v, n);
}

/* "[1, 65536]", "> 0", "at least 1" for o's bounds. */
static void bounds_text(const dl_opt *o, char *buf, size_t cap)
{
	const char *fmt = o->type == DL_OPT_T_INT ? "%.0f" : "%g";
	char lo[48], hi[48];
	snprintf(lo, sizeof lo, fmt, o->lo);
	snprintf(hi, sizeof hi, fmt, o->hi);
	if (o->lo_kind && o->hi_kind)
		snprintf(buf, cap, "in %c%s, %s%c", o->lo_kind == DL_BOUND_INCL ? '[' : '(', lo, hi,
			 o->hi_kind == DL_BOUND_INCL ? ']' : ')');
	else if (o->lo_kind)
		snprintf(buf, cap, "%s %s", o->lo_kind == DL_BOUND_INCL ? "at least" : ">", lo);
	else
		snprintf(buf, cap, "%s %s", o->hi_kind == DL_BOUND_INCL ? "at most" : "<", hi);
}

static int check_bounds(const dl_opt *o, double v, const char *val, dl_err *err)
{
	if ((o->lo_kind == DL_BOUND_INCL && !(v >= o->lo)) ||
	    (o->lo_kind == DL_BOUND_EXCL && !(v > o->lo)) ||
	    (o->hi_kind == DL_BOUND_INCL && !(v <= o->hi)) ||
	    (o->hi_kind == DL_BOUND_EXCL && !(v < o->hi))) {
		char b[128];
		bounds_text(o, b, sizeof b);
		return dl_fail(err, DL_EUSAGE, "--%s must be %s (got %s)", o->longname, b, val);
	}
	return 0;
}

static int set_value(const dl_opt *o, const char *shown, const char *val, dl_err *err)
{
	char *end;
	switch (o->type) {
	case DL_OPT_T_FLAG:
		*(int *)o->dest = 1;
		return 0;
	case DL_OPT_T_INT: {
		errno = 0;
		long v = strtol(val, &end, 10);
		if (!*val || *end || errno)
			return dl_fail(err, DL_EUSAGE, "option %s: '%s' is not an integer", shown, val);
		int rc = check_bounds(o, (double)v, val, err);
		if (!rc)
			*(long *)o->dest = v;
		return rc;
	}
	case DL_OPT_T_FLOAT: {
		errno = 0;
		double v = strtod(val, &end);
		if (!*val || *end || errno || !isfinite(v))
			return dl_fail(err, DL_EUSAGE, "option %s: '%s' is not a number", shown, val);
		int rc = check_bounds(o, v, val, err);
		if (!rc)
			*(double *)o->dest = v;
		return rc;
	}
	case DL_OPT_T_STRING:
		*(const char **)o->dest = val;
		return 0;
	case DL_OPT_T_CHOICE: {
		int v;
		if (dl_opt_choice_value(o->choices, val, &v)) {
			char names[512];
			choice_names(o->choices, names, sizeof names);
			return dl_fail(err, DL_EUSAGE, "--%s '%s': expected %s", o->longname, val, names);
		}
		*(int *)o->dest = v;
		return 0;
	}
	default:
		break;
	}
	return dl_fail(err, DL_EFAIL, "option %s: bad option table", shown);
}

static int takes_value(const dl_opt *o)
{
	return o->type != DL_OPT_T_FLAG;
}

/* One "--name[=value]" argument at argv[*i]. */
static int parse_long(const dl_cmd *cmd, int argc, char **argv, int *i, dl_err *err)
{
	char shown[64];
	const char *name = argv[*i] + 2, *eq = strchr(name, '='), *val = NULL;
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	const dl_opt *o = find_long(cmd->opts, name, len);
	snprintf(shown, sizeof shown, "--%.*s", (int)(len > 40 ? 40 : len), name);
	if (!o)
		return dl_fail(err, DL_EUSAGE, "unknown option '%s'", shown);
	if (eq) {
		if (!takes_value(o))
			return dl_fail(err, DL_EUSAGE, "option %s takes no value", shown);
		val = eq + 1;
	} else if (takes_value(o)) {
		if (*i + 1 >= argc)
			return dl_fail(err, DL_EUSAGE, "option %s needs a value (%s)", shown,
				       o->argname ? o->argname : "VALUE");
		val = argv[++*i];
	}
	return set_value(o, shown, val, err);
}

/* One "-abc" group at argv[*i]: flags, the last of which may take a value
 * (the rest of the group, else the next argument). */
static int parse_short(const dl_cmd *cmd, int argc, char **argv, int *i, dl_err *err)
{
	char shown[8];
	for (const char *p = argv[*i] + 1; *p; p++) {
		const dl_opt *o = find_short(cmd->opts, *p);
		snprintf(shown, sizeof shown, "-%c", *p);
		if (!o)
			return dl_fail(err, DL_EUSAGE, "unknown option '%s'", shown);
		if (!takes_value(o)) {
			int rc = set_value(o, shown, NULL, err);
			if (rc)
				return rc;
			continue;
		}
		const char *val = p[1] ? p + 1 : NULL;
		if (!val) {
			if (*i + 1 >= argc)
				return dl_fail(err, DL_EUSAGE, "option %s needs a value (%s)", shown,
					       o->argname ? o->argname : "VALUE");
			val = argv[++*i];
		}
		return set_value(o, shown, val, err);
	}
	return 0;
}

/* 1 when cmd's table holds subcommands and nothing else: one is required. */
static int subs_only(const dl_cmd *cmd)
{
	int subs = 0;
	for (const dl_opt *o = cmd->opts; o->longname; o++) {
		if (is_option(o))
			return 0;
		subs = 1;
	}
	return subs;
}

int dl_opt_parse(const dl_cmd *cmd, int argc, char **argv, int *what,
		 int *npos, dl_err *err)
{
	int np = 0, only_pos = 0, rc;
	*what = DL_OPT_RUN;
	*npos = 0;
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
		rc = a[1] == '-' ? parse_long(cmd, argc, argv, &i, err)
				 : parse_short(cmd, argc, argv, &i, err);
		if (rc)
			return rc;
	}
	if (subs_only(cmd)) {
		char names[512];
		sub_names(cmd->opts, names, sizeof names);
		if (!np)
			return dl_fail(err, DL_EUSAGE, "missing command (%s)", names);
		return dl_fail(err, DL_EUSAGE, "unknown command '%.200s' (see %s --help)", argv[1],
			       cmd->prog);
	}
	*npos = np;
	return 0;
}

int dl_opt_subcmd(const dl_cmd *cmd, int argc, char **argv, int *code)
{
	const dl_opt *o = argc >= 2 ? find_sub(cmd->opts, argv[1]) : NULL;
	if (!o)
		return 0;
	*code = o->run(argc - 1, argv + 1, o->data);
	return 1;
}

/* Writes text, continuing each '\n' at column indent. */
static void put_indented(FILE *out, const char *text, int indent)
{
	for (const char *p = text; *p; p++) {
		fputc(*p, out);
		if (*p == '\n' && p[1])
			fprintf(out, "%*s", indent, "");
	}
}

void dl_opt_help(const dl_cmd *cmd, FILE *out)
{
	const char *u = cmd->usage;
	int first = 1, nsubs = 0;
	while (*u) {
		const char *nl = strchr(u, '\n');
		size_t len = nl ? (size_t)(nl - u) : strlen(u);
		fprintf(out, "%s%s %.*s\n", first ? "usage: " : "       ", cmd->prog, (int)len, u);
		first = 0;
		u += len + (nl ? 1 : 0);
	}
	fprintf(out, "\n%s\n\noptions:\n", cmd->summary);
	for (const dl_opt *o = cmd->opts; o->longname; o++) {
		if (!is_option(o)) {
			nsubs++;
			continue;
		}
		char left[64];
		int n = 0;
		if (o->shortname)
			n = snprintf(left, sizeof left, "-%c, ", o->shortname);
		else
			n = snprintf(left, sizeof left, "    ");
		snprintf(left + n, sizeof left - (size_t)n, "--%s%s%s", o->longname,
			 o->argname ? " " : "", o->argname ? o->argname : "");
		fprintf(out, "  %-28s ", left);
		put_indented(out, o->help, 31);
		fputc('\n', out);
		if (o->choices) {
			char names[512];
			choice_names(o->choices, names, sizeof names);
			fprintf(out, "%31s%s: %s\n", "", o->argname ? o->argname : "one of", names);
		}
	}
	fprintf(out, "  %-28s %s\n", "-h, --help", "show this help and exit");
	fprintf(out, "  %-28s %s\n", "    --version", "show the version and exit");
	if (nsubs) {
		fprintf(out, "\ncommands:\n");
		for (const dl_opt *o = cmd->opts; o->longname; o++)
			if (!is_option(o))
				fprintf(out, "  %-14s %-16s %s\n", o->longname, o->argname ? o->argname : "",
					o->help);
		fprintf(out, "\nRun '%s COMMAND --help' for a command's options.\n", cmd->prog);
	}
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

void dl_print_version(const char *prog, FILE *out)
{
	fprintf(out, "%s (dl-tools) %s\n", prog, DL_VERSION);
}
