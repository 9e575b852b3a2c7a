/* dl-prep: a dataset's source files -> one dataset tensor file (safetensors).
 * One subcommand per source format (prep_source descriptors, source.h),
 * plus `info` and `show`, all in one option table. */
#include <stdio.h>

#include "core/opt.h"
#include "prep.h"

static const prep_source *const sources[] = {
	&prep_src_idx, &prep_src_cifar10, &prep_src_cifar100, &prep_src_folder, &prep_src_list,
	&prep_src_csv, &prep_src_gtsrb, &prep_src_tiny, &prep_src_driving,
};
#define NSOURCES (sizeof sources / sizeof sources[0])

int main(int argc, char **argv)
{
	dl_opt opts[NSOURCES + 3];
	size_t n = 0;
	for (; n < NSOURCES; n++)
		opts[n] = (dl_opt)DL_OPT_SUBCMD(sources[n]->name, prep_source_main, sources[n],
						sources[n]->args, sources[n]->what);
	opts[n++] = (dl_opt)DL_OPT_SUBCMD("show", dl_prep_show_main, NULL, "FILE -o PNG",
					  "a PNG contact sheet of a dataset's images and labels");
	opts[n++] = (dl_opt)DL_OPT_SUBCMD("info", dl_prep_info_main, NULL, "FILE",
					  "what a tensor file holds: tensors, metadata, histogram, stats");
	opts[n] = (dl_opt)DL_OPT_END;
	const dl_cmd cmd = {
		"dl-prep", "COMMAND ARGS -o OUT [options]\ninfo FILE\nshow FILE -o PNG [options]",
		"Turns a dataset's source files into one tensor file (safetensors): `images`\n"
		"U8 [N,H,W,C] (NHWC), `labels` I32 [N] and/or `targets` F32 [N,K], class\n"
		"names and pixel statistics in the metadata.  ROOT is a folder or an archive\n"
		"(tar, tar.gz, zip; '-' = stdin), read without unpacking.",
		opts, NULL,
	};
	dl_err err = { 0 };
	int rc, npos;
	if (dl_opt_subcmd(&cmd, argc, argv, &rc))
		return rc;
	rc = dl_opt_parse_std(&cmd, argc, argv, &npos, &err);   /* --help, --version or a usage error */
	return rc == DL_OPT_DONE ? 0 : dl_tool_fail("dl-prep", &err);
}
