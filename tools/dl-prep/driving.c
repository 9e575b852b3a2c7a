/* dl-prep driving: the driving logs of steering-angle cloning (the Udacity
 * simulator's driving_log.csv: no header, one line per moment,
 * center,left,right,steering,throttle,brake,speed; the three image paths
 * relative to ROOT).  Each chosen camera of a line becomes a sample with the
 * chosen target columns; --steer-correction C is added to the steering of
 * the left camera and subtracted for the right one. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep.h"
#include "text.h"

static const char *const cols[7] = { "center", "left", "right", "steering", "throttle", "brake",
				     "speed" };

typedef struct drive_cfg {
	const char *log, *cameras, *targets;
	double correction;
	int cam[3], ncam, tgt[4], ntgt;
} drive_cfg;

/* Parses a comma list of names among cols[lo..hi) into idx[]. */
static int names(const char *spec, int lo, int hi, int *idx, int *n, int max, const char *opt,
		 dl_err *err)
{
	*n = 0;
	const char *p = spec;
	while (*p) {
		size_t len = strcspn(p, ",");
		int k = -1;
		for (int i = lo; i < hi; i++)
			if (strlen(cols[i]) == len && !strncmp(cols[i], p, len))
				k = i;
		for (int i = 0; i < *n && k >= 0; i++)
			if (idx[i] == k)
				k = -1;
		if (k < 0 || *n == max)
			return dl_fail(err, DL_EUSAGE, "driving: %s: '%.*s' is not one of %s", opt,
				       (int)len, p, lo ? "steering,throttle,brake,speed (each once)"
						       : "center,left,right (each once)");
		idx[(*n)++] = k;
		p += len + (p[len] ? 1 : 0);
	}
	return *n ? 0 : dl_fail(err, DL_EUSAGE, "driving: %s is empty", opt);
}

static int fill_driving(prep_set *s, int npos, char **argv, void *cfg, dl_err *err)
{
	(void)npos, (void)argv;
	drive_cfg *cf = cfg;
	int rc;
	if ((rc = names(cf->cameras, 0, 3, cf->cam, &cf->ncam, 3, "--cameras", err)) ||
	    (rc = names(cf->targets, 3, 7, cf->tgt, &cf->ntgt, 4, "--targets", err)))
		return rc;
	s->ntargets = cf->ntgt;
	if (!(s->target_names = calloc((size_t)cf->ntgt, sizeof *s->target_names)))
		return dl_fail(err, DL_EFAIL, "out of memory");
	for (int i = 0; i < cf->ntgt; i++)
		if (!(s->target_names[i] = strdup(cols[cf->tgt[i]])))
			return dl_fail(err, DL_EFAIL, "out of memory");
	prep_text t;
	if ((rc = prep_text_read(&t, s->fs, cf->log, err)))
		return rc;
	char *line, *f[16];
	while (!rc && (line = prep_text_next(&t))) {
		if (!*line)
			continue;
		int n = prep_csv_split(line, ',', f, 16);
		if (n != 7) {
			rc = dl_fail(err, DL_EDATA, "%s:%d: %d columns, expected 7 "
				     "(center,left,right,steering,throttle,brake,speed)", t.name, t.line, n);
			break;
		}
		if (t.line == 1 && !strcmp(f[3], "steering"))
			continue;   /* the header some copies carry */
		float v[7];
		for (int k = 3; k < 7 && !rc; k++)
			if (prep_parse_float(f[k], &v[k]))
				rc = dl_fail(err, DL_EDATA, "%s:%d: %s '%s' is not a finite number", t.name,
					     t.line, cols[k], f[k]);
		for (int c = 0; c < cf->ncam && !rc; c++) {
			int cam = cf->cam[c];
			float tg[4];
			for (int k = 0; k < cf->ntgt; k++) {
				double d = v[cf->tgt[k]];
				if (cf->tgt[k] == 3 && cam == 1)
					d += cf->correction;
				if (cf->tgt[k] == 3 && cam == 2)
					d -= cf->correction;
				/* in range before the cast (out of range is undefined
				 * in C; it once wrote inf targets with exit 0) */
				tg[k] = fabs(d) <= FLT_MAX ? (float)d : (float)INFINITY;
			}
			char where[1200];
			snprintf(where, sizeof where, "%s:%d (%s)", t.name, t.line, cols[cam]);
			if (!(rc = prep_check_path(&t, f[cam], err)))
				rc = prep_add(s, f[cam], NULL, 0, 0, 0, -1, tg, NULL, where, err);
		}
	}
	prep_text_release(&t);
	return rc;
}

static int setup_driving(void *cfg, dl_opt *opts)
{
	drive_cfg *cf = cfg;
	*cf = (drive_cfg){ .log = "driving_log.csv", .cameras = "center", .targets = "steering" };
	const dl_opt rows[] = {
		DL_OPT_STRING(0, "log", &cf->log, "FILE", "the log inside ROOT (default driving_log.csv)"),
		DL_OPT_STRING(0, "cameras", &cf->cameras, "LIST",
		  "cameras to take, a comma list of center,left,right (default center)"),
		DL_OPT_STRING(0, "targets", &cf->targets, "LIST",
		  "target columns, of steering,throttle,brake,speed (default steering)"),
		DL_OPT_FLOAT(0, "steer-correction", &cf->correction, "C",
		  "add C to the left camera's steering, subtract it for the right (default 0)"),
	};
	memcpy(opts, rows, sizeof rows);
	return (int)(sizeof rows / sizeof rows[0]);
}

const prep_source prep_src_driving = {
	.name = "driving",
	.args = "ROOT",
	.what = "driving_log.csv -> steering (etc.) regression targets",
	.summary = "Converts a steering-angle cloning log (driving_log.csv: center,left,right,\n"
		   "steering,throttle,brake,speed; image paths relative to ROOT) into images\n"
		   "U8 [N,H,W,C] and targets F32 [N,K] (regression; no labels).  Each chosen camera\n"
		   "of a line is one sample, in line order then camera order.",
	.footer = "example:\n  dl-prep driving data/ --cameras center,left,right --steer-correction 0.2 \\\n"
		  "      --size 66x200 -o drive.st\n",
	.minpos = 1, .maxpos = 1,
	.cfg_size = sizeof(drive_cfg),
	.setup = setup_driving,
	.fill = fill_driving,
};
