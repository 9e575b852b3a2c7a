/* Built-in model specs: models/NAME.spec compiled in as text. */
#ifndef DL_NN_BUILTIN_H
#define DL_NN_BUILTIN_H

typedef struct dl_builtin_model {
	const char *name;
	const char *spec;
} dl_builtin_model;

/* Terminated by { NULL, NULL }; generated from models/ at build time. */
extern const dl_builtin_model dl_builtin_models[];

/* The spec text of a built-in model, or NULL. */
const char *dl_builtin_spec(const char *name);

#endif
