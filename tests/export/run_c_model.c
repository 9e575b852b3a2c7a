/* Test driver for `dl-export --format c --name dlmodel`: reads u8 images
 * (N x IN_H x IN_W x IN_C bytes, HWC) from stdin, runs dlmodel_preprocess +
 * dlmodel_forward on each, writes the outputs as raw float32 (N x OUTPUTS)
 * to stdout.  Built by tests/cli/t0510-export-onnx-c.sh against the
 * generated dlmodel.c / dlmodel.h. */
#include <stdio.h>
#include <stdlib.h>

#include "dlmodel.h"

int main(void)
{
	enum { PX = dlmodel_IN_H * dlmodel_IN_W * dlmodel_IN_C };
	unsigned char *px = malloc(PX);
	float *x = malloc(sizeof(float) * PX), *y = malloc(sizeof(float) * dlmodel_OUTPUTS);
	float *work = malloc(sizeof(float) * dlmodel_WORK_FLOATS);
	long n = 0;
	if (!px || !x || !y || !work)
		return 1;
	while (fread(px, 1, PX, stdin) == PX) {
		dlmodel_preprocess(px, x);
		dlmodel_forward(x, y, work);
		if (fwrite(y, sizeof(float), dlmodel_OUTPUTS, stdout) != dlmodel_OUTPUTS)
			return 1;
		n++;
	}
	fprintf(stderr, "run_c_model: %ld samples, last argmax %d\n", n, n ? dlmodel_argmax(y) : -1);
	free(px);
	free(x);
	free(y);
	free(work);
	return ferror(stdin) || fclose(stdout) ? 1 : 0;
}
