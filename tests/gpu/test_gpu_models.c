/* Whole models on the GPU against the CPU: every spec in models/ (so every
 * layer kind a built-in uses) and the small specs of tests/gpu/models/
 * that cover the rest (kinds.spec: leaky relu with a negative slope, tanh,
 * sigmoid, gelu, average pooling, grouped and dilated convolution, concat,
 * dropout; regress.spec: an MSE head).  For each: the forward output,
 * every parameter gradient through the model's own loss (cross-entropy on
 * labels, or MSE/Huber on float targets: pilotnet's gradients through a
 * softmax would be exactly 0), then Adam steps with the same batches.
 * Peak device memory per model is printed (DL_CUDA_MEMSTATS, set by
 * tests/gpu/run).  DL_GPU_MODEL_BATCH (default 8) and DL_GPU_MODELS (a
 * substring of the file names to run) keep the run short.
 *
 * Tolerances (relative L2 over a whole tensor, gpu.h):
 *   forward output   GPU_TOL_MODEL_FWD  1e-3
 *   gradients        GPU_TOL_MODEL_GRAD 1e-2
 *   parameters       GPU_TOL_MODEL_FWD  after the Adam steps
 * Why these bounds: each side computes in fp32 with its own summation
 * order, so activations differ by ~1e-6 relative per layer, ~1e-5 after
 * 50 layers.  Where a ReLU input or a max-pool pair lies within that of a
 * tie, the two sides take different branches: the output barely moves
 * (the branches meet at the tie), but the gradient of that unit moves by
 * O(|dy|).  With uniform random inputs a fraction of about 1e-5 of the
 * units is that close, so the gradient's relative L2 error is about
 * sqrt(1e-5) ~ 3e-3 for the deepest models: 1e-2 holds against such
 * near-tie flips with margin, while a real defect (a wrong kernel, a
 * missing accumulation, an unwritten output: NaN) gives errors of order 1.
 * Adam divides by sqrt(v), so a flipped tiny gradient moves its weight by
 * up to 2 lr = 2e-3 absolute: over all weights that stays under 1e-3. */
#include "gpu.h"

#include <dirent.h>
#include <string.h>

#include "nn/loss.h"
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

/* Labels (xent) or float targets (regression) for one batch, both sides. */
typedef struct targets {
	int32_t *lc, *lg;
	gpu_buf t;
} targets;

static targets make_targets(gpu_pair *p, const dl_model *m, int batch, int k)
{
	targets tg;
	memset(&tg, 0, sizeof tg);
	if (dl_loss_is_regression(&m->loss)) {
		tg.t = gpu_rand_buf(p, (size_t)batch * k, -1, 1);
		return tg;
	}
	int32_t lab[256];
	for (int i = 0; i < batch; i++)
		lab[i] = (int32_t)gpu_rand(p, 0, (float)k);
	tg.lc = gpu_bytes_c(p, lab, (size_t)batch * sizeof *lab);
	tg.lg = gpu_bytes_g(p, lab, (size_t)batch * sizeof *lab);
	return tg;
}

static void free_targets(gpu_pair *p, targets *tg)
{
	if (tg->t.h)
		gpu_buf_free(p, &tg->t);
	if (tg->lc)
		p->cpu->ops->free(p->cpu, tg->lc);
	if (tg->lg)
		p->gpu->ops->free(p->gpu, tg->lg);
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
	const char *bs = getenv("DL_GPU_MODEL_BATCH");
	int batch = bs && atoi(bs) > 0 && atoi(bs) <= 256 ? atoi(bs) : 8;
	int was_failed = t->failed;
	t->failed = 0;
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
	gpu_buf st = gpu_rand_buf(&p, DL_LOSS_NSTATS, 0, 0);
	for (int step = 0; step < 3 && !t->failed; step++) {
		targets tg = make_targets(&p, &mc, batch, k);
		gpu_buf x = gpu_rand_buf(&p, nin, -1, 1);
		p.cpu->ops->to_device(p.cpu, mc.x, x.h, nin * sizeof(float));
		p.gpu->ops->to_device(p.gpu, mg.x, x.h, nin * sizeof(float));
		gpu_buf_free(&p, &x);
		mc.run.step = mg.run.step = (uint64_t)step;   /* same dropout masks */
		mc.run.seed = mg.run.seed = 99;
		dl_model_forward(&mc, batch);
		dl_model_forward(&mg, batch);
		gpu_buf out = view(dl_model_output(&mc), dl_model_output(&mg), nout);
		CHECK_REL(&p, &out, GPU_TOL_MODEL_FWD);
		p.cpu->ops->zero(p.cpu, mc.grads, mc.nparams * sizeof(float));
		p.gpu->ops->zero(p.gpu, mg.grads, mg.nparams * sizeof(float));
		dl_loss_apply(&mc.loss, p.cpu, batch, k, dl_model_output(&mc), tg.lc, tg.t.c, 1.0f,
			      dl_model_doutput(&mc), st.c);
		dl_loss_apply(&mg.loss, p.gpu, batch, k, dl_model_output(&mg), tg.lg, tg.t.g, 1.0f,
			      dl_model_doutput(&mg), st.g);
		dl_model_backward(&mc, batch);
		dl_model_backward(&mg, batch);
		gpu_buf gr = view(mc.grads, mg.grads, mc.nparams);
		CHECK_REL(&p, &gr, GPU_TOL_MODEL_GRAD);
		dl_optim_step(&oc, mc.params, mc.grads, 1e-3f);
		dl_optim_step(&og, mg.params, mg.grads, 1e-3f);
		gpu_buf pr = view(mc.params, mg.params, mc.nparams);
		CHECK_REL(&p, &pr, GPU_TOL_MODEL_FWD);
		if (mc.nbuffers) {
			gpu_buf bu = view(mc.buffers, mg.buffers, mc.nbuffers);
			CHECK_REL(&p, &bu, GPU_TOL_MODEL_FWD);
		}
		free_targets(&p, &tg);
		if (t->failed)
			fprintf(stderr, "  model %s, step %d\n", path, step);
	}
	CHECK_REL(&p, &st, GPU_TOL_MODEL_FWD);
	gpu_check_error(t, &p);
	gpu_buf_free(&p, &st);
	fprintf(stderr, "%s gpu model %s (%zu parameters, batch %d, loss %s)\n",
		t->failed ? "not ok" : "ok", path, mc.nparams, batch, dl_loss_name(&mc.loss));
done:
	dl_optim_release(&oc);
	dl_optim_release(&og);
	dl_model_release(&mc);
	dl_model_release(&mg);
	gpu_close(&p);   /* prints the GPU's peak memory with DL_CUDA_MEMSTATS */
	t->failed |= was_failed;
}

static int each_spec(dl_test_ctx *t, const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d) {
		fprintf(stderr, "  %s: cannot open %s\n", t->name, dir);
		t->failed = 1;
		return 0;
	}
	const char *only = getenv("DL_GPU_MODELS");
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".spec"))
			continue;
		if (only && *only && !strstr(e->d_name, only))
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
	const char *only = getenv("DL_GPU_MODELS");
	CHECK(n >= (only && *only ? 1 : 10));   /* 8 built-ins + 2 test specs */
}
