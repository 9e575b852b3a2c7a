#include "nn/builtin.h"

#include <string.h>

const char *dl_builtin_spec(const char *name)
{
	for (const dl_builtin_model *m = dl_builtin_models; m->name; m++)
		if (!strcmp(m->name, name))
			return m->spec;
	return NULL;
}
