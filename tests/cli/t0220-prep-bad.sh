#!/bin/bash
# dl-prep on bad input: truncated records, wrong file sizes, paths escaping
# the dataset root, labels out of range, undecodable images, broken
# archives.  Each: one error line naming the file (and line), the documented
# exit code (3 bad data, 4 missing file on disk), no output file.  And
# --skip-bad: continues, lists what it skipped on stderr and in metadata.
. "$(dirname "$0")/lib.sh"

PREP=$DL_BIN/dl-prep
PY=/usr/bin/python3
export OMP_WAIT_POLICY=PASSIVE NO_COLOR=1
GEN="$PY $DL_ROOT/tests/fixtures/mkdatasets.py"
FX=$TEST_TMP/fx
for k in cifar10 folder list gtsrb tiny driving; do
	$GEN $k "$FX/$k" >"$TEST_TMP/gen-$k.log" 2>&1 || echo "generator $k failed" >>"$TEST_TMP/gen-failed"
done
C10=$FX/cifar10/src/cifar-10-batches-bin

# one_error FILE WORD...: exactly one line "dl-prep: ..." containing every WORD
one_error() {
	local f=$1; shift
	test_one_line "$f" || return 1
	grep -q '^dl-prep: ' "$f" || { echo "no 'dl-prep: ' prefix:"; cat "$f"; return 1; }
	local w
	for w in "$@"; do
		grep -qF -- "$w" "$f" || { echo "message does not name '$w':"; cat "$f"; return 1; }
	done
}
# no_output NAME...: neither NAME nor a NAME.tmp.* left
no_output() {
	local f
	for f in "$@"; do
		if [ -e "$f" ] || compgen -G "$f.tmp.*" >/dev/null; then echo "left behind:"; ls -la; return 1; fi
	done
}
# copy_list: the list fixture's root in ./root, its list in ./list.txt
copy_list() { cp -r "$FX/list/src/root" root && cp "$FX/list/list.txt" list.txt; }

test_case 'fixture generators ran' '[ ! -e "$TEST_TMP/gen-failed" ]'

test_case 'cifar10: a truncated batch (not whole records): exit 3, names the file and sizes' '
	cp -r "$C10" c && head -c 5000 "$C10/data_batch_3.bin" >c/data_batch_3.bin &&
	test_expect_code 3 "$PREP" cifar10 c -o out.st --val-fraction 0.2 --val-out v.st 2>err &&
	one_error err data_batch_3.bin "5000 bytes" "3073-byte records" && no_output out.st v.st
'

test_case 'cifar10: a record of the wrong size (CIFAR-100 file given to cifar10): exit 3' '
	mkdir c && head -c $((3074 * 2)) /dev/zero >c/test_batch.bin &&
	test_expect_code 3 "$PREP" cifar10 c --split test -o out.st 2>err &&
	one_error err test_batch.bin && no_output out.st
'

test_case 'cifar10: label byte 10 in record 2: exit 3 names file and record; --skip-bad drops it' '
	cp -r "$C10" c && printf "\x0a" | dd of=c/test_batch.bin bs=1 seek=3073 conv=notrunc 2>/dev/null &&
	test_expect_code 3 "$PREP" cifar10 c --split test -o out.st 2>err &&
	one_error err "test_batch.bin: record 2" "label 10 is outside the 10 classes" && no_output out.st &&
	test_expect_code 0 "$PREP" cifar10 c --split test --skip-bad -o out.st 2>err2 &&
	grep -q "skipped .*record 2" err2 && grep -q "2 samples" err2 &&
	"$PREP" info out.st >info && grep -q "skipped when prepared: 1 bad samples" info &&
	grep -q "dl.skipped: \[\".*record 2: label 10" info
'

test_case 'cifar10: a missing batch: exit 4 in a folder, exit 3 in an archive' '
	cp -r "$C10" c && rm c/data_batch_4.bin &&
	test_expect_code 4 "$PREP" cifar10 c -o out.st 2>err && one_error err data_batch_4.bin &&
	tar czf c.tgz c &&
	test_expect_code 3 "$PREP" cifar10 c.tgz -o out.st 2>err2 && one_error err2 data_batch_4.bin "no file" &&
	no_output out.st
'

test_case 'list: an absolute path: exit 3 with file:line, no output' '
	copy_list && sed -i "3s|^|/etc/passwd 1\n|" list.txt &&
	test_expect_code 3 "$PREP" list root list.txt -o out.st 2>err &&
	one_error err "list.txt:3" "/etc/passwd" "absolute" && no_output out.st
'

test_case 'list: a ".." escape: exit 3 with file:line (folder and archive)' '
	copy_list && echo "imgs/../../outside.png 0" >>list.txt &&
	test_expect_code 3 "$PREP" list root list.txt -o out.st 2>err &&
	one_error err "list.txt:7" ".." && no_output out.st &&
	test_expect_code 3 "$PREP" list "$FX/list/root.zip" list.txt -o out.st 2>err2 &&
	one_error err2 "list.txt:7" && no_output out.st
'

test_case 'list: a symlink leading outside the root: exit 3, names it' '
	copy_list && cp root/imgs/0.png outside.png && ln -s "$PWD/outside.png" root/imgs/link.png &&
	echo "imgs/link.png 0" >>list.txt &&
	test_expect_code 3 "$PREP" list root list.txt -o out.st 2>err &&
	one_error err "imgs/link.png" "outside the dataset root" && no_output out.st
'

test_case 'list: a label that is not a number, a line without a label: exit 3 with file:line' '
	copy_list && sed -i "2s/ [0-9]*$/ one/" list.txt &&
	test_expect_code 3 "$PREP" list root list.txt -o out.st 2>err && one_error err "list.txt:2" "one" &&
	copy_list 2>/dev/null; cp "$FX/list/list.txt" l2.txt && echo "imgs/0.png" >>l2.txt &&
	test_expect_code 3 "$PREP" list root l2.txt -o out.st 2>err2 && one_error err2 "l2.txt:7" &&
	no_output out.st
'

test_case 'list: a label outside --classes: exit 3 with file:line; --skip-bad skips that line' '
	copy_list && echo "imgs/0.png 7" >>list.txt &&
	test_expect_code 3 "$PREP" list root list.txt --classes a,b,c -o out.st 2>err &&
	one_error err "list.txt:7" "label 7 is outside the 3 classes" && no_output out.st &&
	"$PREP" list root list.txt --classes a,b,c --skip-bad -o out.st 2>err2 &&
	grep -q "6 samples" err2 && grep -q "skipped .*list.txt:7" err2
'

test_case 'an undecodable image: exit 3 names the file (and the list line); --skip-bad goes on' '
	cp -r "$FX/folder/src/images" im && head -c 40 "$FX/folder/src/images/dog/01.png" >im/dog/01.png &&
	test_expect_code 3 "$PREP" folder im -o out.st --val-fraction 0.3 --val-out v.st 2>err &&
	one_error err "dog/01.png" && no_output out.st v.st &&
	"$PREP" folder im --skip-bad -o out.st 2>err2 && grep -q "8 samples" err2 &&
	grep -q "^dl-prep: skipped .*dog/01.png" err2 && grep -q "skipped 1 bad samples" err2 &&
	copy_list && printf "not a png" >root/imgs/3.png &&
	test_expect_code 3 "$PREP" list root list.txt -o out.st 2>err3 && one_error err3 "list.txt:4" "3.png"
'

test_case '--skip-bad with 1005 bad images: dl.skipped_count 1005, dl.skipped lists the first 1000' '
	mkdir -p many/a && cp "$FX/folder/src/images/cat/00.png" many/a/0000.png &&
	for i in $(seq 1 1005); do printf "x" >many/a/$(printf %04d $i).png; done &&
	"$PREP" folder many --skip-bad -o out.st 2>err && grep -q "1 samples" err &&
	[ "$(grep -c "^dl-prep: skipped .*many/a/" err)" -eq 1005 ] &&
	PYTHONPATH="$DL_ROOT/tests/fixtures" $PY -c "from checkds import load; import json
t, m = load(\"out.st\"); s = json.loads(m[\"dl.skipped\"])
assert m[\"dl.skipped_count\"] == \"1005\" and len(s) == 1000 and \"many/a/0001.png\" in s[0], (len(s), s[0])" &&
	"$PREP" info out.st | grep -q "skipped when prepared: 1005 bad samples"
'

test_case 'the error is the first bad sample whatever -j: same message with -j1 and -j2' '
	cp -r "$FX/folder/src/images" im && printf "x" >im/cat/01.png && printf "y" >im/zebra/02.png &&
	test_expect_code 3 "$PREP" folder im -j1 -o out.st 2>e1 &&
	test_expect_code 3 "$PREP" folder im -j2 -o out.st 2>e2 && cmp e1 e2 && grep -q "cat/01.png" e1
'

test_case 'ROOT that is neither a folder nor an archive: exit 3; a missing ROOT: exit 4' '
	echo "just text" >notes.txt &&
	test_expect_code 3 "$PREP" folder notes.txt -o out.st 2>err && one_error err notes.txt &&
	test_expect_code 4 "$PREP" folder nosuch-dir -o out.st 2>err2 && one_error err2 nosuch-dir &&
	no_output out.st
'

test_case 'a truncated tar.gz and a truncated zip: exit 3, no output' '
	s=$(stat -c %s "$FX/folder/images.tar.gz") && head -c $((s / 2)) "$FX/folder/images.tar.gz" >cut.tgz &&
	test_expect_code 3 "$PREP" folder cut.tgz -o out.st 2>err && one_error err cut.tgz &&
	s=$(stat -c %s "$FX/folder/images.zip") && head -c $((s / 2)) "$FX/folder/images.zip" >cut.zip &&
	test_expect_code 3 "$PREP" folder - -o out.st <cut.zip 2>err2 && test_one_line err2 &&
	no_output out.st
'

test_case 'archive caps: --archive-max-mb and --archive-max-files refuse a bigger archive' '
	head -c 2000000 /dev/urandom >big.bin && mkdir -p a/x && cp big.bin a/x/big.png && tar czf a.tgz a &&
	test_expect_code 3 "$PREP" folder a.tgz --archive-max-mb 1 -o out.st 2>err &&
	one_error err a.tgz "archive byte limit" &&
	test_expect_code 3 "$PREP" folder "$FX/folder/images.zip" --archive-max-files 3 -o out.st 2>err2 &&
	one_error err2 "more than 3 files" && no_output out.st
'

test_case 'csv: a missing column, too few fields: exit 3 with file:line' '
	printf "a,b\nimgs/0.png,0\n" >h.csv &&
	test_expect_code 3 "$PREP" csv "$FX/list/src/root" h.csv --header --path-col file -o out.st 2>err &&
	one_error err "h.csv:1" "file" &&
	printf "imgs/0.png,0\nimgs/1.png\n" >s.csv &&
	test_expect_code 3 "$PREP" csv "$FX/list/src/root" s.csv -o out.st 2>err2 && one_error err2 "s.csv:2" &&
	no_output out.st
'

test_case 'gtsrb: a ROI outside its image, a non-numeric ClassId: exit 3 with csv:line' '
	cp -r "$FX/gtsrb/src/GTSRB" g && f=g/Final_Training/Images/00001/GT-00001.csv &&
	sed -i "3s/;[0-9]*;[0-9]*;1\r$/;40;40;1\r/" $f &&
	test_expect_code 3 "$PREP" gtsrb g --roi -o out.st 2>err && one_error err "GT-00001.csv:3" "ROI" &&
	cp "$FX/gtsrb/src/GTSRB/Final_Training/Images/00001/GT-00001.csv" $f && sed -i "2s/;1\r$/;x\r/" $f &&
	test_expect_code 3 "$PREP" gtsrb g -o out.st --size 8x8 2>err2 && one_error err2 "GT-00001.csv:2" "ClassId" &&
	no_output out.st
'

test_case 'tiny-imagenet: a val annotation with an unknown wnid: exit 3 names the line' '
	cp -r "$FX/tiny/src/tiny-imagenet-200" t && sed -i "2s/\tn0[0-9]*\t/\tn99999999\t/" t/val/val_annotations.txt &&
	test_expect_code 3 "$PREP" tiny-imagenet t --split val -o out.st 2>err &&
	one_error err "val_annotations.txt:2" "n99999999" && no_output out.st
'

test_case 'driving: a bad number, a short line, an absolute image path: exit 3 with file:line' '
	cp -r "$FX/driving/src/sim" s && sed -i "2s/, [-0-9.e]*, 0.5,/, abc, 0.5,/" s/driving_log.csv &&
	test_expect_code 3 "$PREP" driving s -o out.st 2>err && one_error err "driving_log.csv:2" "abc" &&
	cp "$FX/driving/src/sim/driving_log.csv" s/ && echo "a.png,b.png" >>s/driving_log.csv &&
	test_expect_code 3 "$PREP" driving s -o out.st 2>err2 && one_error err2 "driving_log.csv:4" "7" &&
	cp "$FX/driving/src/sim/driving_log.csv" s/ && sed -i "1s|^IMG|/home/u/IMG|" s/driving_log.csv &&
	test_expect_code 3 "$PREP" driving s -o out.st 2>err3 && one_error err3 "driving_log.csv:1" "absolute" &&
	no_output out.st
'

test_case 'usage errors: exit 2 (bad --size, --channels, --cameras, --label, --sep)' '
	test_expect_code 2 "$PREP" folder "$FX/folder/src/images" --size 8 -o o.st 2>e1 &&
	test_expect_code 2 "$PREP" folder "$FX/folder/src/images" --channels 2 -o o.st 2>e2 &&
	test_expect_code 2 "$PREP" folder "$FX/folder/src/images" --center-crop -o o.st 2>e3 &&
	test_expect_code 2 "$PREP" driving "$FX/driving/src/sim" --cameras top -o o.st 2>e4 &&
	test_expect_code 2 "$PREP" cifar100 "$FX/cifar10/src" --label medium -o o.st 2>e5 &&
	test_expect_code 2 "$PREP" csv "$FX/list/src/root" x.csv --sep ab -o o.st 2>e6 &&
	test_expect_code 2 "$PREP" folder -o o.st 2>e7 &&
	for e in e1 e2 e3 e4 e5 e6 e7; do grep -q "^Try .dl-prep" $e || { cat $e; exit 1; }; done &&
	no_output o.st
'

test_done
