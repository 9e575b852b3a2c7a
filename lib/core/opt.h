/* One option parser for every tool.
 *
 * A command declares its options in a table; the same table parses argv and
 * writes --help.  -h/--help and --version are handled here for every table.
 * Accepted forms: -x VAL, -xVAL, --long VAL, --long=VAL, and `--` to end
 * options.  "-" alone is a positional argument (stdin/stdout).
 */
#ifndef DL_CORE_OPT_H
#define DL_CORE_OPT_H

#include <stdio.h>
#include "core/error.h"

typedef enum {
	DL_OPT_FLAG,    /* int *dest set to 1 */
	DL_OPT_INT,     /* long *dest, decimal, whole string must parse */
	DL_OPT_FLOAT,   /* double *dest, finite */
	DL_OPT_STRING,  /* const char **dest, points into argv */
} dl_opt_type;

typedef struct dl_opt {
	char shortname;        /* 0 for none */
	const char *longname;  /* without the dashes */
	dl_opt_type type;
	void *dest;
	const char *argname;   /* shown in help, e.g. "N"; NULL for flags */
	const char *help;      /* one line */
} dl_opt;

typedef struct dl_cmd {
	const char *prog;      /* "dl-train" */
	const char *usage;     /* lines after "usage: PROG ", '\n'-separated */
	const char *summary;   /* one paragraph */
	const dl_opt *opts;    /* terminated by an entry with longname NULL */
	const char *footer;    /* examples etc., may be NULL */
} dl_cmd;

enum { DL_OPT_RUN = 0, DL_OPT_HELP = 1, DL_OPT_VERSION = 2 };

/* Parses argv[1..argc).  On success returns 0 and sets *what to
 * DL_OPT_RUN, DL_OPT_HELP or DL_OPT_VERSION; positional arguments are moved
 * to the front of argv[1..] in order and counted in *npos.  On a bad
 * command line returns DL_EUSAGE with the message in err. */
int dl_opt_parse(const dl_cmd *cmd, int argc, char **argv, int *what,
		 int *npos, dl_err *err);

void dl_opt_help(const dl_cmd *cmd, FILE *out);

/* What every tool's main() does first: dl_opt_parse, and on -h/--help or
 * --version print to stdout.  Returns DL_OPT_DONE (< 0) when the tool
 * should exit 0 now, 0 to run, or DL_EUSAGE (message in err). */
enum { DL_OPT_DONE = -1 };
int dl_opt_parse_std(const dl_cmd *cmd, int argc, char **argv, int *npos, dl_err *err);

/* The common tail of a tool's main(): print "prog: msg" to stderr (and a
 * hint to --help for usage errors) and return the code to exit with. */
int dl_tool_fail(const char *prog, const dl_err *err);
/* Flushes stdout: 0, or DL_EIO "stdout: write failed: ..." (a full disk, a
 * closed pipe).  Every tool calls it before exiting 0 after printing. */
int dl_stdout_check(dl_err *err);

/* Writes the version line for prog. */
void dl_print_version(const char *prog, FILE *out);

/* The exit-code table, as printed at the end of every --help. */
extern const char dl_exit_code_help[];

#endif
