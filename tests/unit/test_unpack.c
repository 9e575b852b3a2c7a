/* lib/io/unpack: archive kinds, stems, and that a refused archive leaves
 * nothing (the CLI cases in t0120 cover the hostile entries in depth). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/unpack.h"
#include "test.h"

TEST(unpack_kind_and_stem)
{
	CHECK_INT(dl_unpack_kind_of("a.tar.gz"), DL_UNPACK_TAR);
	CHECK_INT(dl_unpack_kind_of("a.tgz"), DL_UNPACK_TAR);
	CHECK_INT(dl_unpack_kind_of("a.tar"), DL_UNPACK_TAR);
	CHECK_INT(dl_unpack_kind_of("a.zip"), DL_UNPACK_ZIP);
	CHECK_INT(dl_unpack_kind_of("a-idx3-ubyte.gz"), DL_UNPACK_GZ);
	CHECK_INT(dl_unpack_kind_of("a.bin"), DL_UNPACK_NONE);
	CHECK_INT(dl_unpack_kind_of(".gz"), DL_UNPACK_NONE);
	CHECK_INT(dl_unpack_kind_parse("tgz"), DL_UNPACK_TAR);
	CHECK_INT(dl_unpack_kind_parse("rar"), DL_UNPACK_NONE);
	char *s = dl_unpack_stem("cifar-10-binary.tar.gz");
	CHECK(s && !strcmp(s, "cifar-10-binary"));
	free(s);
	s = dl_unpack_stem("x.bin");
	CHECK(s && !strcmp(s, "x.bin.d"));
	free(s);
}

TEST(unpack_refuses_non_gzip_and_leaves_nothing)
{
	char dir[] = "/tmp/dl-test-unpack.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char src[256], dst[256];
	snprintf(src, sizeof src, "%s/plain.gz", dir);
	snprintf(dst, sizeof dst, "%s/plain", dir);
	FILE *f = fopen(src, "wb");
	CHECK(f != NULL);
	fputs("not gzip at all\n", f);
	fclose(f);
	dl_unpack_opts o;
	dl_unpack_opts_default(&o);
	dl_err err = { 0, "" };
	CHECK_INT(dl_unpack(src, "plain.gz", DL_UNPACK_GZ, dst, &o, NULL, &err), DL_EDATA);
	CHECK(strstr(err.msg, "plain.gz") != NULL);
	struct stat st;
	CHECK(lstat(dst, &st) != 0);
	/* only the source is left in dir */
	unlink(src);
	CHECK_INT(rmdir(dir), 0);
}
