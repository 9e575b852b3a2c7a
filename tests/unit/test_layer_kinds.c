/* The layer-kind table (lib/nn/layers/kinds.h): names come from it, every
 * kind is found by its name, and a kind's typed options are read only
 * through its own accessor. */
#include "test.h"

#include "nn/layer.h"
#include "nn/layers/act.h"
#include "nn/layers/batchnorm.h"
#include "nn/layers/conv2d.h"
#include "nn/layers/dense.h"
#include "nn/layers/dropout.h"
#include "nn/layers/pool.h"
#include "nn/model.h"

TEST(layer_kind_names_from_table)
{
	char names[512], want[512] = "";
	dl_layer_kind_names(names, sizeof names);
	int n = 0;
	for (const dl_layer_kind *k; (k = dl_layer_kind_at(n)); n++) {
		CHECK(dl_layer_kind_find(k->name) == k);
		CHECK(k->configure && k->torch);
		size_t o = strlen(want);
		snprintf(want + o, sizeof want - o, "%s%s", n ? ", " : "", k->name);
	}
	CHECK(n >= 15);
	CHECK(!strcmp(names, want));
	CHECK(dl_layer_kind_find("nope") == NULL);
	CHECK(dl_layer_kind_at(-1) == NULL);
	/* a short buffer is truncated, never overrun */
	char small[8];
	dl_layer_kind_names(small, sizeof small);
	CHECK_INT(strlen(small), 7);
	/* the "known:" list of the unknown-layer message is the table's */
	dl_model m;
	dl_err err;
	CHECK(dl_model_build(&m, "input h=2 w=2 c=1\nnope\n", "t.spec", &err) != 0);
	CHECK_STR_HAS(err.msg, names);
}

TEST(layer_typed_options)
{
	dl_model m;
	dl_err err;
	int rc = dl_model_build(&m, "input h=8 w=8 c=2\n"
				"conv2d filters=4 size=3 stride=1 pad=same dilation=1 groups=2 bias=0\n"
				"leaky_relu slope=0.25\nbatchnorm eps=0.001 momentum=0.2\n"
				"avgpool size=3 stride=2 pad=1\ndropout p=0.3\nflatten\n"
				"dense units=5 bias=1\n", "t.spec", &err);
	CHECK_INT(rc, 0);
	if (rc)
		return;
	const dl_conv2d_opts *c = dl_conv2d_opts_of(&m.layers[0]);
	CHECK(c && c->filters == 4 && c->size == 3 && c->stride == 1 && c->pad == 1 &&
	      c->dilation == 1 && c->groups == 2 && c->bias == 0);
	const dl_act_opts *a = dl_act_opts_of(&m.layers[1]);
	CHECK(a && a->act == DL_ACT_LEAKY_RELU);
	CHECK_NEAR(a ? a->slope : 0, 0.25, 0);
	const dl_batchnorm_opts *b = dl_batchnorm_opts_of(&m.layers[2]);
	CHECK(b != NULL);
	CHECK_NEAR(b ? b->eps : 0, 0.001, 1e-9);
	CHECK_NEAR(b ? b->momentum : 0, 0.2, 1e-7);
	const dl_pool_opts *p = dl_pool_opts_of(&m.layers[3]);
	CHECK(p && p->size == 3 && p->stride == 2 && p->pad == 1);
	const dl_dropout_opts *d = dl_dropout_opts_of(&m.layers[4]);
	CHECK_NEAR(d ? d->p : 0, 0.3, 1e-7);
	const dl_dense_opts *e = dl_dense_opts_of(&m.layers[6]);
	CHECK(e && e->units == 5 && e->bias == 1);
	/* an accessor refuses another kind's layer */
	CHECK(dl_conv2d_opts_of(&m.layers[1]) == NULL);
	CHECK(dl_act_opts_of(&m.layers[0]) == NULL);
	CHECK(dl_pool_opts_of(&m.layers[6]) == NULL);
	CHECK(dl_dense_opts_of(&m.layers[3]) == NULL);
	CHECK(dl_batchnorm_opts_of(&m.layers[4]) == NULL);
	CHECK(dl_dropout_opts_of(&m.layers[2]) == NULL);
	dl_model_release(&m);
}
