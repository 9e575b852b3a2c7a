/* dl-prep: a dataset's source files -> one dataset tensor file (safetensors).
 * One command per source format (a table below); `dl-prep info FILE`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/opt.h"
#include "prep.h"

static const struct command {
	const char *name, *args, *what;
	int (*main)(int, char **);
} commands[] = {
	{ "idx", "IMAGES LABELS", "IDX image + label files (MNIST family, raw or .gz)", dl_prep_idx_main },
	{ "cifar10", "ROOT [BATCH...]", "CIFAR-10 binary batches", dl_prep_cifar10_main },
	{ "cifar100", "ROOT [FILE...]", "CIFAR-100 binary (--label fine|coarse)", dl_prep_cifar100_main },
	{ "folder", "ROOT", "image folders, one sub-folder per class", dl_prep_folder_main },
	{ "list", "ROOT LIST", "a 'path label' list file (Caffe convert_imageset)", dl_prep_list_main },
	{ "csv", "ROOT CSV", "a CSV file: path and label columns", dl_prep_csv_main },
	{ "gtsrb", "ROOT", "GTSRB traffic signs (GT-*.csv, --roi)", dl_prep_gtsrb_main },
	{ "tiny-imagenet", "ROOT", "Tiny ImageNet (wnids.txt, train/, val/)", dl_prep_tiny_main },
	{ "driving", "ROOT", "driving_log.csv -> steering (etc.) regression targets", dl_prep_driving_main },
	{ "show", "FILE -o PNG", "a PNG contact sheet of a dataset's images and labels", dl_prep_show_main },
	{ "info", "FILE", "what a tensor file holds: tensors, metadata, histogram, stats", dl_prep_info_main },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

int main(int argc, char **argv)
{
	dl_err err = { 0 };
	for (size_t i = 0; argc >= 2 && i < NCOMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].main(argc - 1, argv + 1);
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: dl-prep COMMAND ARGS -o OUT [options]\n       dl-prep info FILE\n       dl-prep show FILE -o PNG [options]\n\n"
		       "Turns a dataset's source files into one tensor file (safetensors): `images`\n"
		       "U8 [N,H,W,C] (NHWC), `labels` I32 [N] and/or `targets` F32 [N,K], class\n"
		       "names and pixel statistics in the metadata.  ROOT is a folder or an archive\n"
		       "(tar, tar.gz, zip; '-' = stdin), read without unpacking.\n\ncommands:\n");
		for (size_t i = 0; i < NCOMMANDS; i++)
			printf("  %-14s %-16s %s\n", commands[i].name, commands[i].args, commands[i].what);
		printf("\nRun 'dl-prep COMMAND --help' for a command's options.\n\n%s", dl_exit_code_help);
		return dl_stdout_check(&err) ? dl_tool_fail("dl-prep", &err) : 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		dl_print_version("dl-prep", stdout);
		return dl_stdout_check(&err) ? dl_tool_fail("dl-prep", &err) : 0;
	}
	dl_fail(&err, DL_EUSAGE, argc < 2 ? "missing command (idx, cifar10, folder, ... or info)"
				       : "unknown command '%s' (see dl-prep --help)", argv[argc < 2 ? 0 : 1]);
	return dl_tool_fail("dl-prep", &err);
}
