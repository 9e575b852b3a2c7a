/* The data-parallel parts of the training loop (lib/dist underneath):
 * which slice of a batch this rank takes, summed loss statistics, and rank
 * 0's state handed to every rank at checkpoints. */
#include "train/pass.h"

#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"

int dl_par_size(const dl_train_opts *o)
{
	return o->dist ? dl_dist_size(o->dist) : 1;
}

int dl_par_rank(const dl_train_opts *o)
{
	return o->dist ? dl_dist_rank(o->dist) : 0;
}

void dl_par_slice(const dl_train_opts *o, int n, int *lo, int *count)
{
	long r = dl_par_rank(o), p = dl_par_size(o);
	long a = (long)n * r / p, b = (long)n * (r + 1) / p;
	*lo = (int)a;
	*count = (int)(b - a);
}

int dl_par_check(const dl_train_opts *o, long n, dl_err *err)
{
	int p = dl_par_size(o);
	if (p < 2)
		return 0;
	long last = n % o->batch ? n % o->batch : o->batch;
	if (o->batch < p || last < p)
		return dl_fail(err, DL_EUSAGE, "%d ranks need at least %d samples in every batch, but "
			       "--batch is %d and the epoch's last batch has %ld of the %ld samples: "
			       "change --batch or the number of ranks", p, p, o->batch, last, n);
	return 0;
}

static void grads_ready(void *ctx, size_t from)
{
	dl_dist_grads_ready(ctx, from);
}

void dl_par_backward_begin(dl_model *m, const dl_train_opts *o)
{
	if (dl_par_size(o) < 2)
		return;
	m->grads_ready = grads_ready;
	m->grads_ctx = o->dist;
	dl_dist_grads_begin(o->dist, m->grads, m->nparams, o->bucket_floats ? o->bucket_floats : 1);
}

int dl_par_backward_end(dl_model *m, const dl_train_opts *o, long step, dl_err *err)
{
	if (dl_par_size(o) < 2)
		return 0;
	m->grads_ready = NULL;
	int rc = dl_dist_error(o->dist, err);   /* a sync batch-norm sum that failed */
	return rc ? rc : dl_dist_grads_wait(o->dist, step, err);
}

int dl_par_stats(const dl_train_opts *o, dl_backend *be, float *dev, float *host, long step,
		 dl_err *err)
{
	float d[DL_LOSS_NSTATS];
	be->ops->to_host(be, d, dev, sizeof d);
	int rc = dl_dist_sum(o->dist, d, DL_LOSS_NSTATS, "the loss statistics", step, err);
	if (rc)
		return rc;
	for (int i = 0; i < DL_LOSS_NSTATS; i++)
		host[i] += d[i];
	be->ops->zero(be, dev, sizeof d);
	return 0;
}

/* Device block [0, floats) from rank 0, through host memory (MPI sees
 * host buffers only). */
static int share(const dl_train_opts *o, dl_backend *be, float *dev, size_t floats, float *host,
		 long step, dl_err *err)
{
	if (!dev || !floats)
		return 0;
	be->ops->to_host(be, host, dev, floats * sizeof(float));
	int rc = dl_dist_bcast(o->dist, host, floats * sizeof(float), step, err);
	if (!rc)
		be->ops->to_device(be, dev, host, floats * sizeof(float));
	return rc;
}

int dl_par_share_state(const dl_train_opts *o, dl_model *m, dl_optim *opt, long step, dl_err *err)
{
	if (dl_par_size(o) < 2)
		return 0;
	size_t most = m->nparams > m->nbuffers ? m->nparams : m->nbuffers;
	size_t ostate = (size_t)opt->nstate * opt->n;
	most = most > ostate ? most : ostate;
	float *host = malloc((most ? most : 1) * sizeof(float));
	if (!host)
		return dl_fail(err, DL_EFAIL, "out of memory");
	int rc = share(o, m->be, m->params, m->nparams, host, step, err);
	if (!rc)
		rc = share(o, m->be, m->buffers, m->nbuffers, host, step, err);
	if (!rc)
		rc = share(o, opt->be, opt->state, ostate, host, step, err);
	free(host);
	return rc;
}
