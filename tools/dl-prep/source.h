/* One way to run a dl-prep source.
 *
 * A source (idx, cifar10, folder, ...) is a descriptor: its name and help,
 * its positional arguments, its own options and a fill function that adds
 * the samples to a prep_set.  prep_source_main is the one driver every
 * source runs through: it builds the command (the source's options, then
 * the common ones), parses and checks argv, opens ROOT, calls fill, applies
 * --classes and runs the pipeline (run.c).
 *
 * A source's settings live in a block of cfg_size bytes, zeroed, that
 * setup fills with its defaults and points its option rows into; fill reads
 * it, and release frees what fill kept alive for the pipeline (raw pixels
 * are borrowed by the set until prep_run returns). */
#ifndef DL_PREP_SOURCE_H
#define DL_PREP_SOURCE_H

#include "core/guard.h"
#include "core/opt.h"
#include "set.h"

#define PREP_SOURCE_MAX_OPTS 8

typedef struct prep_source {
	const char *name;      /* the command: "idx" */
	const char *args;      /* its arguments, for the usage and dl-prep --help */
	const char *what;      /* one line for dl-prep --help */
	const char *summary;   /* the paragraph of `dl-prep NAME --help` */
	const char *footer;    /* examples for --help; NULL: prep_common_help */
	int minpos, maxpos;    /* how many arguments */
	int files;             /* 1: the arguments are files (idx), not ROOT */
	size_t cfg_size;       /* bytes of the source's settings */
	/* Sets the defaults in cfg and writes at most PREP_SOURCE_MAX_OPTS
	 * option rows into opts; returns how many.  NULL: no settings. */
	int (*setup)(void *cfg, dl_opt *opts);
	/* Adds the samples (and class names) to s; s->fs is ROOT unless files.
	 * argv[1..npos] are the arguments. */
	int (*fill)(prep_set *s, int npos, char **argv, void *cfg, dl_err *err);
	void (*release)(void *cfg);   /* may be NULL */
} prep_source;

/* The driver: a dl_subcmd_fn whose data is the prep_source.  It starts
 * and ends the process's signal guard (core/guard.h) around the run. */
int prep_source_main(int argc, char **argv, const void *source);

/* The same run under the caller's guard, already started and ended by the
 * caller (NULL: as prep_source_main): the run checks its files and
 * registers its outputs with host.  For a process that runs many sources,
 * the fuzz target: one guard and watcher thread in all, not one per run. */
int prep_source_run(int argc, char **argv, const prep_source *src, dl_guard *host);

/* Common option help, the footer of most sources. */
extern const char prep_common_help[];

#endif
