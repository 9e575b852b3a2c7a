/* The NCCL path of data-parallel training (lib/dist/nccl.h) with one rank:
 * lenet's gradients summed through NCCL in buckets started during backward
 * (as dl-train under mpirun does on GPUs) must equal the gradients without
 * NCCL bit for bit (a sum over one rank is the identity), and the compute
 * stream must see the sums (the optimizer step after the wait reads them).
 * Runs without MPI: the communicator's id is made locally. */
#include "gpu.h"

#include <string.h>

#include "dist/nccl.h"
#include "nn/model.h"

typedef struct hook {
	dl_nccl_api *api;
	dl_nccl *c;
	float *g;
	size_t n, cap, next;       /* buckets from the end; next: first not started */
	int fails;
} hook;

static void ready(void *ctx, size_t from)
{
	hook *h = ctx;
	char msg[200];
	while (h->next > 0) {
		size_t lo = h->next > h->cap ? h->next - h->cap : 0;
		if (lo < from)
			break;
		if (h->api->sum(h->c, h->g + lo, h->next - lo, msg, sizeof msg)) {
			fprintf(stderr, "  nccl sum: %s\n", msg);
			h->fails++;
		}
		h->next = lo;
	}
}

TEST(gpu_nccl_one_rank_equals_no_nccl)
{
	gpu_pair p;
	if (gpu_open(t, &p, "fp32"))
		return;
	dl_err err = { 0 };
	dl_nccl_api api;
	dl_nccl *c = NULL;
	unsigned char id[DL_NCCL_ID_BYTES];
	char msg[200] = "";
	dl_model m = { 0 };
	int batch = 16;
	if (dl_nccl_load(&api, &err)) {
		fprintf(stderr, "  %s\n", err.msg);
		t->failed = 1;
		gpu_close(&p);
		return;
	}
	if (api.id(id, msg, sizeof msg) || api.open(&c, p.gpu, id, 1, 0, msg, sizeof msg)) {
		fprintf(stderr, "  nccl: %s\n", msg);
		t->failed = 1;
		gpu_close(&p);
		return;
	}
	if (dl_model_load(&m, "lenet", &err) || dl_model_alloc(&m, p.gpu, &err) ||
	    dl_model_init(&m, 5, &err) || dl_model_plan(&m, batch, &err)) {
		fprintf(stderr, "  %s\n", err.msg);
		t->failed = 1;
		goto done;
	}
	dl_model_set_training(&m, 1);
	int k = dl_model_output_shape(&m).c;
	size_t nin = dl_shape_size(m.input) * (size_t)batch, np = m.nparams;
	int32_t lab[16];
	for (int i = 0; i < batch; i++)
		lab[i] = i % k;
	int32_t *lg = gpu_bytes_g(&p, lab, sizeof lab);
	gpu_buf x = gpu_rand_buf(&p, nin, -1, 1), st = gpu_rand_buf(&p, 2, 0, 0);
	float *a = malloc(np * sizeof *a), *b = malloc(np * sizeof *b);
	for (int pass = 0; pass < 2; pass++) {
		hook h = { &api, c, m.grads, np, 4096, np, 0 };
		p.gpu->ops->to_device(p.gpu, m.x, x.h, nin * sizeof(float));
		dl_model_forward(&m, batch);
		p.gpu->ops->zero(p.gpu, m.grads, np * sizeof(float));
		p.gpu->ops->softmax_xent(p.gpu, batch, k, dl_model_output(&m), lg, 0, 1.0f / batch,
					 dl_model_doutput(&m), st.g);
		m.grads_ready = pass ? ready : NULL;
		m.grads_ctx = &h;
		dl_model_backward(&m, batch);
		if (pass) {
			ready(&h, 0);
			int w = api.wait(c, 30, msg, sizeof msg);
			if (w || h.fails) {
				fprintf(stderr, "  nccl wait %d: %s\n", w, msg);
				t->failed = 1;
			}
		}
		p.gpu->ops->to_host(p.gpu, pass ? b : a, m.grads, np * sizeof(float));
	}
	CHECK(memcmp(a, b, np * sizeof *a) == 0);
	free(a);
	free(b);
	gpu_buf_free(&p, &x);
	gpu_buf_free(&p, &st);
	p.gpu->ops->free(p.gpu, lg);
done:
	dl_model_release(&m);
	api.close(c);
	gpu_close(&p);
}
