/* libFuzzer target: a model spec (dl-train -m FILE, the dl.model text of a
 * checkpoint) is built and, when it builds, RUN: parameters initialised,
 * forward and backward on a batch of 2 in both modes.  No input may crash
 * or make a kernel touch memory outside its tensors (ASan). */
#include "run_model.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	dl_model m;
	dl_err err;
	if (dl_model_build(&m, text, "fuzz.spec", &err) == 0) {
		if (fuzz_model_small(&m) && dl_model_alloc(&m, fuzz_backend(), &err) == 0 &&
		    dl_model_init(&m, 1, &err) == 0)
			fuzz_run_model(&m);
		dl_model_release(&m);
	} else if (!err.msg[0] || strchr(err.msg, '\n')) {
		abort();   /* every refusal is one line */
	}
	free(text);
	return 0;
}
