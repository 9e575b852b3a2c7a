/* libFuzzer target: dl_image_decode on arbitrary bytes (PNG, JPEG, PPM/PGM
 * by their first bytes).  The first byte picks want_c (0, 1 or 3) and
 * whether the decoded image also goes through resize and crop; the rest is
 * the file.  A small pixel limit keeps claimed sizes from exhausting memory. */
#include "image/image.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int want = (int[]){ 0, 1, 3, 0 }[data[0] & 3];
	/* an exact-size copy so ASan catches any read past the end */
	unsigned char *buf = malloc(size - 1 ? size - 1 : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	dl_image im, r;
	dl_err err;
	dl_image_limits lim = { (uint64_t)1 << 20, 4096 };
	if (dl_image_decode(buf, size - 1, "fuzz", &lim, want, &im, &err) == 0) {
		if (!im.px || im.w < 1 || im.h < 1 || (im.c != 1 && im.c != 3) ||
		    (want && im.c != want))
			abort();
		volatile uint8_t sink = im.px[(size_t)im.w * im.h * im.c - 1];
		(void)sink;
		if (data[0] & 4) {
			if (dl_image_resize(&im, 1 + (data[0] >> 4), 7, &r, &err) == 0)
				dl_image_free(&r);
			if (dl_image_center_crop(&im, 1, 1, &r, &err) == 0)
				dl_image_free(&r);
		}
		dl_image_free(&im);
	} else if (!err.msg[0] || im.px || !strstr(err.msg, "fuzz")) {
		abort();
	}
	free(buf);
	return 0;
}
