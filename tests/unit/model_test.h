/* Model set-up shared by the unit tests that build whole models
 * (test_model_graph.c, test_fusion.c, test_conv_pair.c, test_bf16_link.c). */
#ifndef DL_MODEL_TEST_H
#define DL_MODEL_TEST_H

#include <stdint.h>
#include <stdio.h>

#include "nn/model.h"
#include "test.h"

/* Plan flags set before dl_model_plan (model.h) */
enum { DL_TEST_NO_FUSE = 1, DL_TEST_FOR_TRAINING = 2, DL_TEST_NO_LINK = 4 };

/* build (spec text, named `name` in messages) + alloc on be + init (seed)
 * + plan for `batch`: 0, or a failed check with the error printed and m
 * released */
static inline int dl_test_model_ready(dl_test_ctx *t, dl_model *m, dl_backend *be,
				      const char *spec, const char *name, uint64_t seed, int flags,
				      int batch)
{
	dl_err err;
	int rc = dl_model_build(m, spec, name, &err);
	if (!rc && (rc = dl_model_alloc(m, be, &err)))
		dl_model_release(m);
	if (!rc && (rc = dl_model_init(m, seed, &err)))
		dl_model_release(m);
	if (!rc) {
		m->no_fuse = (flags & DL_TEST_NO_FUSE) != 0;
		m->for_training = (flags & DL_TEST_FOR_TRAINING) != 0;
		m->no_link = (flags & DL_TEST_NO_LINK) != 0;
		if ((rc = dl_model_plan(m, batch, &err)))
			dl_model_release(m);
	}
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  %s: %s\n", t->name, err.msg);
	return rc;
}

#endif
