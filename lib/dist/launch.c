/* Was this process started by an MPI launcher, and as which rank?  Read
 * from the environment each launcher sets, so that a build without MPI
 * can still refuse to train N copies. */
#include "dist/dist.h"

#include <stdlib.h>

static int env_int(const char *name, int *v)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return 0;
	char *end;
	long x = strtol(s, &end, 10);
	if (*end || x < 0 || x > 1 << 24)
		return 0;
	*v = (int)x;
	return 1;
}

int dl_dist_launched(int *rank, int *local_rank)
{
	/* Open MPI's mpirun, then PMI-2 / PMIx (MPICH, srun --mpi=...),
	 * then plain srun */
	static const char *const sizes[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE",
					     "SLURM_STEP_NUM_TASKS" };
	static const char *const ranks[] = { "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK",
					     "SLURM_PROCID" };
	static const char *const locals[] = { "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
					      "PMIX_LOCAL_RANK", "SLURM_LOCALID" };
	*rank = *local_rank = 0;
	for (int i = 0; i < 4; i++) {
		int n;
		if (!env_int(sizes[i], &n))
			continue;
		env_int(ranks[i], rank);
		env_int(locals[i], local_rank);
		return n;
	}
	return 0;
}
