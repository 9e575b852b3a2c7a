#!/bin/bash
# dl-prep's one source driver (tools/dl-prep/source.c) and pipeline: the
# probe that fixes the output shape hands the image it decoded to the
# worker, so each file is read and decoded once: strace counts the opens of
# the first sample (a FIFO, which would prove it too, is refused as a data
# file since the hardening of issue 12: t0800).  Needs python3 with numpy
# and PIL for the fixture, and strace (make deps).
. "$(dirname "$0")/lib.sh"
# LeakSanitizer cannot run under ptrace: under strace, no leak check (ASan builds)
NOLEAK="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

export OMP_WAIT_POLICY=PASSIVE NO_COLOR=1
PREP=$DL_BIN/dl-prep
IM=$TEST_TMP/folder/src/images
/usr/bin/python3 "$DL_ROOT/tests/fixtures/mkdatasets.py" folder "$TEST_TMP/folder" \
	>"$TEST_TMP/gen.log" 2>&1 || echo "generator failed" >"$TEST_TMP/gen-failed"

test_case 'fixture generator ran (python3, numpy, PIL)' '
	[ ! -e "$TEST_TMP/gen-failed" ] || { cat "$TEST_TMP/gen.log"; exit 1; }
'

# mkroot DIR: DIR/root with two images and DIR/list.txt naming them
mkroot() {
	mkdir -p "$1/root" && cp "$(ls "$IM"/cat/* | head -1)" "$1/root/b.png" &&
	printf "a.png 0\nb.png 1\n" >"$1/list.txt"
}

# opens FILE: how many times strace log st opened FILE
opens() { grep -c "open.*\"[^\"]*$1\"" st; }

test_case 'the probed image is opened and decoded once, the others once each' '
	mkroot f && cp f/root/b.png f/root/a.png &&
	(cd f && env "$NOLEAK" strace -f -e trace=open,openat -o st "$PREP" list root list.txt -j1 -o d.st 2>err) &&
	(cd f && [ "$(opens root/a.png)" -eq 1 ] && [ "$(opens root/b.png)" -eq 1 ]) &&
	grep -q "d.st: 2 samples" f/err
'

test_case 'the same with --size (the probe still decodes for the channels) and -j2' '
	mkroot f && cp f/root/b.png f/root/a.png &&
	(cd f && env "$NOLEAK" strace -f -e trace=open,openat -o st "$PREP" list root list.txt --size 5x4 -j2 -o d.st 2>err) &&
	(cd f && [ "$(opens root/a.png)" -eq 1 ] && [ "$(opens root/b.png)" -eq 1 ]) &&
	grep -q "d.st: 2 samples 5x4x" f/err
'

test_done
