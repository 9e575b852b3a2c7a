#!/bin/bash
# tests/run-all (make check's driver) on a fake tree: a fake unit runner
# and CLI suites that pass, fail, die without a summary and skip.  Checks
# the totals, the exit code, that suites run CHECK_JOBS at a time (two
# suites that need each other running together) and that each suite's
# output is printed whole.
. "$(dirname "$0")/lib.sh"

# fake_tree DIR: DIR/tests/run-all (the real one), DIR/build/tests/unit-runner
# and five suites in DIR/tests/cli
fake_tree() {
	mkdir -p "$1/tests/cli" "$1/build/tests" &&
	cp "$DL_ROOT/tests/run-all" "$1/tests/run-all" &&
	printf '#!/bin/sh\necho "unit-runner: 3 passed, 0 failed"\n' >"$1/build/tests/unit-runner" &&
	chmod +x "$1/build/tests/unit-runner" &&
	# a and b need each other: a waits for b'"'"'s file, b for a'"'"'s
	cat >"$1/tests/cli/t0001-a.sh" <<-'S' &&
	touch "$SYNC/a"; echo "a line 1"; sleep 0.3
	for i in $(seq 100); do [ -e "$SYNC/b" ] && break; sleep 0.1; done
	echo "a line 2"; [ -e "$SYNC/b" ] && echo "t0001-a: 2 passed, 0 failed" || { echo "t0001-a: 0 passed, 1 failed"; exit 1; }
	S
	cat >"$1/tests/cli/t0002-b.sh" <<-'S' &&
	touch "$SYNC/b"; echo "b line 1"; sleep 0.3
	for i in $(seq 100); do [ -e "$SYNC/a" ] && break; sleep 0.1; done
	echo "b line 2"; [ -e "$SYNC/a" ] && echo "t0002-b: 1 passed, 0 failed" || { echo "t0002-b: 0 passed, 1 failed"; exit 1; }
	S
	printf 'echo "t0003-fail: 1 passed, 1 failed"; exit 1\n' >"$1/tests/cli/t0003-fail.sh" &&
	printf 'echo "half way"; exit 3\n' >"$1/tests/cli/t0004-dies.sh" &&
	printf 'echo "t0005-skip: 1 passed, 0 failed, 1 skipped"\n' >"$1/tests/cli/t0005-skip.sh"
}

test_case 'two at a time: totals, exit 1, a suite that dies without a summary is a failure (no summary, exit 3)' '
	fake_tree root && mkdir sync &&
	SYNC=$PWD/sync CHECK_JOBS=2 bash root/tests/run-all build >out 2>&1; rc=$?
	cat out &&
	[ "$rc" -eq 1 ] &&
	[ "$(tail -1 out)" = "8 passed, 3 failed, 1 skipped" ] &&
	grep -q "run-all: t0004-dies.sh printed no summary" out && grep -q "run-all: t0004-dies.sh exited 3" out &&
	grep -q "^-- cli suites: 2 at a time$" out
'

test_case 'each suite'"'"'s output is printed whole, under its own heading' '
	fake_tree root && mkdir sync &&
	SYNC=$PWD/sync CHECK_JOBS=2 bash root/tests/run-all build >out 2>&1
	for s in a b; do
		grep -A3 "^== t000[12]-$s.sh$" out | sed -n 2,3p >got &&
		printf "%s line 1\n%s line 2\n" $s $s >want &&
		cmp want got || exit 1
	done
'

test_case 'one at a time (CHECK_JOBS=1): suites that need each other fail' '
	fake_tree root && mkdir sync &&
	SYNC=$PWD/sync CHECK_JOBS=1 timeout 60 bash root/tests/run-all build >out 2>&1; rc=$?
	cat out &&
	[ "$rc" -eq 1 ] &&
	[ "$(tail -1 out)" = "6 passed, 4 failed, 1 skipped" ]
'

test_case 'all passing: exit 0; CHECK_JOBS=x: exit 2 naming it' '
	fake_tree root && mkdir sync && rm root/tests/cli/t000[34]-*.sh &&
	SYNC=$PWD/sync CHECK_JOBS=3 bash root/tests/run-all build >out 2>&1 &&
	[ "$(tail -1 out)" = "7 passed, 0 failed, 1 skipped" ] &&
	test_expect_code 2 env CHECK_JOBS=x bash root/tests/run-all build 2>err &&
	test_one_line err && grep -q CHECK_JOBS err
'

test_done
