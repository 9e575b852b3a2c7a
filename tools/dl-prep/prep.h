/* dl-prep's commands: the sources, each a prep_source descriptor run by
 * prep_source_main (source.h), and info, show (dl_subcmd_fn, argv[0] is
 * the command's name).  main.c lists them in one table. */
#ifndef DL_PREP_H
#define DL_PREP_H

#include "source.h"

extern const prep_source prep_src_idx;       /* idx.c */
extern const prep_source prep_src_cifar10;   /* cifar.c */
extern const prep_source prep_src_cifar100;
extern const prep_source prep_src_folder;    /* files.c */
extern const prep_source prep_src_list;
extern const prep_source prep_src_csv;
extern const prep_source prep_src_gtsrb;     /* layouts.c */
extern const prep_source prep_src_tiny;
extern const prep_source prep_src_driving;   /* driving.c */

int dl_prep_info_main(int argc, char **argv, const void *data);
int dl_prep_show_main(int argc, char **argv, const void *data);   /* show.c (image helper) */

#endif
