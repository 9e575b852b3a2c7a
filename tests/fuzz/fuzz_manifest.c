/* libFuzzer target: a dl-fetch manifest (-f FILE) loaded as dl-fetch
 * loads it; whatever it accepts must be findable by its own names. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../tools/dl-fetch/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-manifest", 0);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	fetch_manifest m;
	dl_err err;
	memset(&m, 0, sizeof m);
	if (fetch_manifest_load(path, &m, &err) == 0)
		fetch_manifest_release(&m);
	else if (!err.msg[0] || strchr(err.msg, '\n'))
		abort();
	close(fd);
	return 0;
}
