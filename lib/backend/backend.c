#include "backend/backend.h"

#include <string.h>

int dl_backend_open(dl_backend **out, const char *name, int threads, dl_err *err)
{
	*out = NULL;
	if (!strcmp(name, "cpu") || !strcmp(name, "auto"))
		return dl_backend_cpu_open(out, threads, err);
	if (!strncmp(name, "cuda", 4))
		return dl_fail(err, DL_EUSAGE,
			       "device '%s': this build has no CUDA backend yet (use --device cpu)", name);
	return dl_fail(err, DL_EUSAGE, "unknown device '%s' (expected auto, cpu)", name);
}

void dl_backend_close(dl_backend *be)
{
	if (be)
		be->ops->release(be);
}
