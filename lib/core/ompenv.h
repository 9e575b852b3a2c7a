/* OpenMP's wait policy for the tools that run oneDNN.
 *
 * oneDNN as Debian builds it runs on libgomp, whose idle threads spin after
 * each parallel region unless OMP_WAIT_POLICY=PASSIVE; that spinning steals
 * the cores our own thread pool (im2col, gemm, batch norm...) runs on next,
 * about 9% of vgg16's training speed on 2 cores (bench/RESULTS.md).  libgomp
 * reads the variable once, when it loads, before main() runs, so a tool can
 * only set it for itself by starting again: dl_omp_passive() does that,
 * once, when the variable is unset (a value the user set is kept).
 */
#ifndef DL_CORE_OMPENV_H
#define DL_CORE_OMPENV_H

/* If OMP_WAIT_POLICY is unset: sets it to PASSIVE and execs
 * /proc/self/exe with argv (does not return).  Returns 0 when it was
 * already set (or DL_OMP_REEXEC=0), -1 when the exec failed (the tool
 * runs on, slower). */
int dl_omp_passive(char **argv);

#endif
