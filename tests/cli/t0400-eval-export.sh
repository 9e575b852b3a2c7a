#!/bin/bash
# dl-eval and dl-export: help and usage errors, the human line and --json,
# the --min-accuracy gate (exit 7), --logits, checkpoints that do not fit
# (exit 3), missing files (exit 4), the PyTorch-named export and its
# metadata.  Small subsets only: mlp on 512 samples, lenet on 64.  Needs
# Debian's dataset-fashion-mnist (make deps): without it the cases FAIL.
. "$(dirname "$0")/lib.sh"

EVAL=$DL_BIN/dl-eval
EXPORT=$DL_BIN/dl-export
TRAIN=$DL_BIN/dl-train
PREP=$DL_BIN/dl-prep
DEB=/usr/share/datasets/fashion-mnist
export NO_COLOR=1

# usage_error PROG FILE: exactly one "PROG: ..." line plus the --help hint
usage_error() {
	if [ "$(grep -c "^$1: " "$2")" -ne 1 ] || ! grep -q "^Try '$1 --help'" "$2" ||
		[ "$(wc -l <"$2")" -ne 2 ]; then
		echo "expected one $1 error line and the hint in $2:"; cat "$2"; return 1
	fi
}

# one_error PROG FILE WORD: exactly one line, "PROG: ...", mentioning WORD
one_error() {
	test_one_line "$2" || return 1
	grep -q "^$1: " "$2" || { echo "no '$1: ' prefix:"; cat "$2"; return 1; }
	grep -qF -- "$3" "$2" || { echo "message does not name '$3':"; cat "$2"; return 1; }
}

# no_output NAME...: neither NAME nor any NAME.tmp.* exists (in the cwd)
no_output() {
	local f
	for f in "$@"; do
		if [ -e "$f" ] || compgen -G "$f.tmp.*" >/dev/null; then echo "left behind:"; ls -la; return 1; fi
	done
}

# Shared fixtures: train/test subsets, an mlp and a lenet checkpoint, an
# 8x8 dataset (hand-made IDX: 10 samples, labels 0..9).
FIX=$TEST_TMP/fix
mkdir -p "$FIX"
TR=$FIX/train.st TE=$FIX/test.st T64=$FIX/train64.st D8=$FIX/d8.st
MLP=$FIX/mlp/model.safetensors LENET=$FIX/lenet/model.safetensors
{
	"$PREP" idx "$DEB/train-images-idx3-ubyte.gz" "$DEB/train-labels-idx1-ubyte.gz" --limit 512 \
		--classes fashion-mnist -o "$TR" &&
	"$PREP" idx "$DEB/t10k-images-idx3-ubyte.gz" "$DEB/t10k-labels-idx1-ubyte.gz" --limit 200 \
		--classes fashion-mnist -o "$TE" &&
	"$PREP" idx "$DEB/train-images-idx3-ubyte.gz" "$DEB/train-labels-idx1-ubyte.gz" --limit 64 -o "$T64" &&
	"$TRAIN" -m mlp --train "$TR" -o "$FIX/mlp" --epochs 2 --seed 1 -j 2 -q &&
	"$TRAIN" -m lenet --train "$T64" -o "$FIX/lenet" --epochs 1 --seed 1 -j 2 -q &&
	{ printf '\x00\x00\x08\x03\x00\x00\x00\x0a\x00\x00\x00\x08\x00\x00\x00\x08'
	  gzip -dc "$DEB/t10k-images-idx3-ubyte.gz" | head -c 656 | tail -c 640; } >"$FIX/i8.idx" &&
	printf '\x00\x00\x08\x01\x00\x00\x00\x0a\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09' >"$FIX/l8.idx" &&
	"$PREP" idx "$FIX/i8.idx" "$FIX/l8.idx" -o "$D8"
} >"$FIX/setup.log" 2>&1

test_case 'fixtures: subsets, an mlp and a lenet checkpoint, an 8x8 dataset (needs make deps)' '
	[ -s "$TR" ] && [ -s "$TE" ] && [ -s "$MLP" ] && [ -s "$LENET" ] && [ -s "$D8" ] ||
		{ cat "$FIX/setup.log"; exit 1; }
'

# ---- dl-eval: help, version, usage errors

test_case 'dl-eval --help: usage on stdout, exit 0' '
	test_expect_code 0 "$EVAL" --help >out 2>err && [ ! -s err ] &&
	grep -q -- "--min-accuracy" out && grep -q -- "--json" out && grep -q -- "--logits" out &&
	grep -q "exit codes" out &&
	{ grep -q "^usage: dl-eval CHECKPOINT DATASET" out ||
		{ echo "the usage line lacks the program name:"; head -1 out; exit 1; }; }
'

test_case 'dl-eval --version: one line' '
	test_expect_code 0 "$EVAL" --version >out 2>err && [ ! -s err ] && test_one_line out &&
	grep -q "^dl-eval (dl-tools) [0-9]" out
'

test_case 'dl-eval with no arguments, one, or three: exit 2' '
	test_expect_code 2 "$EVAL" >out 2>err && usage_error dl-eval err && [ ! -s out ] &&
	test_expect_code 2 "$EVAL" "$MLP" 2>err2 && usage_error dl-eval err2 &&
	test_expect_code 2 "$EVAL" "$MLP" "$TE" "$TE" 2>err3 && usage_error dl-eval err3
'

test_case 'dl-eval unknown option: exit 2, names it' '
	test_expect_code 2 "$EVAL" "$MLP" "$TE" --verbose 2>err && usage_error dl-eval err &&
	grep -q -- "--verbose" err
'

test_case 'dl-eval --min-accuracy outside [0, 1], --batch 0: exit 2' '
	test_expect_code 2 "$EVAL" "$MLP" "$TE" --min-accuracy 85 >out 2>err &&
	usage_error dl-eval err && [ ! -s out ] &&
	test_expect_code 2 "$EVAL" "$MLP" "$TE" --batch 0 2>err2 && usage_error dl-eval err2
'

test_case 'dl-eval --device cuda on this build: exit 2' '
	test_expect_code 2 "$EVAL" "$MLP" "$TE" --device cuda 2>err && usage_error dl-eval err
'

# ---- dl-eval: results

test_case 'dl-eval: one human line on stdout with model, samples, loss, accuracy' '
	test_expect_code 0 "$EVAL" "$MLP" "$TE" -j 2 >out 2>err && [ ! -s err ] && test_one_line out &&
	grep -Eq "^mlp on .*test.st: 200 samples, loss [0-9]+\.[0-9]{4}, accuracy [01]\.[0-9]{4}$" out
'

test_case 'dl-eval --json: one valid JSON object with n, loss, accuracy' '
	test_expect_code 0 "$EVAL" "$MLP" "$TE" --json >out 2>err && [ ! -s err ] && test_one_line out &&
	/usr/bin/python3 -c "import json,sys
d = json.load(sys.stdin)
assert d[\"n\"] == 200 and d[\"model\"] == \"mlp\", d
assert 0 <= d[\"accuracy\"] <= 1 and d[\"loss\"] > 0, d" <out
'

test_case 'dl-eval --json is valid JSON for file names with a quote or a backslash' '
	cp "$TE" "te\"st.st" && cp "$TE" "back\\slash.st" &&
	"$EVAL" "$MLP" "te\"st.st" --json >out && "$EVAL" "$MLP" "back\\slash.st" --json >>out &&
	/usr/bin/python3 -c "import json,sys
ds = [json.loads(l)[\"dataset\"] for l in sys.stdin]
assert ds == [\"te\\\"st.st\", \"back\\\\slash.st\"], ds" <out
'

test_case 'dl-eval is deterministic: the same numbers twice, and for --threads 1 vs 2 the same accuracy' '
	"$EVAL" "$MLP" "$TE" -j 2 >a && "$EVAL" "$MLP" "$TE" -j 2 >b && cmp a b &&
	"$EVAL" "$MLP" "$TE" -j 1 --json | sed "s/.*accuracy/acc/" >c1 &&
	"$EVAL" "$MLP" "$TE" -j 2 --json | sed "s/.*accuracy/acc/" >c2 && cmp c1 c2
'

test_case 'dl-eval agrees with training: 2 epochs of mlp score well above chance on the test subset' '
	"$EVAL" "$MLP" "$TE" --json >out &&
	/usr/bin/python3 -c "import json,sys; a = json.load(sys.stdin)[\"accuracy\"]; assert a > 0.3, a" <out
'

test_case '--min-accuracy 0.0: exit 0' '
	test_expect_code 0 "$EVAL" "$MLP" "$TE" --min-accuracy 0.0 >out 2>err && [ ! -s err ] &&
	test_one_line out
'

test_case '--min-accuracy 1.0: exit 7, the result still on stdout, "gate failed" one line' '
	test_expect_code 7 "$EVAL" "$MLP" "$TE" --min-accuracy 1.0 >out 2>err &&
	test_one_line out && grep -q "accuracy" out &&
	one_error dl-eval err "gate failed" && grep -q "1.0000" err
'

test_case '--min-accuracy 1.0 --json: exit 7 and still valid JSON' '
	test_expect_code 7 "$EVAL" "$MLP" "$TE" --min-accuracy 1 --json >out 2>err &&
	/usr/bin/python3 -c "import json,sys; json.load(sys.stdin)" <out && one_error dl-eval err "gate failed"
'

test_case '--logits FILE: dl-prep info shows logits F32 [200, 10]' '
	test_expect_code 0 "$EVAL" "$MLP" "$TE" --logits lg.st >out &&
	"$PREP" info lg.st >info && grep -Eq "^  logits +F32 +\[200, 10\]$" info &&
	grep -q "^tensors: 1$" info && ! compgen -G "lg.st.tmp.*" >/dev/null
'

test_case '--logits into a missing directory: exit 4, no file' '
	test_expect_code 4 "$EVAL" "$MLP" "$TE" --logits nodir/lg.st >out 2>err &&
	one_error dl-eval err nodir/lg.st && [ ! -e nodir ]
'

# ---- dl-eval: bad inputs

test_case 'dl-eval with a dataset as the checkpoint: exit 3, one line' '
	test_expect_code 3 "$EVAL" "$TE" "$TE" >out 2>err && one_error dl-eval err test.st && [ ! -s out ]
'

test_case 'dl-eval with a checkpoint as the dataset: exit 3, one line' '
	test_expect_code 3 "$EVAL" "$MLP" "$LENET" >out 2>err && one_error dl-eval err lenet/model.safetensors
'

test_case 'dl-eval of a lenet checkpoint on an 8x8 dataset: exit 3, one line' '
	test_expect_code 3 "$EVAL" "$LENET" "$D8" >out 2>err && one_error dl-eval err d8.st &&
	grep -q "8x8x1" err && grep -q "28x28x1" err && [ ! -s out ]
'

test_case 'dl-eval of a checkpoint whose spec no longer matches its tensors: exit 3' '
	LC_ALL=C sed "0,/units=128/s//units=127/" "$MLP" >tampered.st && ! cmp -s "$MLP" tampered.st &&
	[ "$(stat -c %s tampered.st)" -eq "$(stat -c %s "$MLP")" ] &&
	test_expect_code 3 "$EVAL" tampered.st "$TE" >out 2>err && one_error dl-eval err tampered.st &&
	[ ! -s out ]
'

test_case 'dl-eval of a checkpoint with a transposed tensor shape: exit 3' '
	LC_ALL=C sed "s/\"shape\":\[10,128\]/\"shape\":[128,10]/" "$MLP" >tampered.st &&
	! cmp -s "$MLP" tampered.st &&
	test_expect_code 3 "$EVAL" tampered.st "$TE" >out 2>err && one_error dl-eval err "5.weight"
'

test_case 'dl-eval of a truncated checkpoint: exit 3' '
	head -c 100000 "$MLP" >cut.st &&
	test_expect_code 3 "$EVAL" cut.st "$TE" >out 2>err && one_error dl-eval err cut.st
'

test_case 'dl-eval with a missing checkpoint or dataset: exit 4' '
	test_expect_code 4 "$EVAL" nosuch.st "$TE" >out 2>err && one_error dl-eval err nosuch.st &&
	test_expect_code 4 "$EVAL" "$MLP" nodata.st >out2 2>err2 && one_error dl-eval err2 nodata.st
'

# ---- dl-export

test_case 'dl-export --help: usage on stdout, exit 0' '
	test_expect_code 0 "$EXPORT" --help >out 2>err && [ ! -s err ] &&
	grep -q -- "--format" out && grep -q "exit codes" out &&
	{ grep -q "^usage: dl-export CHECKPOINT" out ||
		{ echo "the usage line lacks the program name:"; head -1 out; exit 1; }; }
'

test_case 'dl-export --version: one line' '
	test_expect_code 0 "$EXPORT" --version >out 2>err && [ ! -s err ] && test_one_line out &&
	grep -q "^dl-export (dl-tools) [0-9]" out
'

test_case 'dl-export usage errors (no checkpoint, two, no -o, unknown option): exit 2, no file' '
	test_expect_code 2 "$EXPORT" -o x.st 2>e1 && usage_error dl-export e1 &&
	test_expect_code 2 "$EXPORT" "$MLP" "$MLP" -o x.st 2>e2 && usage_error dl-export e2 &&
	test_expect_code 2 "$EXPORT" "$MLP" 2>e3 && usage_error dl-export e3 && grep -q -- "-o" e3 &&
	test_expect_code 2 "$EXPORT" "$MLP" -o x.st --bogus 17 2>e4 && usage_error dl-export e4 &&
	no_output x.st
'

test_case 'dl-export --format tflite: exit 2 (unknown format, the known ones named), no file' '
	test_expect_code 2 "$EXPORT" "$MLP" --format tflite -o x.tfl 2>err && usage_error dl-export err &&
	grep -q "safetensors, onnx or c" err && no_output x.tfl
'

test_case 'dl-export --format onnx into a missing directory: exit 4, no file' '
	test_expect_code 4 "$EXPORT" "$MLP" --format onnx -o nodir/x.onnx 2>err && one_error dl-export err nodir &&
	[ ! -e nodir ]
'

test_case 'dl-export --format c: both files appear, or neither (missing directory: exit 4)' '
	test_expect_code 4 "$EXPORT" "$MLP" --format c -o nodir/m.c 2>err && [ ! -e nodir ] &&
	test_expect_code 0 "$EXPORT" "$MLP" --format c -o m.c && [ -s m.c ] && [ -s m.h ] &&
	! compgen -G "m.?.tmp.*" >/dev/null
'

test_case 'dl-export of lenet: 0.weight [20, 1, 5, 5] and PyTorch names' '
	test_expect_code 0 "$EXPORT" "$LENET" --format safetensors -o ex.st >out 2>err && [ ! -s out ] &&
	"$PREP" info ex.st >info &&
	grep -Eq "^  0.weight +F32 +\[20, 1, 5, 5\]$" info && grep -Eq "^  0.bias +F32 +\[20\]$" info &&
	grep -Eq "^  3.weight +F32 +\[50, 20, 5, 5\]$" info &&
	grep -Eq "^  7.weight +F32 +\[500, 2450\]$" info && grep -Eq "^  9.weight +F32 +\[10, 500\]$" info &&
	grep -q "^tensors: 8$" info && ! grep -q "optim.state" info &&
	grep -q "dl.format: dl-tools export safetensors-torch 1" info && grep -q "dl.model_name: lenet" info
'

test_case 'dl-export metadata: dl.input (NCHW, scale) and dl.torch_layers (the Sequential as data)' '
	"$EXPORT" "$LENET" -o ex.st &&
	"$PREP" info ex.st >info && grep -q "^  dl.input: " info && grep -q "^  dl.torch_layers: " info &&
	/usr/bin/python3 -c "import json,struct,sys
b = open(\"ex.st\", \"rb\").read(); n = struct.unpack(\"<Q\", b[:8])[0]
m = json.loads(b[8:8 + n])[\"__metadata__\"]
i = json.loads(m[\"dl.input\"])
assert (i[\"h\"], i[\"w\"], i[\"c\"]) == (28, 28, 1) and i[\"layout\"] == \"NCHW float32\", i
t = json.loads(m[\"dl.torch_layers\"])
assert \"dl.torch\" not in m
assert t[0] == {\"module\": \"Conv2d\", \"args\": [1, 20, 5], \"kwargs\": {\"stride\": 1, \"padding\": 2, \"dilation\": 1, \"groups\": 1, \"bias\": True}}, t[0]
assert t[6][\"module\"] == \"Flatten\" and t[7][\"args\"] == [2450, 500], t"
'

test_case 'dl-export of mlp: 1.weight [128, 784] (torch Linear layout)' '
	"$EXPORT" "$MLP" -o ex.st && "$PREP" info ex.st >info &&
	grep -Eq "^  1.weight +F32 +\[128, 784\]$" info && grep -Eq "^  5.bias +F32 +\[10\]$" info &&
	grep -qF "dl.classes: [\"T-shirt/top\"" info
'

test_case 'dl-export -o -: the same bytes on stdout' '
	"$EXPORT" "$MLP" -o ex.st && "$EXPORT" "$MLP" -o - >so.st && cmp ex.st so.st
'

test_case 'dl-export twice: identical files' '
	"$EXPORT" "$MLP" -o a.st && "$EXPORT" "$MLP" -o b.st && cmp a.st b.st
'

test_case 'dl-export into a missing or non-directory: exit 4, no file' '
	test_expect_code 4 "$EXPORT" "$MLP" -o nodir/ex.st 2>err && one_error dl-export err nodir/ex.st &&
	[ ! -e nodir ] && : >plain &&
	test_expect_code 4 "$EXPORT" "$MLP" -o plain/ex.st 2>err2 && one_error dl-export err2 plain/ex.st &&
	[ ! -s plain ]
'

test_case 'dl-export of a dataset or a non-safetensors file: exit 3, no file' '
	test_expect_code 3 "$EXPORT" "$TE" -o ex.st 2>err && one_error dl-export err test.st &&
	printf "text\n" >t.txt && test_expect_code 3 "$EXPORT" t.txt -o ex.st 2>err2 &&
	one_error dl-export err2 t.txt && no_output ex.st
'

test_case 'dl-export of a missing checkpoint: exit 4, no file' '
	test_expect_code 4 "$EXPORT" nosuch.st -o ex.st 2>err && one_error dl-export err nosuch.st &&
	no_output ex.st
'

test_done
