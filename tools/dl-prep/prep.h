/* dl-prep's commands: one function per subcommand, argv[0] is its name. */
#ifndef DL_PREP_H
#define DL_PREP_H

int dl_prep_idx_main(int argc, char **argv);
int dl_prep_cifar10_main(int argc, char **argv);
int dl_prep_cifar100_main(int argc, char **argv);
int dl_prep_folder_main(int argc, char **argv);
int dl_prep_list_main(int argc, char **argv);
int dl_prep_csv_main(int argc, char **argv);
int dl_prep_gtsrb_main(int argc, char **argv);
int dl_prep_tiny_main(int argc, char **argv);
int dl_prep_driving_main(int argc, char **argv);
int dl_prep_info_main(int argc, char **argv);
int dl_prep_show_main(int argc, char **argv);   /* show.c (image helper) */

#endif
