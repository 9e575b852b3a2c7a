/* libFuzzer target: dl-prep's text sources end to end, as the command
 * line runs them.  The first byte picks the source, the rest is its text:
 *   0 list FILE   1 csv FILE --header   2 csv FILE (columns 0, 1)
 *   3 gtsrb --gt FILE (semicolon CSV with ROI)   4 driving (the text is
 *   ROOT/driving_log.csv; cameras center,left,right)
 * over a root holding a.png, b.png and sub/c.png (4x4 gray), so lines that
 * name them decode images, fill the set, split and write a dataset.  Run
 * with -close_fd_mask=2: the tool's error lines go to stderr.
 * Every input runs through prep_source_run, prep_source_main's body, under
 * one signal guard started here: a guard per run (prep_source_main) would
 * start and join a watcher thread per input, half of each run's time. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../tools/dl-prep/prep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char png4[] = {
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
	0x52, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x8c,
	0x9a, 0xc1, 0xa2, 0x00, 0x00, 0x00, 0x1c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60,
	0x60, 0x64, 0x62, 0x66, 0x60, 0x61, 0x65, 0x63, 0x67, 0xe0, 0xe0, 0xe4, 0xe2, 0x66, 0xe0,
	0xe1, 0xe5, 0xe3, 0x07, 0x00, 0x03, 0x20, 0x00, 0x79, 0x8b, 0x01, 0xf5, 0x44, 0x00, 0x00,
	0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

static char dir[256];
static dl_guard guard;

static void put(const char *rel, const void *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	FILE *f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f))
		abort();
}

/* the scratch folder goes when the fuzzer exits normally */
static void cleanup(void)
{
	static const char *const files[] = { "root/a.png", "root/b.png", "root/sub/c.png",
					     "root/driving_log.csv", "in.txt", "out.st", "val.st",
					     "root/sub", "root", "" };
	char p[512];
	dl_guard_end(&guard);
	for (int i = 0; i < (int)(sizeof files / sizeof *files); i++) {
		snprintf(p, sizeof p, "%s/%s", dir, files[i]);
		if (remove(p) && i >= 7)
			break;
	}
}

static void setup(void)
{
	const char *base = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/fuzz-prep.XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(dir))
		abort();
	char p[512];
	snprintf(p, sizeof p, "%s/root", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof p, "%s/root/sub", dir);
	mkdir(p, 0700);
	put("root/a.png", png4, sizeof png4);
	put("root/b.png", png4, sizeof png4);
	put("root/sub/c.png", png4, sizeof png4);
	dl_err err = { 0 };
	if (dl_guard_start(&guard, DL_GUARD_DIE, &err))
		abort();
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0])
		setup();
	if (size < 1)
		return 0;
	int mode = data[0] % 5;
	char root[300], text[300], out[300], val[300];
	snprintf(root, sizeof root, "%s/root", dir);
	snprintf(text, sizeof text, "%s/%s", dir, mode == 4 ? "root/driving_log.csv" : "in.txt");
	snprintf(out, sizeof out, "%s/out.st", dir);
	snprintf(val, sizeof val, "%s/val.st", dir);
	put(mode == 4 ? "root/driving_log.csv" : "in.txt", data + 1, size - 1);
	char *list[] = { "list", root, text, "-o", out, "-j", "1", NULL };
	char *csvh[] = { "csv", root, text, "--header", "--path-col", "path", "--label-col", "label",
			 "-o", out, "--val-fraction", "0.5", "--val-out", val, "-j", "1", NULL };
	char *csv[] = { "csv", root, text, "-o", out, "--size", "2x3", "-j", "1", NULL };
	char *gt[] = { "gtsrb", root, "--gt", text, "--roi", "-o", out, "-j", "1", NULL };
	char *drv[] = { "driving", root, "--cameras", "center,left,right", "--targets",
			"steering,speed", "--steer-correction", "0.25", "-o", out, "-j", "1", NULL };
	char **argv[] = { list, csvh, csv, gt, drv };
	/* each source runs through the one dl-prep driver (tools/dl-prep/source.c) */
	const prep_source *src[] = { &prep_src_list, &prep_src_csv, &prep_src_csv, &prep_src_gtsrb,
				     &prep_src_driving };
	int argc = 0;
	while (argv[mode][argc])
		argc++;
	prep_source_run(argc, argv[mode], src[mode], &guard);
	unlink(out);
	unlink(val);
	return 0;
}
