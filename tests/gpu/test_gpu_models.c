/* Whole models on the GPU against the CPU: every spec in models/ (so every
 * layer kind a built-in uses, and the small specs of tests/gpu/models/
 * that cover the rest): forward output, every parameter gradient through
 * the model's backward, then a few Adam steps with the same batches.
 * Peak device memory per model is printed (DL_CUDA_MEMSTATS, set by
 * tests/gpu/run). */
#include "gpu.h"

#include <dirent.h>
#include <string.h>

#include "nn/model.h"
#include "nn/optim.h"

/* Copies the CPU model's parameters and buffers into the GPU model. */
static void copy_params(dl_model *c, dl_model *g)
{
	size_t np = c->nparams, nb = c->nbuffers;
	float *h = malloc(((np > nb ? np : nb) + 1) * sizeof *h);
	c->be->ops->to_host(c->be, h, c->params, np * sizeof *h);
	g->be->ops->to_device(g->be, g->params, h, np * sizeof *h);
	if (nb) {
		c->be->ops->to_host(c->be, h, c->buffers, nb * sizeof *h);
		g->be->ops->to_device(g->be, g->buffers, h, nb * sizeof *h);
	}
	free(h);
}

static gpu_buf view(float *c, float *g, size_t n)
{
	gpu_buf b = { n, NULL, c, g };
	return b;
}

/* One model file: forward, gradients, 3 Adam steps. */
static void model_case(dl_test_ctx *t, const char *path)
{
	gpu_pair p;
	if (gpu_open(t, &p, "fp32"))
		return;
	dl_err err = { 0 };
	dl_model mc = { 0 }, mg = { 0 };
	dl_optim oc = { 0 }, og = { 0 };
	int batch = 16;
	if (dl_model_load(&mc, path, &err) || dl_model_load(&mg, path, &err) ||
	    dl_model_alloc(&mc, p.cpu, &err) || dl_model_alloc(&mg, p.gpu, &err) ||
	    dl_model_init(&mc, 7, &err) || dl_model_plan(&mc, batch, &err) ||
	    dl_model_plan(&mg, batch, &err) ||
	    dl_optim_init(&oc, DL_OPTIM_ADAM, 1e-3f, mc.nparams, p.cpu, &err) ||
	    dl_optim_init(&og, DL_OPTIM_ADAM, 1e-3f, mg.nparams, p.gpu, &err) ||
	    dl_optim_ready(&oc, &err) || dl_optim_ready(&og, &err)) {
		fprintf(stderr, "  %s: %s: %s\n", t->name, path, err.msg);
		t->failed = 1;
		goto done;
	}
	copy_params(&mc, &mg);
	dl_model_set_training(&mc, 1);
	dl_model_set_training(&mg, 1);
	int k = dl_model_output_shape(&mc).c;
	size_t nin = dl_shape_size(mc.input) * (size_t)batch, nout = (size_t)k * batch;
	int32_t lab[16];
	gpu_buf st = gpu_rand_buf(&p, 2, 0, 0);
	for (int step = 0; step < 4 && !t->failed; step++) {
		for (int i = 0; i < batch; i++)
			lab[i] = (int32_t)gpu_rand(&p, 0, (float)k);
		int32_t *lc = gpu_bytes_c(&p, lab, sizeof lab), *lg = gpu_bytes_g(&p, lab, sizeof lab);
		gpu_buf x = gpu_rand_buf(&p, nin, -1, 1);
		p.cpu->ops->to_device(p.cpu, mc.x, x.h, nin * sizeof(float));
		p.gpu->ops->to_device(p.gpu, mg.x, x.h, nin * sizeof(float));
		gpu_buf_free(&p, &x);
		mc.run.step = mg.run.step = (uint64_t)step;   /* same dropout masks */
		mc.run.seed = mg.run.seed = 99;
		dl_model_forward(&mc, batch);
		dl_model_forward(&mg, batch);
		gpu_buf out = view(dl_model_output(&mc), dl_model_output(&mg), nout);
		CHECK_REL(&p, &out, GPU_TOL_FP32);
		p.cpu->ops->zero(p.cpu, mc.grads, mc.nparams * sizeof(float));
		p.gpu->ops->zero(p.gpu, mg.grads, mg.nparams * sizeof(float));
		p.cpu->ops->softmax_xent(p.cpu, batch, k, dl_model_output(&mc), lc, 0, 1.0f / batch,
					 dl_model_doutput(&mc), st.c);
		p.gpu->ops->softmax_xent(p.gpu, batch, k, dl_model_output(&mg), lg, 0, 1.0f / batch,
					 dl_model_doutput(&mg), st.g);
		dl_model_backward(&mc, batch);
		dl_model_backward(&mg, batch);
		gpu_buf gr = view(mc.grads, mg.grads, mc.nparams);
		CHECK_REL(&p, &gr, GPU_TOL_FP32);
		dl_optim_step(&oc, mc.params, mc.grads, oc.lr);
		dl_optim_step(&og, mg.params, mg.grads, og.lr);
		gpu_buf pr = view(mc.params, mg.params, mc.nparams);
		CHECK_REL(&p, &pr, GPU_TOL_FP32);
		if (mc.nbuffers) {
			gpu_buf bu = view(mc.buffers, mg.buffers, mc.nbuffers);
			CHECK_REL(&p, &bu, GPU_TOL_FP32);
		}
		p.cpu->ops->free(p.cpu, lc);
		p.gpu->ops->free(p.gpu, lg);
		if (t->failed)
			fprintf(stderr, "  model %s, step %d\n", path, step);
	}
	CHECK_REL(&p, &st, GPU_TOL_FP32);
	gpu_buf_free(&p, &st);
	fprintf(stderr, "gpu model %s (%zu parameters, batch %d):\n", path, mc.nparams, batch);
done:
	dl_optim_release(&oc);
	dl_optim_release(&og);
	dl_model_release(&mc);
	dl_model_release(&mg);
	gpu_close(&p);   /* prints the GPU's peak memory with DL_CUDA_MEMSTATS */
}

static int each_spec(dl_test_ctx *t, const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".spec"))
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		model_case(t, path);
		n++;
	}
	closedir(d);
	return n;
}

TEST(gpu_models_match_cpu)
{
	const char *root = getenv("DL_ROOT");
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/models", root ? root : ".");
	int n = each_spec(t, dir);
	snprintf(dir, sizeof dir, "%s/tests/gpu/models", root ? root : ".");
	n += each_spec(t, dir);
	CHECK(n >= 3);   /* perceptron, mlp, lenet at least */
}
