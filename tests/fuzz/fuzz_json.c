/* libFuzzer target: dl_json_parse on arbitrary bytes; accepted strings
 * must survive a write (dl_buf_json_string) and re-parse unchanged. */
#include "core/buf.h"
#include "core/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks the tree, checking strings have their stated length. */
static void walk(const dl_json *j, int depth)
{
	if (depth > 65)
		abort();
	switch (j->type) {
	case DL_JSON_STRING:
		if (strlen(j->str) != j->len)
			abort();
		break;
	case DL_JSON_OBJECT:
		for (size_t i = 0; i < j->len; i++) {
			if (dl_json_get(j, j->keys[i]) != &j->items[i])
				abort();   /* keys are unique */
			walk(&j->items[i], depth + 1);
		}
		break;
	case DL_JSON_ARRAY:
		for (size_t i = 0; i < j->len; i++)
			walk(&j->items[i], depth + 1);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	dl_json *j;
	dl_err err;
	if (dl_json_parse(buf, size, "fuzz", &j, &err) == 0) {
		walk(j, 0);
		if (j->type == DL_JSON_STRING) {
			dl_buf b;
			dl_buf_init(&b);
			dl_buf_json_string(&b, j->str);
			dl_json *k;
			if (b.oom || dl_json_parse(b.p, b.len, "re", &k, &err) != 0 ||
			    k->type != DL_JSON_STRING || strcmp(k->str, j->str))
				abort();
			dl_json_free(k);
			dl_buf_release(&b);
		}
		dl_json_free(j);
	}
	free(buf);
	return 0;
}
