/* The declared op list (lib/backend/ops.h): the CPU table is complete, a
 * table with a hole is named by dl_backend_ops_missing, the ABI number is
 * a function of the signature text and stable within a build. */
#include "test.h"

#include <string.h>

#include "backend/backend.h"

TEST(backend_ops_cpu_table_complete)
{
	dl_backend *be = dl_test_cpu(1);
	CHECK(dl_backend_ops_missing(be->ops) == NULL);
	CHECK(!strcmp(be->ops->name, "cpu"));
	dl_err err = { 0 };
	CHECK_INT(be->ops->error(be, &err), 0);
	dl_backend_close(be);
}

TEST(backend_ops_hole_is_named)
{
	dl_backend *be = dl_test_cpu(1);
	dl_backend_ops o = *be->ops;
	o.softmax = NULL;
	CHECK(dl_backend_ops_missing(&o) && !strcmp(dl_backend_ops_missing(&o), "softmax"));
	o = *be->ops;
	o.gather_f32 = NULL;   /* the last op */
	CHECK(dl_backend_ops_missing(&o) && !strcmp(dl_backend_ops_missing(&o), "gather_f32"));
	dl_backend_close(be);
}

TEST(backend_ops_abi_from_signatures)
{
	/* one field per op, in the list's order, after the name */
	CHECK_INT((int)sizeof(dl_backend_ops), (int)(sizeof(void *) * (1 + DL_BACKEND_NOPS)));
	CHECK_INT(dl_backend_abi(), dl_backend_abi());
	CHECK(dl_backend_abi() > 0);
	/* the signature text the number hashes names every op with its types */
	static const char sig[] = DL_BACKEND_SIGNATURE;
	CHECK(strstr(sig, "void gemm(dl_backend *be, int ta, int tb,") != NULL);
	CHECK(strstr(sig, "int error(dl_backend *be, dl_err *err);") != NULL);
}
