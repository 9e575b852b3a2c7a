#!/bin/bash
# dl-prep sources, round trips: the fixture generators (tests/fixtures/
# mkdatasets.py) write each official format with known pixels and labels;
# every source must give exactly those tensors (JPEG: within 3 levels of
# PIL's decode), from the folder, from a tar.gz and from a zip (and from
# stdin).  Needs /usr/bin/python3 with numpy and PIL (make deps).
. "$(dirname "$0")/lib.sh"

PREP=$DL_BIN/dl-prep
PY=/usr/bin/python3
export OMP_WAIT_POLICY=PASSIVE NO_COLOR=1
GEN="$PY $DL_ROOT/tests/fixtures/mkdatasets.py"
CHK="$PY $DL_ROOT/tests/fixtures/checkds.py"
FX=$TEST_TMP/fx
for k in cifar10 cifar100 folder list gtsrb tiny driving; do
	$GEN $k "$FX/$k" >"$TEST_TMP/gen-$k.log" 2>&1 || echo "generator $k failed" >>"$TEST_TMP/gen-failed"
done

test_case 'fixture generators ran (python3, numpy, PIL)' '
	[ ! -e "$TEST_TMP/gen-failed" ] || { cat "$TEST_TMP/gen-failed" "$TEST_TMP"/gen-*.log; exit 1; }
'

# roots KIND TOP: the folder, the tar.gz and the zip of a fixture
roots() { echo "$FX/$1/src/$2 $FX/$1/$2.tar.gz $FX/$1/$2.zip"; }

test_case 'cifar10: 5 training batches -> exact pixels (planes to HWC), labels, batches.meta.txt names' '
	E=$FX/cifar10/expect
	for r in $(roots cifar10 cifar-10-batches-bin); do
		"$PREP" cifar10 "$r" -o d.st 2>err && grep -q "15 samples 32x32x3, 10 classes" err &&
		$CHK d.st images=$E/train_images.npy labels=$E/train_labels.npy classes=$E/classes.json || exit 1
	done
'

test_case 'cifar10 --split test, and explicit batch files' '
	E=$FX/cifar10/expect
	for r in $(roots cifar10 cifar-10-batches-bin); do
		"$PREP" cifar10 "$r" --split test -o t.st 2>/dev/null &&
		$CHK t.st images=$E/test_images.npy labels=$E/test_labels.npy || exit 1
	done &&
	"$PREP" cifar10 "$FX/cifar10/src/cifar-10-batches-bin" test_batch.bin -o t2.st 2>/dev/null &&
	$CHK t2.st images=$E/test_images.npy labels=$E/test_labels.npy &&
	"$PREP" cifar10 "$FX/cifar10/src/cifar-10-batches-bin" data_batch_1.bin data_batch_2.bin -o two.st 2>err &&
	grep -q "6 samples" err
'

test_case 'cifar100: fine and coarse labels with their name files, train and test' '
	E=$FX/cifar100/expect
	for r in $(roots cifar100 cifar-100-binary); do
		"$PREP" cifar100 "$r" -o f.st 2>/dev/null &&
		$CHK f.st images=$E/train_images.npy labels=$E/train_fine.npy classes=$E/fine.json &&
		"$PREP" cifar100 "$r" --label coarse --split test -o c.st 2>/dev/null &&
		$CHK c.st images=$E/test_images.npy labels=$E/test_coarse.npy classes=$E/coarse.json || exit 1
	done
'

test_case 'folder: classes = sorted sub-folders, PNG pixels exact, non-images ignored' '
	E=$FX/folder/expect
	for r in $(roots folder images); do
		"$PREP" folder "$r" -o d.st 2>/dev/null &&
		$CHK d.st images=$E/images.npy labels=$E/labels.npy classes=$E/classes.json || exit 1
	done
'

test_case 'list: "path label" lines (a path with a space), relative to ROOT' '
	E=$FX/list/expect
	for r in $(roots list root); do
		"$PREP" list "$r" "$FX/list/list.txt" -o d.st 2>/dev/null &&
		$CHK d.st images=$E/images.npy labels=$E/labels.npy || exit 1
	done
'

test_case 'csv: the list as a CSV with a header, columns by name' '
	E=$FX/list/expect
	{ echo "label;file"; sed "s/^\(.*\) \([0-9]*\)$/\2;\1/" "$FX/list/list.txt"; } >l.csv &&
	for r in $(roots list root); do
		"$PREP" csv "$r" l.csv --sep ";" --header --path-col file --label-col label -o d.st 2>/dev/null &&
		$CHK d.st images=$E/images.npy labels=$E/labels.npy || exit 1
	done &&
	sed "s/^\(.*\) \([0-9]*\)$/\"\1\",\2/" "$FX/list/list.txt" >q.csv &&
	"$PREP" csv "$FX/list/src/root" q.csv -o q.st 2>/dev/null && $CHK q.st images=$E/images.npy labels=$E/labels.npy
'

test_case 'gtsrb: per-class GT csv layout, PPM images, --roi crop (inclusive corners) exact' '
	E=$FX/gtsrb/expect
	for r in $(roots gtsrb GTSRB); do
		"$PREP" gtsrb "$r" --roi -o d.st 2>err && grep -q "6 samples 8x8x3, 43 classes" err &&
		$CHK d.st images=$E/roi_images.npy labels=$E/labels.npy || exit 1
	done
'

test_case 'gtsrb: without --roi the sizes differ: refused without --size, resized with it' '
	test_expect_code 3 "$PREP" gtsrb "$FX/gtsrb/src/GTSRB" -o d.st 2>err && test_one_line err &&
	grep -q "give --size" err && [ ! -e d.st ] &&
	"$PREP" gtsrb "$FX/gtsrb/src/GTSRB" --size 8x8 -o d.st 2>/dev/null &&
	"$PREP" info d.st | grep -Eq "images +U8 +\[6, 8, 8, 3\]"
'

test_case 'gtsrb: test layout (Final_Test/Images + GT-final_test.csv), and --gt FILE' '
	E=$FX/gtsrb/expect
	for r in $(roots gtsrb GTSRB); do
		"$PREP" gtsrb "$r" --split test -o t.st 2>/dev/null &&
		$CHK t.st images=$E/test_images.npy labels=$E/test_labels.npy || exit 1
	done &&
	"$PREP" gtsrb "$FX/gtsrb/src/GTSRB/Final_Test/Images" -o t1.st 2>/dev/null &&
	$CHK t1.st images=$E/test_images.npy labels=$E/test_labels.npy &&
	cp "$FX/gtsrb/src/GTSRB/Final_Test/Images/GT-final_test.csv" gt.csv &&
	"$PREP" gtsrb "$FX/gtsrb/src/GTSRB/Final_Test/Images" --gt gt.csv -o t2.st 2>/dev/null &&
	$CHK t2.st images=$E/test_images.npy labels=$E/test_labels.npy
'

test_case 'tiny-imagenet: labels in wnids.txt order, words.txt names, JPEG close to PIL' '
	E=$FX/tiny/expect
	for r in $(roots tiny tiny-imagenet-200); do
		"$PREP" tiny-imagenet "$r" -o d.st 2>/dev/null &&
		$CHK d.st images=$E/images.npy labels=$E/labels.npy classes=$E/classes.json --tol 3 --mean-tol 0.5 &&
		"$PREP" tiny-imagenet "$r" --split val -o v.st 2>/dev/null &&
		$CHK v.st images=$E/val_images.npy labels=$E/val_labels.npy --tol 3 --mean-tol 0.5 || exit 1
	done
'

test_case 'driving: three cameras, steering correction, targets F32 [N,2], no labels' '
	E=$FX/driving/expect
	for r in $(roots driving sim); do
		"$PREP" driving "$r" --cameras center,left,right --targets steering,speed \
			--steer-correction 0.2 -o d.st 2>err && grep -q "9 samples 4x6x3, 2 targets" err &&
		$CHK d.st images=$E/images.npy targets=$E/targets.npy target_names=$E/target_names.json || exit 1
	done &&
	"$PREP" info d.st >info && ! grep -q "labels" info && grep -q "^  steering  *min -0.45 max 0.45" info
'

test_case 'an archive on stdin (-): tar.gz and zip give the same file as the folder' '
	"$PREP" folder "$FX/folder/src/images" -o a.st 2>/dev/null &&
	"$PREP" folder - -o b.st <"$FX/folder/images.tar.gz" 2>/dev/null &&
	"$PREP" folder - -o c.st <"$FX/folder/images.zip" 2>/dev/null &&
	"$PREP" info a.st | grep -v "^file:\|dl.source" >ia && "$PREP" info b.st | grep -v "^file:\|dl.source" >ib &&
	"$PREP" info c.st | grep -v "^file:\|dl.source" >ic && cmp ia ib && cmp ia ic &&
	$CHK b.st images=$FX/folder/expect/images.npy
'

test_case 'idx: every label element type (u8, i8, i16, i32) gives the same labels' '
	printf "\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02" >im.idx &&
	printf "\x01\x02\x03\x04\x05\x06\x07\x08" >>im.idx &&
	printf "\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02" >u8.idx &&
	printf "\x00\x00\x09\x01\x00\x00\x00\x02\x01\x02" >i8.idx &&
	printf "\x00\x00\x0b\x01\x00\x00\x00\x02\x00\x01\x00\x02" >i16.idx &&
	printf "\x00\x00\x0c\x01\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x02" >i32.idx &&
	for t in u8 i8 i16 i32; do
		"$PREP" idx im.idx $t.idx -o $t.st 2>/dev/null && "$PREP" info $t.st | grep -v "^file:\|dl.source" >$t.info || exit 1
	done &&
	cmp u8.info i8.info && cmp u8.info i16.info && cmp u8.info i32.info &&
	grep -q "class histogram: 0:0 1:1 2:1" u8.info
'

test_case 'dl-prep --help lists every source; each COMMAND --help shows its own and the common options' '
	"$PREP" --help >h && for c in idx cifar10 cifar100 folder list csv gtsrb tiny-imagenet driving info; do
		grep -q "^  $c " h || { echo "--help lacks $c"; exit 1; }
		test_expect_code 0 "$PREP" $c --help >o 2>e && [ ! -s e ] && grep -q "^usage: dl-prep $c" o || exit 1
		[ $c = info ] || grep -q -- "--skip-bad" o || { echo "$c --help lacks --skip-bad"; exit 1; }
	done &&
	"$PREP" cifar100 --help | grep -q -- "--label" && ! "$PREP" cifar10 --help | grep -q -- "--label" &&
	"$PREP" gtsrb --help | grep -q -- "--roi" && "$PREP" driving --help | grep -q -- "--steer-correction"
'

test_done
