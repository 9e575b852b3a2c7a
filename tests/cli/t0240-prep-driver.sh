#!/bin/bash
# dl-prep's one source driver (tools/dl-prep/source.c) and pipeline: the
# probe that fixes the output shape hands the image it decoded to the
# worker, so each file is read and decoded once.  A FIFO in the dataset
# root can be read only once: with a second read dl-prep would wait for a
# writer that is gone (and `timeout` would end it).  Needs python3 with
# numpy and PIL for the fixture (make deps).
. "$(dirname "$0")/lib.sh"

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

test_case 'the probed image is decoded once (a FIFO as the first sample), same bytes as from files' '
	mkroot f && mkroot r && cp r/root/b.png r/root/a.png &&
	mkfifo f/root/a.png && { timeout 60 cat r/root/a.png >f/root/a.png & } &&
	(cd f && timeout 60 "$PREP" list root list.txt -j1 -o d.st 2>err) &&
	(cd r && "$PREP" list root list.txt -j1 -o d.st 2>err) &&
	cmp f/d.st r/d.st && grep -q "d.st: 2 samples" f/err
'

test_case 'the same with --size (the probe still decodes for the channels) and -j2' '
	mkroot f && mkroot r && cp r/root/b.png r/root/a.png &&
	mkfifo f/root/a.png && { timeout 60 cat r/root/a.png >f/root/a.png & } &&
	(cd f && timeout 60 "$PREP" list root list.txt --size 5x4 -j2 -o d.st 2>err) &&
	(cd r && "$PREP" list root list.txt --size 5x4 -j2 -o d.st 2>err) &&
	cmp f/d.st r/d.st && grep -q "d.st: 2 samples 5x4x" f/err
'

test_done
