# Shell test helpers, sourced by tests/cli/tNNNN-*.sh (in the spirit of
# git's t/test-lib.sh).  Each case is a titled block:
#
#   test_case 'dl-prep --help exits 0' '
#       "$DL_BIN/dl-prep" --help >out &&
#       grep -q usage out
#   '
#   test_done       # prints "<script>: N passed, N failed"
#
# Cases run in a fresh scratch directory ($TEST_TMP/<n>) in a subshell with
# `set -e` semantics off; a case passes when its body's exit status is 0.
set -u
: "${DL_BIN:?DL_BIN must point at the built tools (tests/run-all sets it)}"
: "${DL_ROOT:?}"
TEST_NAME=$(basename "$0" .sh)
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$TEST_NAME.XXXXXX")
trap 'rm -rf "$TEST_TMP"' EXIT
test_pass=0
test_fail=0
test_n=0

test_case() {
	local title=$1 body=$2
	test_n=$((test_n + 1))
	local dir="$TEST_TMP/$test_n"
	mkdir -p "$dir"
	if (cd "$dir" && eval "$body") >"$dir/.log" 2>&1; then
		test_pass=$((test_pass + 1))
		echo "ok $test_n - $title"
	else
		test_fail=$((test_fail + 1))
		echo "not ok $test_n - $title"
		sed 's/^/#   /' "$dir/.log" | tail -30
	fi
}

# test_expect_code N cmd...: runs cmd, succeeds iff it exits with N (and
# not by a signal: codes >= 128 are crashes and always fail).
test_expect_code() {
	local want=$1; shift
	"$@"
	local got=$?
	if [ "$got" -ge 128 ]; then echo "crashed: exit $got: $*"; return 1; fi
	if [ "$got" -ne "$want" ]; then echo "exit $got, expected $want: $*"; return 1; fi
	return 0
}

# test_one_line FILE: FILE holds exactly one line (a one-line error)
test_one_line() {
	local n; n=$(wc -l <"$1")
	if [ "$n" -ne 1 ]; then echo "expected one line in $1, got $n:"; cat "$1"; return 1; fi
}

# test_skip TITLE WHY: a case that cannot run here (counted as skipped,
# never as passed)
test_skipped=0
test_skip() {
	test_n=$((test_n + 1))
	test_skipped=$((test_skipped + 1))
	echo "skip $test_n - $1 # skipped: $2"
}

test_done() {
	if [ "$test_skipped" -gt 0 ]; then
		echo "$TEST_NAME: $test_pass passed, $test_fail failed, $test_skipped skipped"
	else
		echo "$TEST_NAME: $test_pass passed, $test_fail failed"
	fi
	[ "$test_fail" -eq 0 ]
}

# tiny_idx_dataset DIR: 8 random 28x28 images of 10 classes, written as IDX
# files and prepared into DIR/tiny.st (dl-prep's messages in DIR/prep.err);
# sets D to its path.  Used by the device and precision tests.
tiny_idx_dataset() {
	mkdir -p "$1"
	/usr/bin/python3 - "$1" <<'PY'
import gzip, os, struct, sys
d = sys.argv[1]
n = 8
with gzip.open(os.path.join(d, "img.gz"), "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 28, 28) + os.urandom(n * 28 * 28))
with gzip.open(os.path.join(d, "lab.gz"), "wb") as f:
    f.write(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
PY
	D=$1/tiny.st
	"$DL_BIN/dl-prep" idx "$1/img.gz" "$1/lab.gz" -o "$D" 2>"$1/prep.err"
}

# has_gpu DIR: GPU=1 when dl-train --devices (saved in DIR/devices) lists a
# CUDA device, else GPU=0.
has_gpu() {
	"$DL_BIN/dl-train" --devices >"$1/devices" 2>&1
	GPU=0
	grep -q '^cuda:[0-9]' "$1/devices" && GPU=1
}
