#!/bin/bash
# Exit codes of the failure classes found by the hardening review (issue 12):
# an empty training set is bad input (3, naming the file), not a failure in
# the schedule (1); a checkpoint whose dl.classes is not a list of names is
# refused by every reader (3, naming the file) instead of exporting or
# scoring it; NaN/Inf model outputs exit 9 with valid JSON (no "nan");
# a loss that grows past --diverge-factor times its first value exits 9.
. "$(dirname "$0")/lib.sh"
TRAIN=$DL_BIN/dl-train EVAL=$DL_BIN/dl-eval PREP=$DL_BIN/dl-prep EXPORT=$DL_BIN/dl-export
PY=/usr/bin/python3
export OMP_WAIT_POLICY=PASSIVE NO_COLOR=1

FIX=$TEST_TMP/fix
mkdir -p "$FIX"
"$PY" "$DL_ROOT/tests/torch/make_train_fixture.py" "$FIX/ds.st" --n 64 --hw 8 2>"$FIX/make.err"
printf "input h=8 w=8 c=1\nflatten\ndense units=2\n" >"$FIX/m.spec"
"$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" -o "$FIX/run" -q -j 1 2>"$FIX/train.err"
CK=$FIX/run/model.safetensors
# edit IN OUT PYTHON: rewrite a safetensors file (t: tensors, m: metadata)
edit() {
	"$PY" -c "
import sys; sys.path.insert(0, '$DL_ROOT/bench'); import stio, numpy as np
t, m = stio.load('$1')
$3
stio.save('$2', t, m)"
}

test_case 'fixtures: a dataset and a checkpoint' '
	[ -s "$FIX/ds.st" ] && [ -s "$CK" ] || { cat "$FIX/make.err" "$FIX/train.err"; exit 1; }
'

test_case 'an empty training set: exit 3 naming the file (not 1 "schedule: no steps")' '
	edit "$FIX/ds.st" empty.st "t = {k: v[:0] for k, v in t.items()}" &&
	test_expect_code 3 "$TRAIN" -m "$FIX/m.spec" --train empty.st -o r -q 2>err &&
	test_one_line err && grep -q "^dl-train: empty.st: no training samples" err && [ ! -e r ]
'

test_case 'dl.classes not a list of names: metrics, predict, every export exit 3 naming the file' '
	for bad in "{\"a\": 1}" "[1, 2]" "not json"; do
		"$PY" -c "
import sys; sys.path.insert(0, \"$DL_ROOT/bench\"); import stio
t, m = stio.load(\"$CK\"); m[\"dl.classes\"] = sys.argv[1]; stio.save(\"bad.st\", t, m)" "$bad" || exit 1
		"$PREP" show "$FIX/ds.st" -n 1 -o a.png 2>/dev/null
		test_expect_code 3 "$EVAL" bad.st "$FIX/ds.st" 2>e1 && grep -q "^dl-eval: bad.st: metadata dl.classes" e1 &&
		test_expect_code 3 "$EVAL" predict bad.st a.png 2>e2 && grep -q "bad.st: metadata dl.classes" e2 &&
		for f in safetensors onnx c; do
			test_expect_code 3 "$EXPORT" bad.st --format $f -o out.$f 2>e3 &&
			grep -q "bad.st: metadata dl.classes" e3 && [ ! -e out.$f ] || exit 1
		done || exit 1
	done
'

test_case 'NaN weights: dl-eval exits 9, predict exits 9 with valid JSON lines and no "nan"' '
	edit "$CK" nan.st "t = {k: (v * np.float32(\"nan\") if v.dtype == np.float32 and k[0].isdigit() else v) for k, v in t.items()}" &&
	"$PREP" show "$FIX/ds.st" -n 1 -o a.png 2>/dev/null &&
	test_expect_code 9 "$EVAL" nan.st "$FIX/ds.st" --json >out 2>err &&
	grep -q "not finite" err && ! grep -qi nan out &&
	test_expect_code 9 "$EVAL" predict nan.st a.png a.png --json >p.jsonl 2>err2 &&
	grep -q "nan.st: 2 images gave non-finite outputs" err2 && ! grep -qi "nan" p.jsonl &&
	"$PY" -c "import json; [json.loads(l) for l in open(\"p.jsonl\")]" &&
	test_expect_code 0 "$EVAL" predict "$CK" a.png --json >ok.jsonl &&
	"$PY" -c "import json; [json.loads(l) for l in open(\"ok.jsonl\")]"
'

test_case 'divergence: Adam at --lr 1e6 exits 9 naming the rule; --diverge-factor 0 turns it off' '
	test_expect_code 9 "$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" -o r --lr 1e6 --epochs 30 --batch 16 -q 2>err &&
	test_one_line err && grep -q "training diverged at step .*--diverge-factor 10000 times the first step" err &&
	test_expect_code 0 "$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" -o r2 --lr 1e6 --epochs 3 --batch 16 -q \
		--diverge-factor 0 2>err2 &&
	test_expect_code 2 "$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" -o r3 --diverge-factor 0.5 -q 2>err3 &&
	grep -q "diverge-factor" err3 &&
	test_expect_code 0 "$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" -o r4 --lr 1e-3 --epochs 3 -q 2>err4
'

test_done
