/* libFuzzer target: a checkpoint file as dl-eval, dl-eval predict and
 * dl-train --resume load it (dl_checkpoint_load, optimizer state too), and
 * then its model RUN forward and backward on a batch of 2.  The bytes go
 * to a memfd opened by path, as the tools open files. */
#include "run_model.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "train/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-ck", 0);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	dl_model m;
	dl_optim o;
	dl_checkpoint ck;
	dl_err err;
	memset(&o, 0, sizeof o);
	memset(&ck, 0, sizeof ck);
	if (dl_checkpoint_load(path, &m, fuzz_backend(), &o, &ck, &err) == 0) {
		fuzz_run_model(&m);
		dl_optim_release(&o);
		dl_checkpoint_release(&ck);
		dl_model_release(&m);
	} else if (!err.msg[0] || strchr(err.msg, '\n')) {
		abort();
	}
	close(fd);
	return 0;
}
