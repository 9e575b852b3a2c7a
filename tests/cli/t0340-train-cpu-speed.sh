#!/bin/bash
# CPU speed settings the tools make themselves (issue: fast without the user
# setting anything): OpenMP's wait policy for oneDNN (lib/core/ompenv.c).
. "$(dirname "$0")/lib.sh"

test_case 'dl-train and dl-eval without OMP_WAIT_POLICY restart once with PASSIVE' '
	for t in dl-train dl-eval; do
		env -u OMP_WAIT_POLICY strace -f -v -e trace=execve -o st.$t "$DL_BIN/$t" --help >/dev/null &&
		test "$(grep -c "execve(" st.$t)" -eq 2 &&
		grep "execve(\"/proc/self/exe\"" st.$t | grep -q "OMP_WAIT_POLICY=PASSIVE" || return 1
	done
'

test_case 'a policy the user set is kept: no restart' '
	OMP_WAIT_POLICY=ACTIVE strace -f -v -e trace=execve -o st "$DL_BIN/dl-train" --help >/dev/null &&
	test "$(grep -c "execve(" st)" -eq 1
'

test_case 'DL_OMP_REEXEC=0 turns the restart off' '
	env -u OMP_WAIT_POLICY DL_OMP_REEXEC=0 strace -f -v -e trace=execve -o st "$DL_BIN/dl-eval" --help >/dev/null &&
	test "$(grep -c "execve(" st)" -eq 1
'

test_done
