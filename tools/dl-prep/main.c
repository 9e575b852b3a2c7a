/* dl-prep: images and labels -> one dataset tensor file (safetensors).
 *   dl-prep idx IMAGES LABELS -o OUT [--limit N] [--val-fraction F --val-out VAL]
 *   dl-prep info FILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/opt.h"
#include "prep.h"

static const char usage[] =
	"idx IMAGES LABELS -o OUT [--limit N] [--val-fraction F --val-out VAL] [--seed S]\n"
	"info FILE";

int main(int argc, char **argv)
{
	dl_err err = { 0 };
	if (argc >= 2 && !strcmp(argv[1], "idx"))
		return dl_prep_idx_main(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "show"))
		return dl_prep_show_main(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "info"))
		return dl_prep_info_main(argc - 1, argv + 1);
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: dl-prep %s\n\n"
		       "Turns a dataset's source files into one tensor file (safetensors): `images`\n"
		       "U8 [N,H,W,C] (NHWC) and `labels` I32 [N], class names in the metadata.\n\n"
		       "commands:\n"
		       "  idx    IDX image + label files (MNIST family, raw or .gz)\n"
		       "  info   what a tensor file holds: tensors, metadata, class histogram\n\n"
		       "Run 'dl-prep COMMAND --help' for a command's options.\n\n%s",
		       "idx IMAGES LABELS -o OUT [options]\n       dl-prep info FILE",
		       dl_exit_code_help);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		dl_print_version("dl-prep", stdout);
		return 0;
	}
	(void)usage;
	dl_fail(&err, DL_EUSAGE, argc < 2 ? "missing command (idx or info)"
				       : "unknown command '%s' (expected idx or info)", argv[argc < 2 ? 0 : 1]);
	return dl_tool_fail("dl-prep", &err);
}
