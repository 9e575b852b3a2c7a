/* The image library against an independent implementation (PIL): the
 * Python scripts in tests/image/ write the expected pixels of real images
 * shipped under /usr/share and of generated ones, and of resize/convert
 * cases; here ours must match within each case's tolerance.  Needs
 * /usr/bin/python3 with numpy and PIL (scripts/deps); a missing Python
 * fails the test, it is not skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/readall.h"
#include "image/image.h"
#include "test.h"

#include <fcntl.h>
#include <unistd.h>

/* Runs tests/image/SCRIPT into TMP/SUB; returns the list file or NULL. */
static FILE *run_ref(dl_test_ctx *t, const char *script, const char *sub, char *dir, size_t dsz)
{
	const char *root = getenv("DL_ROOT");
	char cmd[2048], path[1024];
	snprintf(dir, dsz, "%s/%s", dl_test_tmpdir(), sub);
	snprintf(cmd, sizeof cmd,
		 "OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 '%s/tests/image/%s' '%s' >&2",
		 root ? root : ".", script, dir);
	int rc = system(cmd);
	CHECK_INT(rc, 0);
	snprintf(path, sizeof path, "%s/list.tsv", dir);
	FILE *f = rc == 0 ? fopen(path, "r") : NULL;
	CHECK(f != NULL);
	return f;
}

static unsigned char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	unsigned char *buf = NULL;
	dl_err err;
	int rc = dl_read_all(fd, path, (size_t)1 << 30, &buf, len, &err);
	close(fd);
	return rc ? NULL : buf;
}

/* max |a - b| over n bytes */
static int maxdiff(const uint8_t *a, const uint8_t *b, size_t n)
{
	int m = 0;
	for (size_t i = 0; i < n; i++) {
		int d = abs((int)a[i] - (int)b[i]);
		if (d > m)
			m = d;
	}
	return m;
}

TEST(image_ref_decode_matches_pil)
{
	char dir[512], line[4096];
	FILE *f = run_ref(t, "ref_decode.py", "ref-decode", dir, sizeof dir);
	if (!f)
		return;
	int n = 0, png = 0, jpeg = 0, pnm = 0;
	while (fgets(line, sizeof line, f)) {
		char path[1024], raw[256];
		int w, h, c, tol;
		if (sscanf(line, "%1023[^\t]\t%d\t%d\t%d\t%255[^\t]\t%d", path, &w, &h, &c, raw, &tol) != 6) {
			CHECK(!"bad list line");
			continue;
		}
		n++;
		size_t len = 0;
		unsigned char *exp = slurp(dir, raw, &len);
		dl_image im;
		dl_err err = { 0 };
		int rc = dl_image_load(path, NULL, 0, &im, &err);
		if (rc)
			fprintf(stderr, "  %s: %s\n", path, err.msg);
		CHECK_INT(rc, 0);
		CHECK(exp != NULL);
		if (!rc && exp) {
			CHECK_INT(im.w, w);
			CHECK_INT(im.h, h);
			CHECK_INT(im.c, c);
			if (im.w == w && im.h == h && im.c == c && len == (size_t)w * h * c) {
				int d = maxdiff(im.px, exp, len);
				if (d > tol)
					fprintf(stderr, "  %s: max difference %d > %d\n", path, d, tol);
				CHECK(d <= tol);
			} else {
				CHECK_INT(len, (size_t)w * h * c);
			}
			const char *ext = strrchr(path, '.');
			png += ext && !strcmp(ext, ".png");
			jpeg += ext && !strcmp(ext, ".jpg");
			pnm += ext && (!strcmp(ext, ".ppm") || !strcmp(ext, ".pgm"));
		}
		if (getenv("VERBOSE"))
			fprintf(stderr, "  ok? %s %dx%dx%d\n", path, w, h, c);
		free(exp);
		dl_image_free(&im);
	}
	fclose(f);
	/* the script promises at least 4 shipped PNG kinds, 7 generated PNGs,
	 * 5 generated JPEGs, 6 PPM/PGM */
	CHECK(png >= 11);
	CHECK(jpeg >= 5);
	CHECK(pnm >= 6);
	CHECK(n == png + jpeg + pnm);
}

TEST(image_ref_resize_matches_pil)
{
	char dir[512], line[4096];
	FILE *f = run_ref(t, "ref_resize.py", "ref-resize", dir, sizeof dir);
	if (!f)
		return;
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		char op[32], sraw[256], eraw[256];
		int w, h, c, ow, oh, tol;
		if (sscanf(line, "%31[^\t]\t%255[^\t]\t%d\t%d\t%d\t%d\t%d\t%255[^\t]\t%d", op, sraw, &w,
			   &h, &c, &ow, &oh, eraw, &tol) != 9) {
			CHECK(!"bad list line");
			continue;
		}
		n++;
		size_t slen = 0, elen = 0;
		unsigned char *s = slurp(dir, sraw, &slen), *e = slurp(dir, eraw, &elen);
		CHECK(s && e && slen == (size_t)w * h * c);
		if (!s || !e || slen != (size_t)w * h * c) {
			free(s);
			free(e);
			continue;
		}
		dl_image src = { w, h, c, s }, out;
		dl_err err = { 0 };
		int rc = !strcmp(op, "gray") ? dl_image_convert(&src, 1, &out, &err)
					     : dl_image_resize(&src, ow, oh, &out, &err);
		CHECK_INT(rc, 0);
		if (!rc) {
			CHECK(elen == (size_t)out.w * out.h * out.c);
			if (elen == (size_t)out.w * out.h * out.c) {
				int d = maxdiff(out.px, e, elen);
				if (d > tol || getenv("VERBOSE"))
					fprintf(stderr, "  %s %dx%dx%d -> %dx%d: max difference %d (tol %d)\n",
						op, w, h, c, ow, oh, d, tol);
				CHECK(d <= tol);
			}
			dl_image_free(&out);
		}
		free(s);
		free(e);
	}
	fclose(f);
	CHECK(n >= 20);
}
