#!/bin/bash
# dl-prep: help and usage errors, IDX -> dataset (Fashion-MNIST subsets),
# the seeded validation split, malformed inputs (exit 3, no output file left),
# missing files (exit 4) and `dl-prep info`.  Needs Debian's
# dataset-fashion-mnist (make deps): without it the cases FAIL, never skip.
. "$(dirname "$0")/lib.sh"

PREP=$DL_BIN/dl-prep
DEB=/usr/share/datasets/fashion-mnist
IMG=$DEB/t10k-images-idx3-ubyte.gz
LBL=$DEB/t10k-labels-idx1-ubyte.gz
export NO_COLOR=1

# usage_error FILE: exactly one "dl-prep: ..." line plus the --help hint
usage_error() {
	if [ "$(grep -c '^dl-prep: ' "$1")" -ne 1 ] || ! grep -q "^Try 'dl-prep .*--help'" "$1" ||
		[ "$(wc -l <"$1")" -ne 2 ]; then
		echo "expected one error line and the hint in $1:"; cat "$1"; return 1
	fi
}

# one_error FILE WORD: exactly one line, "dl-prep: ...", mentioning WORD
one_error() {
	test_one_line "$1" || return 1
	grep -q '^dl-prep: ' "$1" || { echo "no 'dl-prep: ' prefix:"; cat "$1"; return 1; }
	grep -qF -- "$2" "$1" || { echo "message does not name '$2':"; cat "$1"; return 1; }
}

# no_output NAME...: neither NAME nor any NAME.tmp.* exists (in the cwd)
no_output() {
	local f
	for f in "$@"; do
		if [ -e "$f" ] || compgen -G "$f.tmp.*" >/dev/null; then echo "left behind:"; ls -la; return 1; fi
	done
}

# Shared fixtures: the gunzipped test-set files.
FIX=$TEST_TMP/fix
mkdir -p "$FIX"
gzip -dc "$IMG" >"$FIX/images.idx" 2>/dev/null
gzip -dc "$LBL" >"$FIX/labels.idx" 2>/dev/null
gzip -dc "$DEB/train-labels-idx1-ubyte.gz" >"$FIX/train-labels.idx" 2>/dev/null

test_case 'Debian dataset-fashion-mnist is installed (make deps)' '
	[ -s "$FIX/images.idx" ] && [ -s "$FIX/labels.idx" ] && [ -s "$FIX/train-labels.idx" ] ||
		{ echo "missing $DEB files: run make deps"; exit 1; }
'

# ---- help, version, usage errors

test_case 'dl-prep --help: usage on stdout, exit 0, nothing on stderr' '
	test_expect_code 0 "$PREP" --help >out 2>err &&
	grep -q "^usage: dl-prep" out && grep -q "idx" out && grep -q "info" out &&
	grep -q "exit codes" out && [ ! -s err ]
'

test_case 'dl-prep idx --help: options on stdout, exit 0' '
	test_expect_code 0 "$PREP" idx --help >out 2>err &&
	grep -q "^usage: dl-prep idx" out && grep -q -- "--val-fraction" out &&
	grep -q -- "--limit" out && grep -q -- "--seed" out && [ ! -s err ]
'

test_case 'dl-prep info --help: usage on stdout, exit 0' '
	test_expect_code 0 "$PREP" info -h >out 2>err &&
	grep -q "^usage: dl-prep info" out && [ ! -s err ]
'

test_case 'dl-prep --version (and idx --version) print one version line' '
	test_expect_code 0 "$PREP" --version >out 2>err && test_one_line out &&
	grep -q "^dl-prep (dl-tools) [0-9]" out && [ ! -s err ] &&
	test_expect_code 0 "$PREP" idx --version >out2 && cmp out out2
'

test_case 'no command: exit 2, one error line and the hint' '
	test_expect_code 2 "$PREP" >out 2>err && usage_error err && [ ! -s out ] &&
	grep -q "missing command" err
'

test_case 'unknown command: exit 2, names it' '
	test_expect_code 2 "$PREP" frobnicate 2>err && usage_error err && grep -q frobnicate err
'

test_case 'unknown option: exit 2, names it' '
	test_expect_code 2 "$PREP" idx "$IMG" "$LBL" -o out.st --bogus 2>err && usage_error err &&
	grep -q -- "--bogus" err && no_output out.st
'

test_case 'idx without -o: exit 2' '
	test_expect_code 2 "$PREP" idx "$IMG" "$LBL" 2>err && usage_error err && grep -q -- "-o" err
'

test_case 'idx with one file, or three: exit 2' '
	test_expect_code 2 "$PREP" idx "$IMG" -o out.st 2>err && usage_error err &&
	test_expect_code 2 "$PREP" idx "$IMG" "$LBL" "$LBL" -o out.st 2>err2 && usage_error err2 &&
	no_output out.st
'

test_case 'info with no file or two: exit 2' '
	test_expect_code 2 "$PREP" info 2>err && usage_error err &&
	test_expect_code 2 "$PREP" info a b 2>err2 && usage_error err2
'

test_case '--val-fraction without --val-out, or out of range: exit 2' '
	test_expect_code 2 "$PREP" idx "$IMG" "$LBL" -o out.st --val-fraction 0.2 2>err && usage_error err &&
	test_expect_code 2 "$PREP" idx "$IMG" "$LBL" -o out.st --val-fraction 1.5 --val-out v.st 2>err2 &&
	usage_error err2 && no_output out.st v.st
'

test_case '--limit 0 or a non-number: exit 2' '
	test_expect_code 2 "$PREP" idx "$IMG" "$LBL" -o out.st --limit 0 2>err && usage_error err &&
	test_expect_code 2 "$PREP" idx "$IMG" "$LBL" -o out.st --limit 10x 2>err2 && usage_error err2 &&
	no_output out.st
'

# ---- a real subset

test_case 'idx --limit 100: images U8 [100, 28, 28, 1], labels I32 [100], class names' '
	test_expect_code 0 "$PREP" idx "$IMG" "$LBL" --limit 100 --classes fashion-mnist -o d.st 2>err &&
	[ -s d.st ] && ! compgen -G "d.st.tmp.*" >/dev/null && grep -q "d.st: 100 samples 28x28x1, 10 classes" err &&
	test_expect_code 0 "$PREP" info d.st >info &&
	grep -Eq "^  images +U8 +\[100, 28, 28, 1\]$" info &&
	grep -Eq "^  labels +I32 +\[100\]$" info &&
	grep -q "dl.format: dl-tools dataset 1" info &&
	grep -qF "dl.classes: [\"T-shirt/top\", \"Trouser\"," info &&
	grep -qF "\"Ankle boot\"]" info &&
	grep -q "^class histogram: 0:" info && grep -q "^pixels (/255): c0 mean" info
'

test_case 'idx from the raw (gunzipped) files gives the same dataset bytes except dl.source' '
	"$PREP" idx "$IMG" "$LBL" --limit 100 -o a.st 2>/dev/null &&
	"$PREP" idx "$FIX/images.idx" "$FIX/labels.idx" --limit 100 -o b.st 2>/dev/null &&
	"$PREP" info a.st | grep -v "dl.source\|^file:" >ia && "$PREP" info b.st | grep -v "dl.source\|^file:" >ib &&
	cmp ia ib
'

test_case 'without --classes the class names are "0".."9"' '
	"$PREP" idx "$IMG" "$LBL" --limit 100 -o d.st 2>/dev/null &&
	"$PREP" info d.st >info &&
	grep -qF "dl.classes: [\"0\", \"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\", \"8\", \"9\"]" info
'

test_case 're-running the same prep gives an identical file' '
	"$PREP" idx "$IMG" "$LBL" --limit 100 -o a.st 2>/dev/null &&
	cp a.st first.st &&
	"$PREP" idx "$IMG" "$LBL" --limit 100 -o a.st 2>/dev/null && cmp first.st a.st
'

test_case '--val-fraction 0.2 --val-out: 80 + 20 samples' '
	test_expect_code 0 "$PREP" idx "$IMG" "$LBL" --limit 100 --val-fraction 0.2 --val-out v.st -o t.st 2>err &&
	"$PREP" info t.st >it && "$PREP" info v.st >iv &&
	grep -Eq "images +U8 +\[80, 28, 28, 1\]" it && grep -Eq "labels +I32 +\[80\]" it &&
	grep -Eq "images +U8 +\[20, 28, 28, 1\]" iv && grep -Eq "labels +I32 +\[20\]" iv &&
	grep -q "v.st: 20 samples (seed 1)" err
'

test_case 'the split is the same for the same --seed, different for another' '
	"$PREP" idx "$IMG" "$LBL" --limit 100 --val-fraction 0.2 --val-out v1.st -o t1.st --seed 7 2>/dev/null &&
	"$PREP" idx "$IMG" "$LBL" --limit 100 --val-fraction 0.2 --val-out v2.st -o t2.st --seed 7 2>/dev/null &&
	"$PREP" idx "$IMG" "$LBL" --limit 100 --val-fraction 0.2 --val-out v3.st -o t3.st --seed 8 2>/dev/null &&
	cmp v1.st v2.st && cmp t1.st t2.st &&
	! cmp -s v1.st v3.st && ! cmp -s t1.st t3.st
'

test_case 'the split partitions the samples: class histograms of train + val add up to the whole' '
	"$PREP" idx "$IMG" "$LBL" --limit 100 -o all.st 2>/dev/null &&
	"$PREP" idx "$IMG" "$LBL" --limit 100 --val-fraction 0.2 --val-out v.st -o t.st 2>/dev/null &&
	h() { "$PREP" info "$1" | sed -n "s/^class histogram: //p" | tr " " "\n" | grep .; } &&
	h all.st >ha && h t.st >ht && h v.st >hv && [ "$(wc -l <ha)" -eq 10 ] && [ -s hv ] &&
	join -t: -a1 -a2 -e0 -o 0,1.2,2.2 ht hv | awk -F: "{print \$1\":\"\$2+\$3}" >sum &&
	sort ha >ha.s && sort sum >sum.s && cmp ha.s sum.s
'

# ---- bad inputs: exit 3, one line naming the file, no output left

test_case 'truncated IDX images: exit 3, names the file, no output' '
	head -c 100000 "$FIX/images.idx" >trunc.idx &&
	test_expect_code 3 "$PREP" idx trunc.idx "$FIX/labels.idx" -o out.st 2>err &&
	one_error err trunc.idx && no_output out.st
'

test_case 'truncated gzip images: exit 3, no output' '
	head -c 200000 "$IMG" >trunc.gz &&
	test_expect_code 3 "$PREP" idx trunc.gz "$LBL" -o out.st 2>err &&
	one_error err trunc.gz && no_output out.st
'

test_case 'wrong magic (not 0x0000): exit 3, names the file, no output' '
	{ printf "\x12\x34\x08\x03"; tail -c +5 "$FIX/images.idx"; } >magic.idx &&
	test_expect_code 3 "$PREP" idx magic.idx "$FIX/labels.idx" -o out.st 2>err &&
	one_error err magic.idx && no_output out.st
'

test_case 'wrong element type in the magic (f32 images): exit 3, no output' '
	{ printf "\x00\x00\x0d\x03"; tail -c +5 "$FIX/images.idx"; } >f32.idx &&
	test_expect_code 3 "$PREP" idx f32.idx "$FIX/labels.idx" -o out.st 2>err &&
	one_error err f32.idx && no_output out.st
'

test_case 'labels with a different count than images: exit 3, no output' '
	test_expect_code 3 "$PREP" idx "$FIX/images.idx" "$FIX/train-labels.idx" -o out.st 2>err &&
	one_error err train-labels.idx && grep -q "60000 labels for 10000 images" err && no_output out.st
'

test_case 'a file that is not IDX at all (as images, then as labels): exit 3, no output' '
	printf "hello, this is not an idx file\n" >text.txt &&
	test_expect_code 3 "$PREP" idx text.txt "$LBL" -o out.st 2>err && one_error err text.txt &&
	test_expect_code 3 "$PREP" idx "$IMG" text.txt -o out.st 2>err2 && one_error err2 text.txt &&
	no_output out.st
'

test_case 'images and labels swapped: exit 3, no output' '
	test_expect_code 3 "$PREP" idx "$LBL" "$IMG" -o out.st 2>err && test_one_line err &&
	no_output out.st
'

test_case 'labels outside --classes (3 names for 10 classes): exit 3, no output' '
	test_expect_code 3 "$PREP" idx "$IMG" "$LBL" --classes a,b,c -o out.st 2>err &&
	one_error err "outside the 3 classes" && no_output out.st
'

test_case 'bad input with --val-out: exit 3, neither output left' '
	head -c 100000 "$FIX/images.idx" >trunc.idx &&
	test_expect_code 3 "$PREP" idx trunc.idx "$LBL" --val-fraction 0.2 --val-out v.st -o out.st 2>err &&
	test_one_line err && no_output out.st v.st
'

test_case 'a missing input file: exit 4, names it, no output' '
	test_expect_code 4 "$PREP" idx nosuch-images.gz "$LBL" -o out.st 2>err &&
	one_error err nosuch-images.gz &&
	test_expect_code 4 "$PREP" idx "$IMG" nosuch-labels.gz -o out.st 2>err2 &&
	one_error err2 nosuch-labels.gz && no_output out.st
'

test_case 'an output in a missing directory: exit 4, one line' '
	test_expect_code 4 "$PREP" idx "$IMG" "$LBL" --limit 10 -o nodir/out.st 2>err &&
	one_error err nodir/out.st && [ ! -e nodir ]
'

test_case 'a failed write of -o leaves no --val-out file behind either (atomic outputs)' '
	test_expect_code 4 "$PREP" idx "$IMG" "$LBL" --limit 100 --val-fraction 0.2 --val-out v.st \
		-o nodir/t.st 2>err &&
	one_error err nodir/t.st && no_output v.st
'

# ---- dl-prep info on bad files

test_case 'info on a non-safetensors file (IDX, text): exit 3, one line' '
	test_expect_code 3 "$PREP" info "$FIX/images.idx" >out 2>err && one_error err images.idx &&
	printf "not a tensor file at all\n" >text.txt &&
	test_expect_code 3 "$PREP" info text.txt >out2 2>err2 && one_error err2 text.txt
'

test_case 'info on a truncated safetensors file: exit 3, one line' '
	"$PREP" idx "$IMG" "$LBL" --limit 100 -o d.st 2>/dev/null &&
	head -c 600 d.st >cut.st &&
	test_expect_code 3 "$PREP" info cut.st >out 2>err && one_error err cut.st &&
	head -c 5 d.st >tiny.st &&
	test_expect_code 3 "$PREP" info tiny.st >out2 2>err2 && one_error err2 tiny.st &&
	s=$(stat -c %s d.st) && head -c $((s - 1)) d.st >short.st &&
	test_expect_code 3 "$PREP" info short.st >out3 2>err3 && one_error err3 short.st
'

test_case 'info on a missing file: exit 4' '
	test_expect_code 4 "$PREP" info nosuch.st 2>err && one_error err nosuch.st
'

test_done
