/* dl-train's files: no output may be an input, every output guarded. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/guard.h"
#include "core/iocheck.h"
#include "dist/dist.h"
#include "run.h"

char *run_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

int run_io(const cli *c, dl_guard *g, dl_err *err)
{
	if (!c->out)   /* --summary alone writes nothing */
		return 0;
	char *ckpt = run_join(c->out, "model.safetensors");
	char *best = run_join(c->out, "best.safetensors"), *log = run_join(c->out, "log.jsonl");
	int rc = 0;
	if (!ckpt || !best || !log) {
		rc = dl_fail(err, DL_EFAIL, "out of memory");
		goto out;
	}
	/* the run's own checkpoint is read on --resume and rewritten: by design */
	const dl_iofile in[] = {
		{ "--train", c->r.train }, { "--val", c->r.val },
		{ "-m", c->r.model && access(c->r.model, F_OK) == 0 ? c->r.model : NULL },
	};
	const dl_iofile outs[] = {
		{ "-o", ckpt }, { "-o", best }, { "--log", c->log_path ? c->log_path : log },
		{ "--csv-log", c->csv_path }, { "--save-init", c->save_init },
	};
	int nout = (int)(sizeof outs / sizeof outs[0]);
	if ((rc = dl_io_check(in, 3, outs, nout, err)))
		goto out;
	/* under mpirun/srun rank 0 alone writes: the others check the names
	 * (each rank fails alike) but guard nothing */
	if (c->dist && dl_dist_rank(c->dist) != 0)
		goto out;
	for (int i = 0; i < nout && !rc; i++)
		rc = dl_guard_output(g, outs[i].path, 0, err);
out:
	free(ckpt);
	free(best);
	free(log);
	return rc;
}
