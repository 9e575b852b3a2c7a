#include "core/ompenv.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int dl_omp_passive(char **argv)
{
	const char *off = getenv("DL_OMP_REEXEC");
	if (getenv("OMP_WAIT_POLICY") || (off && !strcmp(off, "0")))
		return 0;
	if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1))
		return -1;
	execv("/proc/self/exe", argv);
	return -1;
}
