/* Forward passes of graph models compared with PyTorch: batch norm in both
 * modes (running statistics after a step included), dropout with our mask,
 * residual add, concat.  For each case we write x, the parameters and
 * buffers and our outputs to a safetensors file and run
 * tests/torch/check_graph.py on it (/usr/bin/python3 with torch, which CI
 * installs: a missing torch fails the test). */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/rng.h"
#include "io/safetensors.h"
#include "nn/builtin.h"
#include "nn/model.h"

static void fill(float *p, size_t n, dl_rng *r, float lo, float hi)
{
	for (size_t i = 0; i < n; i++)
		p[i] = lo + (hi - lo) * dl_rng_uniform(r);
}

/* names live as long as the writer needs them */
typedef struct names {
	char s[64][40];
	int n;
} names;

static const char *nm(names *ns, const char *fmt, int a, int b)
{
	char *s = ns->s[ns->n++ % 64];
	snprintf(s, 40, fmt, a, b);
	return s;
}

/* builtin: also run by its torchvision equivalent (check_graph.py) */
static void torch_case(dl_test_ctx *t, const char *tag, const char *spec, int n,
		       const char *builtin)
{
	dl_backend *be = NULL;
	dl_err err;
	dl_model m;
	if (builtin)
		spec = dl_builtin_spec(builtin);
	if (dl_backend_cpu_open(&be, 2, &err) || dl_model_build(&m, spec, tag, &err) ||
	    dl_model_alloc(&m, be, &err) || dl_model_init(&m, 5, &err) ||
	    dl_model_plan(&m, n, &err)) {
		CHECK(0);
		fprintf(stderr, "  %s: %s\n", t->name, err.msg);
		return;
	}
	dl_rng r;
	dl_rng_seed(&r, 11);
	size_t nin = dl_shape_size(m.input) * (size_t)n, nout = dl_model_output_shape(&m).c * (size_t)n;
	fill(m.x, nin, &r, -2, 2);
	/* batch norm's gamma, beta and running stats away from 1, 0 */
	for (int i = 0; i < m.nlayers; i++) {
		dl_layer *l = &m.layers[i];
		if (strcmp(l->kind->name, "batchnorm"))
			continue;
		fill(l->p[0], l->param[0].count, &r, 0.5f, 1.5f);
		fill(l->p[1], l->param[1].count, &r, -0.5f, 0.5f);
		fill(l->b[0], l->buf[0].count, &r, -0.3f, 0.3f);
		fill(l->b[1], l->buf[1].count, &r, 0.5f, 2.0f);
	}
	float *b0 = malloc((m.nbuffers + 1) * sizeof *b0);
	float *ys = malloc(3 * nout * sizeof *ys);
	memcpy(b0, m.buffers, m.nbuffers * sizeof *b0);
	m.run.seed = 1234;
	m.run.step = 7;
	dl_model_forward(&m, n);
	memcpy(ys, dl_model_output(&m), nout * sizeof *ys);
	dl_model_set_training(&m, 1);
	dl_model_forward(&m, n);
	memcpy(ys + nout, dl_model_output(&m), nout * sizeof *ys);
	dl_model_set_training(&m, 0);
	dl_model_forward(&m, n);
	memcpy(ys + 2 * nout, dl_model_output(&m), nout * sizeof *ys);

	dl_st_writer w;
	names ns = { .n = 0 };
	dl_st_writer_init(&w);
	int64_t xs[4] = { n, m.input.h, m.input.w, m.input.c }, os[2] = { n, (int64_t)(nout / n) };
	int rc = dl_st_add(&w, "x", DL_F32, 4, xs, m.x, &err);
	static const char *yn[3] = { "y_eval", "y_train", "y_eval2" };
	for (int k = 0; k < 3 && !rc; k++)
		rc = dl_st_add(&w, yn[k], DL_F32, 2, os, ys + k * nout, &err);
	for (int i = 0; i < m.nlayers && !rc; i++) {
		dl_layer *l = &m.layers[i];
		for (int j = 0; j < l->nparam && !rc; j++)
			rc = dl_st_add(&w, nm(&ns, "p.%d.%d", i, j), DL_F32, l->param[j].ndim,
				       l->param[j].shape, l->p[j], &err);
		for (int j = 0; j < l->nbuf && !rc; j++) {
			rc = dl_st_add(&w, nm(&ns, "b.%d.%d", i, j), DL_F32, l->buf[j].ndim,
				       l->buf[j].shape, b0 + l->buf[j].offset, &err);
			if (!rc)
				rc = dl_st_add(&w, nm(&ns, "rb.%d.%d", i, j), DL_F32, l->buf[j].ndim,
					       l->buf[j].shape, l->b[j], &err);
		}
	}
	char path[600], cmd[2000], seed[32], step[32];
	snprintf(path, sizeof path, "%s/torch-%s.safetensors", dl_test_tmpdir(), tag);
	snprintf(seed, sizeof seed, "%llu", (unsigned long long)m.run.seed);
	snprintf(step, sizeof step, "%llu", (unsigned long long)m.run.step);
	if (!rc)
		rc = dl_st_add_meta(&w, "spec", spec, &err);
	if (!rc)
		rc = dl_st_add_meta(&w, "seed", seed, &err);
	if (!rc)
		rc = dl_st_add_meta(&w, "step", step, &err);
	if (!rc && builtin)
		rc = dl_st_add_meta(&w, "torchvision", builtin, &err);
	if (!rc)
		rc = dl_st_write(&w, path, &err);
	CHECK_INT(rc, 0);
	dl_st_writer_release(&w);
	if (!rc) {
		const char *root = getenv("DL_ROOT") ? getenv("DL_ROOT") : ".";
		snprintf(cmd, sizeof cmd, "OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 %s/tests/torch/check_graph.py %s > %s.log 2>&1",
			 root, path, path);
		int st = system(cmd);
		CHECK_INT(st, 0);
		if (st || getenv("VERBOSE")) {
			snprintf(cmd, sizeof cmd, "cat %s.log >&2", path);
			if (system(cmd))
				fprintf(stderr, "  (no log)\n");
		}
	}
	free(b0);
	free(ys);
	dl_model_release(&m);
	dl_backend_close(be);
}

TEST(model_torch_batchnorm)
{
	torch_case(t, "bn", "input h=6 w=5 c=3\nconv2d filters=4 size=3 pad=same bias=0\n"
		   "batchnorm momentum=0.2\nrelu\nmaxpool size=2\nflatten\ndense units=6\n"
		   "batchnorm eps=0.001\ndense units=3\n", 4, NULL);
}

TEST(model_torch_residual_concat_dropout)
{
	torch_case(t, "res", "input h=8 w=8 c=3\nconv2d filters=8 size=3 pad=same bias=0\n"
		   "batchnorm\nrelu name=stem\n"
		   "conv2d filters=16 size=3 stride=2 pad=1 bias=0\nbatchnorm\nrelu\n"
		   "conv2d filters=16 size=3 pad=same bias=0\nbatchnorm name=main\n"
		   "conv2d filters=16 size=1 stride=2 bias=0 from=stem\nbatchnorm name=short\n"
		   "add from=main,short\nrelu name=r\n"
		   "conv2d filters=4 size=1 name=side\nconcat from=r,side\n"
		   "dropout p=0.3\nflatten\ndense units=10\n", 3, NULL);
}

/* the built-in resnet18 is torchvision's resnet18 with our stem, layer for
 * layer (its parameters load in order and give the same outputs) */
TEST(model_torch_resnet18_is_torchvision)
{
	torch_case(t, "resnet18", NULL, 2, "resnet18");
}
