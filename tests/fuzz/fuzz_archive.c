/* libFuzzer target: dl-prep's archive index (tar, tar.gz/bz2/xz, zip read
 * in memory by libarchive; tools/dl-prep/fsrc.c) with small caps (1 MiB,
 * 1000 files, ratio 50), then every entry read back and the top folder
 * listed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../tools/dl-prep/fsrc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-archive", 0);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	dl_fsrc fs;
	dl_fsrc_limits lim = { .max_entries = 1000, .max_bytes = (size_t)1 << 20, .max_ratio = 50 };
	dl_err err;
	if (dl_fsrc_open(&fs, path, &lim, &err) == 0) {
		if (fs.real)   /* a memfd is a file: it must open as an archive, never a folder */
			abort();
		for (size_t i = 0; i < fs.n; i++) {
			uint8_t *d = NULL;
			size_t n = 0;
			if (dl_fsrc_read(&fs, fs.e[i].path, &d, &n, &err) == 0) {
				if (n != fs.e[i].len || (n && memcmp(d, fs.e[i].data, n)))
					abort();
				free(d);
			}
		}
		char **names = NULL;
		size_t nn = 0;
		if (dl_fsrc_list(&fs, "", 0, &names, &nn, &err) == 0)
			dl_fsrc_free_names(names, nn);
		dl_fsrc_close(&fs);
	} else if (!err.msg[0] || strchr(err.msg, '\n')) {
		abort();
	}
	close(fd);
	return 0;
}
