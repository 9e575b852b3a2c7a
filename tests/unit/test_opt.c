/* The option parser (lib/core/opt.c): forms, grouping, ranges, choices,
 * subcommands, errors and the help text. */
#include "test.h"

#include "core/opt.h"

#include <stdlib.h>

typedef struct vals {
	int quiet, verbose, kind;
	long n, big;
	double f, g;
	const char *out;
} vals;

static const dl_opt_choice kinds[] = { { "sgd", 0 }, { "adam", 1 }, { "adamw", 7 }, { NULL, 0 } };

/* Parses the words of line (space-separated, at most 15) with a fixed
 * table over v; returns the parser's code, *what and the positionals. */
static int run(const char *line, vals *v, int *what, int *npos, char **pos, dl_err *err)
{
	static char buf[512];
	char *argv[16] = { "prog" };
	int argc = 1;
	snprintf(buf, sizeof buf, "%s", line);
	for (char *p = strtok(buf, " "); p && argc < 15; p = strtok(NULL, " "))
		argv[argc++] = p;
	const dl_opt opts[] = {
		DL_OPT_FLAG('q', "quiet", &v->quiet, "no output"),
		DL_OPT_FLAG('v', "verbose", &v->verbose, "more output"),
		DL_OPT_STRING('o', "output", &v->out, "FILE", "where to write"),
		DL_OPT_INT('n', "count", &v->n, "N", "how many", DL_MIN(1), DL_MAX(10)),
		DL_OPT_INT(0, "big", &v->big, "N", "at least 3", DL_MIN(3)),
		DL_OPT_FLOAT('f', "frac", &v->f, "F", "a fraction", DL_ABOVE(0), DL_BELOW(1)),
		DL_OPT_FLOAT(0, "rate", &v->g, "R", "positive", DL_ABOVE(0)),
		DL_OPT_CHOICE('k', "kind", &v->kind, "NAME", kinds, "the kind"),
		DL_OPT_END,
	};
	const dl_cmd cmd = { "prog", "[options] ARGS", "A test command.", opts, NULL };
	err->code = 0;
	err->msg[0] = '\0';
	int rc = dl_opt_parse(&cmd, argc, argv, what, npos, err);
	for (int i = 0; !rc && i < *npos; i++)
		pos[i] = argv[1 + i];
	return rc;
}

TEST(opt_forms_and_positionals)
{
	vals v = { 0 };
	int what, np;
	char *pos[16];
	dl_err err;
	CHECK_INT(run("a --count 3 b -o x.st --frac=0.25 -- -c -", &v, &what, &np, pos, &err), 0);
	CHECK_INT(what, DL_OPT_RUN);
	CHECK_INT(np, 4);
	CHECK(np == 4 && !strcmp(pos[0], "a") && !strcmp(pos[1], "b") && !strcmp(pos[2], "-c") &&
	      !strcmp(pos[3], "-"));
	CHECK_INT(v.n, 3);
	CHECK(v.out && !strcmp(v.out, "x.st"));
	CHECK_NEAR(v.f, 0.25, 0);
	vals w = { 0 };
	CHECK_INT(run("-n7 -oy --count=9", &w, &what, &np, pos, &err), 0);
	CHECK_INT(w.n, 9);
	CHECK(w.out && !strcmp(w.out, "y"));
	CHECK_INT(run("x --help", &w, &what, &np, pos, &err), 0);
	CHECK_INT(what, DL_OPT_HELP);
	CHECK_INT(run("--version", &w, &what, &np, pos, &err), 0);
	CHECK_INT(what, DL_OPT_VERSION);
}

TEST(opt_short_grouping)
{
	vals v = { 0 };
	int what, np;
	char *pos[16];
	dl_err err;
	CHECK_INT(run("-qv", &v, &what, &np, pos, &err), 0);
	CHECK(v.quiet == 1 && v.verbose == 1);
	vals w = { 0 };
	CHECK_INT(run("-qvo FILE pos", &w, &what, &np, pos, &err), 0);
	CHECK(w.quiet && w.verbose && w.out && !strcmp(w.out, "FILE"));
	CHECK(np == 1 && !strcmp(pos[0], "pos"));
	vals x = { 0 };
	CHECK_INT(run("-vqoFILE -qn4", &x, &what, &np, pos, &err), 0);
	CHECK(x.quiet && x.verbose && x.out && !strcmp(x.out, "FILE") && x.n == 4 && np == 0);
	CHECK_INT(run("-qvo", &x, &what, &np, pos, &err), DL_EUSAGE);
	CHECK_STR_HAS(err.msg, "option -o needs a value (FILE)");
	CHECK_INT(run("-qx", &x, &what, &np, pos, &err), DL_EUSAGE);
	CHECK_STR_HAS(err.msg, "unknown option '-x'");
}

TEST(opt_ranges)
{
	vals v = { .n = 5, .f = 0.5 };
	int what, np;
	char *pos[16];
	dl_err err;
	CHECK_INT(run("-n 1 --count 10 --big 3 --frac 0.999 --rate 1e-9", &v, &what, &np, pos, &err), 0);
	CHECK(v.n == 10 && v.big == 3);
	v.n = 5;
	v.f = 0.5;
	CHECK_INT(run("--count 0", &v, &what, &np, pos, &err), DL_EUSAGE);
	CHECK_INT(err.code, DL_EUSAGE);
	CHECK(!strcmp(err.msg, "--count must be in [1, 10] (got 0)"));
	CHECK_INT(v.n, 5);   /* unchanged on error */
	CHECK_INT(run("-n11", &v, &what, &np, pos, &err), DL_EUSAGE);
	CHECK(!strcmp(err.msg, "--count must be in [1, 10] (got 11)"));
	CHECK_INT(run("--big 2", &v, &what, &np, pos, &err), DL_EUSAGE);
	CHECK(!strcmp(err.msg, "--big must be at least 3 (got 2)"));
	CHECK_INT(run("--frac 0", &v, &what, &np, pos, &err), DL_EUSAGE);
	CHECK(!strcmp(err.msg, "--frac must be in (0, 1) (got 0)"));
	CHECK_INT(run("-f 1", &v, &what, &np, pos, &err), DL_EUSAGE);
	CHECK(!strcmp(err.msg, "--frac must be in (0, 1) (got 1)"));
	CHECK_NEAR(v.f, 0.5, 0);
	CHECK_INT(run("--rate -0.5", &v, &what, &np, pos, &err), DL_EUSAGE);
	CHECK(!strcmp(err.msg, "--rate must be > 0 (got -0.5)"));
}

TEST(opt_value_errors)
{
	vals v = { 0 };
	int what, np;
	char *pos[16];
	dl_err err;
	CHECK_INT(run("--count two", &v, &what, &np, pos, &err), DL_EUSAGE);
	CHECK(!strcmp(err.msg, "option --count: 'two' is not an integer"));
	CHECK_INT(run("-n 3x", &v, &what, &np, pos, &err), DL_EUSAGE);
	CHECK_STR_HAS(err.msg, "'3x' is not an integer");
	CHECK_INT(run("--frac nan", &v, &what, &np, pos, &err), DL_EUSAGE);
	CHECK_STR_HAS(err.msg, "'nan' is not a number");
	CHECK_INT(run("--count=", &v, &what, &np, pos, &err), DL_EUSAGE);
	CHECK_INT(run("--quiet=1", &v, &what, &np, pos, &err), DL_EUSAGE);
	CHECK(!strcmp(err.msg, "option --quiet takes no value"));
	CHECK_INT(run("--bogus", &v, &what, &np, pos, &err), DL_EUSAGE);
	CHECK(!strcmp(err.msg, "unknown option '--bogus'"));
	CHECK_INT(run("--output", &v, &what, &np, pos, &err), DL_EUSAGE);
	CHECK(!strcmp(err.msg, "option --output needs a value (FILE)"));
	CHECK(!strchr(err.msg, '\n'));
}

TEST(opt_choices)
{
	vals v = { .kind = -1 };
	int what, np, k = -1;
	char *pos[16];
	dl_err err;
	CHECK_INT(run("--kind adamw", &v, &what, &np, pos, &err), 0);
	CHECK_INT(v.kind, 7);
	CHECK_INT(run("-k sgd", &v, &what, &np, pos, &err), 0);
	CHECK_INT(v.kind, 0);
	CHECK_INT(run("--kind=rmsprop", &v, &what, &np, pos, &err), DL_EUSAGE);
	CHECK(!strcmp(err.msg, "--kind 'rmsprop': expected sgd, adam or adamw"));
	CHECK_INT(v.kind, 0);
	CHECK_INT(dl_opt_choice_value(kinds, "adam", &k), 0);
	CHECK_INT(k, 1);
	CHECK_INT(dl_opt_choice_value(kinds, "Adam", &k), -1);
	CHECK(!strcmp(dl_opt_choice_name(kinds, 7), "adamw"));
	CHECK(!strcmp(dl_opt_choice_name(kinds, 3), "?"));
	/* an enum destination the size of an int */
	enum color { RED, GREEN } c = RED;
	static const dl_opt_choice colors[] = { { "red", RED }, { "green", GREEN }, { NULL, 0 } };
	const dl_opt opts[] = { DL_OPT_CHOICE(0, "color", &c, "C", colors, "a colour"), DL_OPT_END };
	const dl_cmd cmd = { "prog", "", "", opts, NULL };
	char a0[] = "prog", a1[] = "--color", a2[] = "green";
	char *argv[] = { a0, a1, a2 };
	CHECK_INT(dl_opt_parse(&cmd, 3, argv, &what, &np, &err), 0);
	CHECK_INT(c, GREEN);
}

/* --help of cmd as a string (caller frees). */
static char *help_text(const dl_cmd *cmd)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	dl_opt_help(cmd, f);
	fclose(f);
	return s;
}

TEST(opt_help_lists_choices_and_ranges_stay_out_of_the_way)
{
	int kind = 0;
	long n = 0;
	const dl_opt opts[] = {
		DL_OPT_CHOICE(0, "kind", &kind, "NAME", kinds, "the update rule\n(default adam)"),
		DL_OPT_INT('n', "count", &n, "N", "how many", DL_MIN(1)),
		DL_OPT_END,
	};
	const dl_cmd cmd = { "prog", "ARGS\n--other", "A test command.", opts, "footer\n" };
	char *h = help_text(&cmd);
	CHECK_STR_HAS(h, "usage: prog ARGS\n       prog --other\n");
	CHECK_STR_HAS(h, "      --kind NAME              the update rule\n"
			 "                               (default adam)\n"
			 "                               NAME: sgd, adam or adamw\n");
	CHECK_STR_HAS(h, "  -n, --count N                how many\n");
	CHECK_STR_HAS(h, "-h, --help");
	CHECK_STR_HAS(h, "footer\n");
	CHECK_STR_HAS(h, "exit codes:");
	CHECK(h && !strstr(h, "commands:"));
	free(h);
}

static int sub_a(int argc, char **argv, const void *data)
{
	const char *want = data;
	return argc == 3 && !strcmp(argv[0], "alpha") && !strcmp(argv[1], "x") &&
	       !strcmp(argv[2], "--y") && !strcmp(want, "A") ? 42 : 1;
}

static int sub_b(int argc, char **argv, const void *data)
{
	(void)argc, (void)argv, (void)data;
	return 5;
}

TEST(opt_subcommands)
{
	const dl_opt subs[] = {
		DL_OPT_SUBCMD("alpha", sub_a, "A", "X [--y]", "the first"),
		DL_OPT_SUBCMD("beta", sub_b, NULL, "FILE", "the second"),
		DL_OPT_END,
	};
	const dl_cmd cmd = { "tool", "COMMAND ...", "A tool.", subs, NULL };
	char a0[] = "tool", a1[] = "alpha", a2[] = "x", a3[] = "--y", b1[] = "beta", c1[] = "gamma";
	char *argv[] = { a0, a1, a2, a3 };
	int code = -1, what, np;
	dl_err err;
	CHECK_INT(dl_opt_subcmd(&cmd, 4, argv, &code), 1);
	CHECK_INT(code, 42);
	char *argv2[] = { a0, b1 };
	CHECK_INT(dl_opt_subcmd(&cmd, 2, argv2, &code), 1);
	CHECK_INT(code, 5);
	char *argv3[] = { a0, c1 };
	CHECK_INT(dl_opt_subcmd(&cmd, 2, argv3, &code), 0);
	CHECK_INT(dl_opt_subcmd(&cmd, 1, argv3, &code), 0);
	/* a table of subcommands only: one is required */
	CHECK_INT(dl_opt_parse(&cmd, 2, argv3, &what, &np, &err), DL_EUSAGE);
	CHECK(!strcmp(err.msg, "unknown command 'gamma' (see tool --help)"));
	CHECK_INT(dl_opt_parse(&cmd, 1, argv3, &what, &np, &err), DL_EUSAGE);
	CHECK(!strcmp(err.msg, "missing command (alpha or beta)"));
	char hh[] = "--help";
	char *argv4[] = { a0, hh };
	CHECK_INT(dl_opt_parse(&cmd, 2, argv4, &what, &np, &err), 0);
	CHECK_INT(what, DL_OPT_HELP);
	/* a subcommand name is not an option */
	char ln[] = "--alpha";
	char *argv5[] = { a0, ln };
	CHECK_INT(dl_opt_parse(&cmd, 2, argv5, &what, &np, &err), DL_EUSAGE);
	CHECK_STR_HAS(err.msg, "unknown option '--alpha'");
	char *h = help_text(&cmd);
	CHECK_STR_HAS(h, "commands:\n  alpha          X [--y]          the first\n"
			 "  beta           FILE             the second\n");
	CHECK_STR_HAS(h, "Run 'tool COMMAND --help' for a command's options.");
	free(h);
}

TEST(opt_subcommands_beside_options)
{
	/* a command with its own options and arguments and subcommands (dl-eval) */
	int json = 0, what, np, code = 0;
	const dl_opt opts[] = {
		DL_OPT_FLAG(0, "json", &json, "JSON out"),
		DL_OPT_SUBCMD("beta", sub_b, NULL, "FILE", "the second"),
		DL_OPT_END,
	};
	const dl_cmd cmd = { "tool", "A B", "A tool.", opts, NULL };
	char a0[] = "tool", a1[] = "ck", a2[] = "beta", a3[] = "--json";
	char *argv[] = { a0, a1, a2, a3 };
	dl_err err;
	CHECK_INT(dl_opt_subcmd(&cmd, 4, argv, &code), 0);   /* only argv[1] names one */
	CHECK_INT(dl_opt_parse(&cmd, 4, argv, &what, &np, &err), 0);
	CHECK(np == 2 && json == 1 && !strcmp(argv[1], "ck") && !strcmp(argv[2], "beta"));
	char *none[] = { a0 };
	CHECK_INT(dl_opt_parse(&cmd, 1, none, &what, &np, &err), 0);
	CHECK_INT(np, 0);
}
