/* Finds the NCCL entry points in libdl-cuda.so (lib/dist/nccl.h). */
#include "dist/nccl.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

int dl_nccl_load(dl_nccl_api *api, dl_err *err)
{
	char path[PATH_MAX + 32];
	memset(api, 0, sizeof *api);
	if (dl_backend_cuda_lib(path, sizeof path) || access(path, F_OK))
		return dl_fail(err, DL_EUSAGE, "this build has no CUDA backend (%s), so no NCCL", path);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		return dl_fail(err, DL_EUSAGE, "cannot load the CUDA backend: %s", why ? why : path);
	}
	dl_nccl_abi_fn abi = (dl_nccl_abi_fn)dlsym(h, "dl_nccl_abi");
	if (!abi)
		return dl_fail(err, DL_EUSAGE, "%s was built without NCCL (nccl.h not found at build time)",
			       path);
	api->id = (dl_nccl_id_fn)dlsym(h, "dl_nccl_id");
	api->open = (dl_nccl_open_fn)dlsym(h, "dl_nccl_open");
	api->sum = (dl_nccl_sum_fn)dlsym(h, "dl_nccl_sum");
	api->wait = (dl_nccl_wait_fn)dlsym(h, "dl_nccl_wait");
	api->close = (dl_nccl_close_fn)dlsym(h, "dl_nccl_close");
	if (abi() != DL_NCCL_ABI || !api->id || !api->open || !api->sum || !api->wait || !api->close)
		return dl_fail(err, DL_EUSAGE, "%s does not match this program (rebuild with make)", path);
	return 0;
}
