/* One option parser for every tool, in the manner of git's parse-options.
 *
 * A command declares its options in a table; the same table parses argv,
 * checks values (ranges, choices) and writes --help.  -h/--help and
 * --version are handled here for every table.  Accepted forms: -x VAL,
 * -xVAL, --long VAL, --long=VAL, grouped short options (-qv; -qvo FILE and
 * -qvoFILE when the last one takes a value), and `--` to end options.  "-"
 * alone is a positional argument (stdin/stdout).
 *
 * Table syntax: one macro per entry, DL_OPT_END last.
 *
 *   const dl_opt opts[] = {
 *           DL_OPT_STRING('o', "output", &out, "DIR", "where to write"),
 *           DL_OPT_INT('e', "epochs", &epochs, "N", "passes (default 1)",
 *                      DL_MIN(1), DL_MAX(1000000)),
 *           DL_OPT_FLOAT(0, "momentum", &m, "M", "momentum", DL_MIN(0), DL_BELOW(1)),
 *           DL_OPT_CHOICE(0, "optimizer", &kind, "NAME", optim_choices,
 *                         "update rule (default adam)"),
 *           DL_OPT_FLAG('q', "quiet", &quiet, "no progress lines"),
 *           DL_OPT_SUBCMD("plot", plot_main, NULL, "LOG -o PNG", "training curves"),
 *           DL_OPT_END,
 *   };
 *
 *   DL_OPT_FLAG(short, long, int *, help)
 *   DL_OPT_INT(short, long, long *, argname, help [, bounds])
 *   DL_OPT_FLOAT(short, long, double *, argname, help [, bounds])   finite only
 *   DL_OPT_STRING(short, long, const char **, argname, help)        points into argv
 *   DL_OPT_CHOICE(short, long, int-sized *, argname, choices, help) a name from a
 *       { name, value } table ending in { NULL, 0 }; the value is written to an
 *       int or an enum (checked to be int-sized); --help lists the names
 *   DL_OPT_SUBCMD(name, fn, data, args, help)  see dl_opt_subcmd below
 * short is a char or 0; the dest pointer types are checked at compile time.
 * Bounds, any one lower and one upper: DL_MIN(x) >= x, DL_ABOVE(x) > x,
 * DL_MAX(x) <= x, DL_BELOW(x) < x.  They are checked when the option is
 * given, so a default may lie outside (an "unset" sentinel).
 * Errors (DL_EUSAGE), one line each: "--batch must be in [1, 65536] (got 0)",
 * "--lr must be > 0 (got -1)", "--optimizer 'rmsprop': expected sgd, adam or
 * adamw", "option --epochs: 'two' is not an integer", "unknown option '-x'".
 *
 * An entry in the old positional form { S, L, DL_OPT_T, D, A, H } becomes
 * DL_OPT_T(S, L, D, A, H) (for a flag also drop the NULL argname), and the
 * terminator { 0, NULL, 0, NULL, NULL, NULL } becomes DL_OPT_END
 * (scripts/opt-convert FILE... does both).
 */
#ifndef DL_CORE_OPT_H
#define DL_CORE_OPT_H

#include <stdio.h>
#include "core/error.h"
#include "core/log.h"   /* dl_tool_fail, dl_logger_stderr: the tools' error tail and logger */

typedef enum {
	DL_OPT_T_END = 0,  /* the terminator (longname NULL) */
	DL_OPT_T_FLAG,     /* int *dest set to 1 */
	DL_OPT_T_INT,      /* long *dest, decimal, whole string must parse */
	DL_OPT_T_FLOAT,    /* double *dest, finite */
	DL_OPT_T_STRING,   /* const char **dest, points into argv */
	DL_OPT_T_CHOICE,   /* int *dest = the value of the named choice */
	DL_OPT_T_SUBCMD,   /* a subcommand: longname is its name */
} dl_opt_type;

enum { DL_BOUND_NONE = 0, DL_BOUND_INCL, DL_BOUND_EXCL };

typedef struct dl_opt_choice {
	const char *name;      /* NULL ends the table */
	int value;
} dl_opt_choice;

/* A subcommand: argv[0] is its name; data is the entry's data. */
typedef int (*dl_subcmd_fn)(int argc, char **argv, const void *data);

typedef struct dl_opt {
	char shortname;        /* 0 for none */
	const char *longname;  /* without the dashes; NULL ends the table */
	dl_opt_type type;
	void *dest;
	const char *argname;   /* shown in help, e.g. "N"; NULL for flags */
	const char *help;      /* one line ('\n' continues it, indented) */
	double lo, hi;         /* bounds of INT and FLOAT values ... */
	unsigned char lo_kind, hi_kind;   /* ... DL_BOUND_* */
	const dl_opt_choice *choices;     /* CHOICE */
	dl_subcmd_fn run;      /* SUBCMD */
	const void *data;      /* SUBCMD: passed to run */
} dl_opt;

/* Compile-time checks of dest: a pointer to T, or to something int-sized. */
#define DL_OPT_PTR_(T, d) ((void *)(1 ? (d) : (T *)0))
#define DL_OPT_INTSIZED_(d) ((void *)((d) + 0 * sizeof(char[sizeof *(d) == sizeof(int) ? 1 : -1])))

#define DL_OPT_FLAG(s, l, d, ...)                                                      \
	{ .shortname = (s), .longname = (l), .type = DL_OPT_T_FLAG,                    \
	  .dest = DL_OPT_PTR_(int, d), .help = __VA_ARGS__ }
#define DL_OPT_INT(s, l, d, a, ...)                                                    \
	{ .shortname = (s), .longname = (l), .type = DL_OPT_T_INT,                     \
	  .dest = DL_OPT_PTR_(long, d), .argname = (a), .help = __VA_ARGS__ }
#define DL_OPT_FLOAT(s, l, d, a, ...)                                                  \
	{ .shortname = (s), .longname = (l), .type = DL_OPT_T_FLOAT,                   \
	  .dest = DL_OPT_PTR_(double, d), .argname = (a), .help = __VA_ARGS__ }
#define DL_OPT_STRING(s, l, d, a, ...)                                                 \
	{ .shortname = (s), .longname = (l), .type = DL_OPT_T_STRING,                  \
	  .dest = DL_OPT_PTR_(const char *, d), .argname = (a), .help = __VA_ARGS__ }
#define DL_OPT_CHOICE(s, l, d, a, ch, ...)                                             \
	{ .shortname = (s), .longname = (l), .type = DL_OPT_T_CHOICE,                  \
	  .dest = DL_OPT_INTSIZED_(d), .argname = (a), .choices = (ch), .help = __VA_ARGS__ }
#define DL_OPT_SUBCMD(name, fn, dat, args, ...)                                        \
	{ .longname = (name), .type = DL_OPT_T_SUBCMD, .run = (fn), .data = (dat),     \
	  .argname = (args), .help = __VA_ARGS__ }
#define DL_OPT_END { .longname = NULL }

#define DL_MIN(x) .lo = (x), .lo_kind = DL_BOUND_INCL
#define DL_ABOVE(x) .lo = (x), .lo_kind = DL_BOUND_EXCL
#define DL_MAX(x) .hi = (x), .hi_kind = DL_BOUND_INCL
#define DL_BELOW(x) .hi = (x), .hi_kind = DL_BOUND_EXCL

typedef struct dl_cmd {
	const char *prog;      /* "dl-train" */
	const char *usage;     /* lines after "usage: PROG ", '\n'-separated */
	const char *summary;   /* one paragraph */
	const dl_opt *opts;    /* terminated by DL_OPT_END */
	const char *footer;    /* examples etc., may be NULL */
} dl_cmd;

enum { DL_OPT_RUN = 0, DL_OPT_HELP = 1, DL_OPT_VERSION = 2 };

/* Parses argv[1..argc).  On success returns 0 and sets *what to
 * DL_OPT_RUN, DL_OPT_HELP or DL_OPT_VERSION; positional arguments are moved
 * to the front of argv[1..] in order and counted in *npos.  On a bad
 * command line returns DL_EUSAGE with the message in err.  A table of
 * subcommands only (no options) needs one: then any positional argument
 * is an unknown command, and none is a missing one. */
int dl_opt_parse(const dl_cmd *cmd, int argc, char **argv, int *what,
		 int *npos, dl_err *err);

void dl_opt_help(const dl_cmd *cmd, FILE *out);

/* What every tool's main() does first: dl_opt_parse, and on -h/--help or
 * --version print to stdout.  Returns DL_OPT_DONE (< 0) when the tool
 * should exit 0 now, 0 to run, or DL_EUSAGE (message in err). */
enum { DL_OPT_DONE = -1 };
int dl_opt_parse_std(const dl_cmd *cmd, int argc, char **argv, int *npos, dl_err *err);

/* Subcommands: when argv[1] names a DL_OPT_SUBCMD entry of cmd's table,
 * runs it with argv + 1 (so its argv[0] is its name) and returns 1 with its
 * exit code in *code; otherwise returns 0 (the caller parses cmd itself:
 * its own command, or --help listing the subcommands). */
int dl_opt_subcmd(const dl_cmd *cmd, int argc, char **argv, int *code);

/* The value of choice `name` in table, 0; or -1 when it has none. */
int dl_opt_choice_value(const dl_opt_choice *table, const char *name, int *value);
/* The name of value in table, or "?". */
const char *dl_opt_choice_name(const dl_opt_choice *table, int value);

/* Flushes stdout: 0, or DL_EIO "stdout: write failed: ..." (a full disk, a
 * closed pipe).  Every tool calls it before exiting 0 after printing. */
int dl_stdout_check(dl_err *err);

/* Writes the version line for prog. */
void dl_print_version(const char *prog, FILE *out);

/* The exit-code table, as printed at the end of every --help. */
extern const char dl_exit_code_help[];

#endif
