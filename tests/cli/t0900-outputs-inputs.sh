#!/bin/bash
# Outputs never destroy inputs (lib/core/iocheck.c, one check used by every
# tool): an output that names an input -- same path, ./x, a symlink, a hard
# link, RUN/model.safetensors inside -o RUN -- is refused with exit 2 and one
# error line naming both, the input left byte-for-byte intact.  dl-prep's
# train/val pair appears together or not at all.  Every write is checked:
# /dev/full as a log, a CSV, stdout (--json, predict, info, --help, -o -)
# gives exit 4, never 0.
. "$(dirname "$0")/lib.sh"
TRAIN=$DL_BIN/dl-train EVAL=$DL_BIN/dl-eval PREP=$DL_BIN/dl-prep EXPORT=$DL_BIN/dl-export
FETCH=$DL_BIN/dl-fetch
PY=/usr/bin/python3
DEB=/usr/share/datasets/fashion-mnist
export OMP_WAIT_POLICY=PASSIVE NO_COLOR=1

FIX=$TEST_TMP/fix
mkdir -p "$FIX"
"$PY" "$DL_ROOT/tests/torch/make_train_fixture.py" "$FIX/ds.st" --n 64 --hw 8 2>"$FIX/make.err"
printf "input h=8 w=8 c=1\nflatten\ndense units=2\n" >"$FIX/m.spec"
"$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" -o "$FIX/run" -q -j 1 2>"$FIX/train.err"
gzip -dc "$DEB/t10k-images-idx3-ubyte.gz" 2>/dev/null | head -c 784016 >"$FIX/img.idx"
gzip -dc "$DEB/t10k-labels-idx1-ubyte.gz" 2>/dev/null | head -c 1008 >"$FIX/lab.idx"
# the IDX headers say 10000; rewrite the counts to the 1000 samples kept
"$PY" -c "
import struct, sys
for f in ('$FIX/img.idx', '$FIX/lab.idx'):
    b = bytearray(open(f, 'rb').read()); b[4:8] = struct.pack('>I', 1000); open(f, 'wb').write(b)"

test_case 'fixtures: a dataset, a run, IDX files' '
	[ -s "$FIX/ds.st" ] || { cat "$FIX/make.err"; exit 1; }
	[ -s "$FIX/run/model.safetensors" ] || { cat "$FIX/train.err"; exit 1; }
	"$PREP" idx "$FIX/img.idx" "$FIX/lab.idx" -o t.st 2>err || { cat err; exit 1; }
'

# refused EXPECT_IN CMD...: exit 2, the first line names the output and the
# input, the input (a copy of which is in $FIX/keep) unchanged, no temp left
refused() {
	local in=$1; shift
	cp "$in" keep
	test_expect_code 2 "$@" 2>err || { cat err; return 1; }
	head -1 err | grep -q "is the same file as .*an output may not overwrite an input\|name the same file" ||
		{ echo "unexpected message:"; cat err; return 1; }
	[ "$(grep -c "^dl-" err)" = 1 ] || { echo "more than one error line:"; cat err; return 1; }
	cmp "$in" keep || { echo "$in was changed"; return 1; }
	if compgen -G "*.tmp.*" >/dev/null || compgen -G "*/*.tmp.*" >/dev/null; then
		echo "temp left:"; ls -laR; return 1
	fi
}

test_case 'dl-train: --log, --csv-log, --save-init naming the training file: exit 2, intact' '
	cp "$FIX/ds.st" ds.st &&
	refused ds.st "$TRAIN" -m "$FIX/m.spec" --train ds.st -o run --log ds.st -q &&
	refused ds.st "$TRAIN" -m "$FIX/m.spec" --train ds.st -o run --csv-log ds.st -q &&
	refused ds.st "$TRAIN" -m "$FIX/m.spec" --train ds.st -o run --save-init ./ds.st -q &&
	refused ds.st "$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" --val ds.st -o run --log "$PWD/ds.st" -q &&
	grep -q -- "--log $PWD/ds.st is the same file as --val ds.st" err &&
	[ ! -e run ]
'

test_case 'dl-train: --train RUN/model.safetensors -o RUN, and the spec file as a log: exit 2' '
	cp -r "$FIX/run" run && cp "$FIX/m.spec" m.spec &&
	refused run/model.safetensors "$TRAIN" -m m.spec --train run/model.safetensors -o run -q &&
	grep -q "^dl-train: -o run/model.safetensors is the same file as --train" err &&
	refused m.spec "$TRAIN" -m m.spec --train "$FIX/ds.st" -o run2 --csv-log m.spec -q &&
	refused m.spec "$TRAIN" -m m.spec --train "$FIX/ds.st" -o run2 --log x.log --csv-log ./x.log -q
'

test_case 'symlinks and hard links are the same file: exit 2' '
	cp "$FIX/ds.st" ds.st && ln -s ds.st sym.st && ln ds.st hard.st &&
	refused ds.st "$TRAIN" -m "$FIX/m.spec" --train ds.st -o run --log sym.st -q &&
	refused ds.st "$EVAL" "$FIX/run/model.safetensors" ds.st --logits hard.st &&
	refused ds.st "$PREP" show ds.st -o sym.st
'

test_case 'dl-export CK -o CK (any spelling, any format): exit 2, intact' '
	mkdir d && cp "$FIX/run/model.safetensors" d/ck.st &&
	refused d/ck.st "$EXPORT" d/ck.st -o d/ck.st &&
	refused d/ck.st "$EXPORT" d/ck.st --format onnx -o ./d/../d/ck.st &&
	cp d/ck.st ck.c && refused ck.c "$EXPORT" ck.c --format c -o ck.c
'

test_case 'dl-eval --logits / --plot naming an input, dl-eval plot LOG -o LOG: exit 2' '
	cp "$FIX/ds.st" ds.st && cp "$FIX/run/model.safetensors" ck.st && cp "$FIX/run/log.jsonl" log.jsonl &&
	refused ds.st "$EVAL" ck.st ds.st --logits ds.st &&
	refused ck.st "$EVAL" ck.st ds.st --logits ck.st &&
	refused ck.st "$EVAL" ck.st ds.st --plot ck.st &&
	refused log.jsonl "$EVAL" plot log.jsonl -o log.jsonl &&
	refused ds.st "$EVAL" ck.st ds.st --logits l.st --plot l.st
'

test_case 'dl-prep show DS -o DS, idx IMG LAB -o IMG, --val-out LAB: exit 2' '
	cp "$FIX/ds.st" ds.st && cp "$FIX/img.idx" img.idx && cp "$FIX/lab.idx" lab.idx &&
	refused ds.st "$PREP" show ds.st -o ds.st &&
	refused img.idx "$PREP" idx img.idx lab.idx -o img.idx &&
	refused lab.idx "$PREP" idx img.idx lab.idx --val-fraction 0.2 --val-out lab.idx -o t.st &&
	refused img.idx "$PREP" idx img.idx lab.idx --val-fraction 0.2 --val-out v.st -o ./v.st &&
	[ ! -e t.st ] && [ ! -e v.st ]
'

test_case 'dl-fetch: -d naming the --from copy or the manifest: exit 2, intact' '
	mkdir src && head -c 1000 /dev/urandom >src/a.bin &&
	printf "dataset a\nfile a.bin sha256=%s\n" "$(sha256sum <src/a.bin | cut -c1-64)" >m &&
	refused src/a.bin "$FETCH" -f m a --from src -d src -q &&
	grep -q "^dl-fetch: -d src/a.bin is the same file as --from src/a.bin" err &&
	mkdir d && printf "dataset b\nfile m sha256=%064d\n" 0 >d/m &&
	refused d/m "$FETCH" -f d/m b --from src -d d -q
'

test_case 'a device as output (/dev/full): written in place, never renamed over; exit 4' '
	test_expect_code 4 "$EVAL" "$FIX/run/model.safetensors" "$FIX/ds.st" --logits /dev/full >/dev/null 2>err &&
	grep -q "/dev/full: write failed" err && [ -c /dev/full ] &&
	test_expect_code 4 "$EXPORT" "$FIX/run/model.safetensors" -o /dev/full 2>err2 && [ -c /dev/full ] &&
	test_expect_code 4 "$PREP" show "$FIX/ds.st" -o /dev/full 2>err3 && [ -c /dev/full ] &&
	test_expect_code 4 "$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" -o r --save-init /dev/full -q 2>err4 &&
	[ -c /dev/full ] && ! ls /dev/full.tmp.* 2>/dev/null
'

# ---- both or neither

test_case 'dl-prep: a failed -o keeps the old train/val pair byte-for-byte' '
	I="$FIX/img.idx" L="$FIX/lab.idx" &&
	"$PREP" idx "$I" "$L" --limit 100 --val-fraction 0.2 --val-out v.st -o t.st 2>err &&
	cp v.st v.old && cp t.st t.old &&
	test_expect_code 4 "$PREP" idx "$I" "$L" --limit 200 --val-fraction 0.2 --val-out v.st -o nodir/t.st 2>err &&
	cmp v.st v.old && cmp t.st t.old &&
	mkdir isdir &&
	test_expect_code 4 "$PREP" idx "$I" "$L" --limit 200 --val-fraction 0.2 --val-out v.st -o isdir 2>err &&
	grep -q "isdir: cannot rename into place" err && cmp v.st v.old &&
	[ -z "$(ls -A isdir)" ] && ! compgen -G "*.tmp.*" &&
	"$PREP" idx "$I" "$L" --limit 200 --val-fraction 0.2 --val-out v.st -o t.st 2>err &&
	! cmp -s v.st v.old && ! cmp -s t.st t.old
'

test_case 'dl-prep: a failed first write of a new pair leaves neither file' '
	test_expect_code 4 "$PREP" idx "$FIX/img.idx" "$FIX/lab.idx" --val-fraction 0.2 --val-out v.st -o nodir/t.st 2>err &&
	[ ! -e v.st ] && ! compgen -G "*.tmp.*"
'

# ---- every write checked

test_case 'dl-train: --csv-log /dev/full and --log /dev/full exit 4 naming it' '
	test_expect_code 4 "$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" -o r1 --csv-log /dev/full -q 2>err &&
	grep -q "^dl-train: /dev/full: write failed" err &&
	test_expect_code 4 "$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" -o r2 --log /dev/full -q 2>err &&
	grep -q "/dev/full" err &&
	test_expect_code 4 "$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" -o r3 --log - -q >/dev/full 2>err &&
	grep -q "write failed" err
'

test_case 'dl-train: a log that fails mid-run stops the run (exit 4), not at the end' '
	test_expect_code 4 "$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" -o r --epochs 1000 --batch 64 \
		--csv-log /dev/full -q 2>err &&
	n=$(grep -c "\"event\": \"epoch\"" r/log.jsonl) && echo "$n epoch lines" && [ "$n" -le 1 ]
'

test_case 'stdout on a full disk: exit 4 in every tool (--json, predict, info, -o -, --list, --help)' '
	CK=$FIX/run/model.safetensors &&
	"$PREP" show "$FIX/ds.st" -n 1 -o a.png 2>/dev/null &&
	test_expect_code 4 "$EVAL" "$CK" "$FIX/ds.st" --json >/dev/full 2>e1 && grep -q "stdout: write failed" e1 &&
	test_expect_code 4 "$EVAL" predict "$CK" a.png >/dev/full 2>e2 && grep -q "stdout: write failed" e2 &&
	test_expect_code 4 "$PREP" info "$FIX/ds.st" >/dev/full 2>e3 && grep -q "stdout: write failed" e3 &&
	test_expect_code 4 "$EXPORT" "$CK" -o - >/dev/full 2>e4 && grep -q "stdout: write failed" e4 &&
	test_expect_code 4 "$FETCH" --list >/dev/full 2>e5 && grep -q "stdout: write failed" e5 &&
	test_expect_code 4 "$TRAIN" -m lenet --summary >/dev/full 2>e6 && grep -q "stdout: write failed" e6 &&
	for t in "$TRAIN" "$EVAL" "$PREP" "$EXPORT" "$FETCH"; do
		test_expect_code 4 "$t" --help >/dev/full 2>e7 && grep -q "stdout: write failed" e7 &&
		test_expect_code 4 "$t" --version >/dev/full 2>e8 || exit 1
	done &&
	test_expect_code 4 "$PREP" idx --help >/dev/full 2>e9 &&
	test_expect_code 4 "$EVAL" plot --help >/dev/full 2>e10
'

test_case 'a file output on a full disk (/dev/full cannot hold a temp): exit 4, no temp' '
	test_expect_code 4 "$EVAL" "$FIX/run/model.safetensors" "$FIX/ds.st" --logits /dev/full/x.st >/dev/null 2>err &&
	grep -q "/dev/full/x.st" err
'

test_done
