/* Loading libdl-cuda.so where its CUDA libraries are wherever the user
 * has them.
 *
 * The .so carries no RUNPATH: the cuDNN and cuBLAS it needs are found
 * first the usual way (LD_LIBRARY_PATH, the ldconfig cache), and when
 * dlopen() names one it cannot find, in these folders, in order:
 *   DL_CUDA_LIBPATH (colon-separated), $CUDA_HOME/lib64, $CUDA_PATH/lib64,
 *   /usr/local/cuda/lib64 and /lib, and the nvidia/<pkg>/lib folders of
 *   Python packages (pip's nvidia-cudnn-cu13, nvidia-cublas...) under
 *   $VIRTUAL_ENV, $CONDA_PREFIX, the python3 on PATH's prefix, ~/.local
 *   and /usr/local and /usr.
 * The file found is loaded RTLD_GLOBAL before the backend, so the
 * backend's own dependency resolves to it; for cuDNN the sibling
 * libcudnn_*.so.N it loads on demand are preloaded from the same folder.
 * Each library loaded this way is named on `note` (for --devices).
 */
#include "backend/cuda_find.h"

#include <dlfcn.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The soname in dlerror's "libX.so.N: cannot open shared object file". */
static int missing_soname(const char *msg, char *out, size_t n)
{
	const char *end = strstr(msg, ": cannot open shared object file");
	if (!end)
		return -1;
	const char *start = end;
	while (start > msg && start[-1] != ' ' && start[-1] != ':')
		start--;
	size_t len = (size_t)(end - start);
	if (!len || len >= n || strncmp(start, "lib", 3))
		return -1;
	memcpy(out, start, len);
	out[len] = 0;
	return 0;
}

/* Appends the matches of pattern/soname to the list of candidates. */
static void add_glob(glob_t *g, int *first, const char *dir_pattern, const char *soname)
{
	char pat[PATH_MAX];
	if (snprintf(pat, sizeof pat, "%s/%s", dir_pattern, soname) >= (int)sizeof pat)
		return;
	if (glob(pat, *first ? 0 : GLOB_APPEND, NULL, g) == 0)
		*first = 0;
}

/* The folder of the python3 found on PATH, without resolving links (a
 * virtual environment's bin/python3 links to the base interpreter). */
static int python_prefix(char *out, size_t n)
{
	const char *path = getenv("PATH");
	if (!path)
		return -1;
	char dir[PATH_MAX];
	while (*path) {
		size_t len = strcspn(path, ":");
		if (len && len < sizeof dir - 16) {
			memcpy(dir, path, len);
			dir[len] = 0;
			char exe[PATH_MAX + 16];
			if (snprintf(exe, sizeof exe, "%s/python3", dir) < (int)sizeof exe &&
			    !access(exe, X_OK))
				return snprintf(out, n, "%s/..", dir) < (int)n ? 0 : -1;
		}
		path += len + (path[len] == ':');
	}
	return -1;
}

/* Finds `soname` in the folders above; the first match into out. */
static int search(const char *soname, char *out, size_t n)
{
	glob_t g;
	int first = 1;
	memset(&g, 0, sizeof g);
	const char *env = getenv("DL_CUDA_LIBPATH");
	if (env && *env) {
		char buf[4096];
		snprintf(buf, sizeof buf, "%s", env);
		for (char *save = NULL, *t = strtok_r(buf, ":", &save); t; t = strtok_r(NULL, ":", &save))
			add_glob(&g, &first, t, soname);
	}
	const char *homes[] = { getenv("CUDA_HOME"), getenv("CUDA_PATH") };
	for (size_t i = 0; i < 2; i++)
		if (homes[i] && *homes[i]) {
			char d[PATH_MAX];
			snprintf(d, sizeof d, "%s/lib64", homes[i]);
			add_glob(&g, &first, d, soname);
		}
	add_glob(&g, &first, "/usr/local/cuda/lib64", soname);
	add_glob(&g, &first, "/usr/local/cuda/lib", soname);
	const char *py_roots[6] = { getenv("VIRTUAL_ENV"), getenv("CONDA_PREFIX"), NULL, NULL,
				    "/usr/local", "/usr" };
	char pyp[PATH_MAX], local[PATH_MAX];
	if (!python_prefix(pyp, sizeof pyp))
		py_roots[2] = pyp;
	const char *home = getenv("HOME");
	if (home && *home) {
		snprintf(local, sizeof local, "%s/.local", home);
		py_roots[3] = local;
	}
	for (size_t i = 0; i < 6; i++) {
		if (!py_roots[i] || !*py_roots[i])
			continue;
		char d[PATH_MAX];
		snprintf(d, sizeof d, "%s/lib/python3*/*-packages/nvidia/*/lib", py_roots[i]);
		add_glob(&g, &first, d, soname);
		snprintf(d, sizeof d, "%s/lib/python3/dist-packages/nvidia/*/lib", py_roots[i]);
		add_glob(&g, &first, d, soname);
	}
	int rc = -1;
	if (!first && g.gl_pathc > 0) {
		snprintf(out, n, "%s", g.gl_pathv[0]);
		rc = 0;
	}
	if (!first)
		globfree(&g);
	return rc;
}

/* Preloads the libcudnn_*.so.* beside a libcudnn.so.N found by search:
 * cuDNN opens them by soname when first needed, which would not look in
 * that folder. */
static void preload_cudnn_parts(const char *path)
{
	char pat[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *ver = strstr(path, ".so.");
	if (!slash || !ver || strncmp(slash + 1, "libcudnn.so", 11))
		return;
	snprintf(pat, sizeof pat, "%.*s/libcudnn_*%s", (int)(slash - path), path, ver);
	glob_t g;
	if (glob(pat, 0, NULL, &g))
		return;
	/* graph first: the engines need it */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < g.gl_pathc; i++)
			if ((strstr(g.gl_pathv[i], "libcudnn_graph") != NULL) == (pass == 0))
				dlopen(g.gl_pathv[i], RTLD_NOW | RTLD_GLOBAL);
	globfree(&g);
}

void *dl_cuda_find_open(const char *path, char *why, size_t n, FILE *note)
{
	for (int tries = 0; tries < 8; tries++) {
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (h)
			return h;
		const char *e = dlerror();
		snprintf(why, n, "%s", e ? e : path);
		char soname[256], found[PATH_MAX];
		if (missing_soname(why, soname, sizeof soname) || search(soname, found, sizeof found))
			return NULL;
		if (!dlopen(found, RTLD_NOW | RTLD_GLOBAL)) {
			e = dlerror();
			snprintf(why, n, "%s (found at %s)", e ? e : soname, found);
			return NULL;
		}
		preload_cudnn_parts(found);
		if (note)
			fprintf(note, "cuda-found\t%s: %s\n", soname, found);
	}
	return NULL;
}
