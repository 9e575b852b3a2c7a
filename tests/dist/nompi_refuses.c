/* Built by tests/cli/t0340-dist.sh against lib/dist/none.c (what a build
 * without MPI uses): launched as rank 1 of 2 (OMPI_COMM_WORLD_SIZE=2 in the
 * environment) dl_dist_open must refuse with DL_EUSAGE and say why; not
 * launched, it must give a world of one.  Prints the message; exit 0 when
 * both hold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"

int main(void)
{
	dl_err err = { 0 };
	dl_dist *d = NULL;
	setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
	setenv("OMPI_COMM_WORLD_RANK", "1", 1);
	int rc = dl_dist_open(&d, 10, &err);
	printf("%d %s\n", rc, err.msg);
	if (rc != DL_EUSAGE || !strstr(err.msg, "no MPI") || d)
		return 1;
	unsetenv("OMPI_COMM_WORLD_SIZE");
	dl_err_clear(&err);
	if (dl_dist_open(&d, 10, &err) || !d || dl_dist_size(d) != 1)
		return 1;
	dl_dist_close(d);
	return 0;
}
