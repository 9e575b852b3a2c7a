#!/bin/bash
# dl-train: help, model summaries, usage errors, bad datasets and specs,
# a tiny real run (files, log, epoch line) and --seed reproducibility.
# Uses a 512-sample Fashion-MNIST subset and the mlp: each run is well under
# a second.  Needs Debian's dataset-fashion-mnist (make deps): without it the
# cases FAIL, never skip.
. "$(dirname "$0")/lib.sh"

TRAIN=$DL_BIN/dl-train
PREP=$DL_BIN/dl-prep
DEB=/usr/share/datasets/fashion-mnist
export NO_COLOR=1

# usage_error FILE: exactly one "dl-train: ..." line plus the --help hint
usage_error() {
	if [ "$(grep -c '^dl-train: ' "$1")" -ne 1 ] || ! grep -q "^Try 'dl-train --help'" "$1" ||
		[ "$(wc -l <"$1")" -ne 2 ]; then
		echo "expected one error line and the hint in $1:"; cat "$1"; return 1
	fi
}

# one_error FILE WORD: exactly one line, "dl-train: ...", mentioning WORD
one_error() {
	test_one_line "$1" || return 1
	grep -q '^dl-train: ' "$1" || { echo "no 'dl-train: ' prefix:"; cat "$1"; return 1; }
	grep -qF -- "$2" "$1" || { echo "message does not name '$2':"; cat "$1"; return 1; }
}

# Shared fixture: 512 training samples, 28x28x1, Fashion-MNIST class names.
FIX=$TEST_TMP/fix
mkdir -p "$FIX"
D=$FIX/train512.st
"$PREP" idx "$DEB/train-images-idx3-ubyte.gz" "$DEB/train-labels-idx1-ubyte.gz" --limit 512 \
	--classes fashion-mnist -o "$D" 2>"$FIX/prep.err"

test_case 'fixture: a 512-sample training subset (needs make deps)' '
	[ -s "$D" ] || { cat "$FIX/prep.err"; exit 1; }
'

# ---- help and version

test_case 'dl-train --help: usage and options on stdout, exit 0' '
	test_expect_code 0 "$TRAIN" --help >out 2>err && [ ! -s err ] &&
	grep -q -- "--epochs" out && grep -q -- "--seed" out &&
	grep -q -- "--summary" out && grep -q "exit codes" out &&
	{ grep -q "^usage: dl-train -m MODEL" out && grep -q "^       dl-train -m MODEL --summary" out ||
		{ echo "the usage lines lack the program name:"; head -2 out; exit 1; }; }
'

test_case 'dl-train --version: one line' '
	test_expect_code 0 "$TRAIN" --version >out 2>err && [ ! -s err ] && test_one_line out &&
	grep -q "^dl-train (dl-tools) [0-9]" out
'

# ---- summaries

test_case 'dl-train -m lenet --summary: 1,256,080 parameters' '
	test_expect_code 0 "$TRAIN" -m lenet --summary >out 2>err &&
	grep -q "^total params: 1,256,080$" out && grep -q conv2d out && grep -q maxpool out
'

test_case 'dl-train -m mlp --summary: 118,282 parameters' '
	test_expect_code 0 "$TRAIN" -m mlp --summary >out &&
	grep -q "^total params: 118,282$" out && [ "$(grep -c " dense " out)" -eq 3 ]
'

test_case 'dl-train -m perceptron --summary: 7,850 parameters' '
	test_expect_code 0 "$TRAIN" -m perceptron --summary >out &&
	grep -q "^total params: 7,850$" out
'

test_case 'a .spec file is a model: --summary of models/mlp.spec matches the built-in mlp' '
	test_expect_code 0 "$TRAIN" -m "$DL_ROOT/models/mlp.spec" --summary >out &&
	grep -q "^total params: 118,282$" out
'

# ---- usage errors: exit 2, one line and the hint, no run directory

test_case 'no -m: exit 2' '
	test_expect_code 2 "$TRAIN" --train "$D" -o run 2>err && usage_error err &&
	grep -q -- "-m MODEL" err && [ ! -e run ]
'

test_case 'unknown model: exit 2, names it' '
	test_expect_code 2 "$TRAIN" -m resnet999 --train "$D" -o run 2>err && usage_error err &&
	grep -q resnet999 err && [ ! -e run ]
'

test_case 'no arguments at all: exit 2' '
	test_expect_code 2 "$TRAIN" >out 2>err && usage_error err && [ ! -s out ]
'

test_case '--epochs 0: exit 2' '
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --epochs 0 2>err && usage_error err &&
	grep -q -- "--epochs" err && [ ! -e run ]
'

test_case '--batch 0: exit 2' '
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --batch 0 2>err && usage_error err &&
	grep -q -- "--batch" err && [ ! -e run ]
'

test_case 'unknown optimizer: exit 2, names it' '
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --optimizer rmsprop 2>err &&
	usage_error err && grep -q rmsprop err && [ ! -e run ]
'

test_case 'unknown option: exit 2, names it' '
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --learning-rate 0.1 2>err &&
	usage_error err && grep -q -- "--learning-rate" err && [ ! -e run ]
'

test_case 'a non-numeric --epochs, --lr 0, --momentum 1: exit 2' '
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --epochs two 2>err && usage_error err &&
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --lr 0 2>err2 && usage_error err2 &&
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --optimizer sgd --momentum 1 2>err3 &&
	usage_error err3 && [ ! -e run ]
'

# --lr defaults to the sentinel -1, and only lr == 0 or lr < -1 is refused:
# a negative learning rate in (-1, 0) is silently replaced by the default.
test_case 'a negative --lr (-0.5, -1): exit 2, not a silent default' '
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run -q --lr -0.5 2>err && usage_error err &&
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run2 -q --lr -1 2>err2 && usage_error err2 &&
	[ ! -e run ] && [ ! -e run2 ]
'

test_case 'missing --train or -o: exit 2' '
	test_expect_code 2 "$TRAIN" -m mlp -o run 2>err && usage_error err && grep -q -- "--train" err &&
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" 2>err2 && usage_error err2 && grep -q -- "-o" err2
'

test_case '--device cuda on this build: exit 2, no run directory' '
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --device cuda 2>err && usage_error err &&
	grep -q cuda err && [ ! -e run ]
'

test_case 'an extra positional argument: exit 2' '
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run extra 2>err && usage_error err &&
	grep -q extra err
'

# ---- bad files

test_case 'a missing --train file: exit 4, names it, no run directory' '
	test_expect_code 4 "$TRAIN" -m mlp --train nosuch.st -o run 2>err && one_error err nosuch.st &&
	[ ! -e run ]
'

test_case 'a --train file that is not a dataset (IDX, text): exit 3' '
	gzip -dc "$DEB/t10k-labels-idx1-ubyte.gz" >labels.idx &&
	test_expect_code 3 "$TRAIN" -m mlp --train labels.idx -o run 2>err && one_error err labels.idx &&
	printf "just text\n" >text.st &&
	test_expect_code 3 "$TRAIN" -m mlp --train text.st -o run 2>err2 && one_error err2 text.st &&
	[ ! -e run ]
'

test_case 'a safetensors file without images/labels (a checkpoint) as --train: exit 3' '
	"$TRAIN" -m perceptron --train "$D" -o r0 -q -j 1 &&
	test_expect_code 3 "$TRAIN" -m perceptron --train r0/model.safetensors -o run 2>err &&
	one_error err r0/model.safetensors && [ ! -e run ]
'

test_case 'a dataset of the wrong shape for the model (8x8 spec, 28x28 data): exit 3' '
	printf "# tiny\ninput h=8 w=8 c=1\nflatten\ndense units=10\n" >tiny8.spec &&
	test_expect_code 0 "$TRAIN" -m tiny8.spec --summary >out && grep -q "^total params: 650$" out &&
	test_expect_code 3 "$TRAIN" -m tiny8.spec --train "$D" -o run 2>err &&
	one_error err "28x28x1" && grep -q "8x8x1" err && [ ! -e run ]
'

test_case 'a model with fewer outputs than the dataset has classes: exit 3' '
	printf "input h=28 w=28 c=1\nflatten\ndense units=5\n" >five.spec &&
	test_expect_code 3 "$TRAIN" -m five.spec --train "$D" -o run 2>err && one_error err "10 classes" &&
	[ ! -e run ]
'

test_case 'a bad spec (unknown layer at line 3): exit 3, "FILE:3" in the message' '
	printf "# broken\ninput h=28 w=28 c=1\nfrobnicate units=3\ndense units=10\n" >bad.spec &&
	test_expect_code 3 "$TRAIN" -m bad.spec --summary >out 2>err && one_error err "bad.spec:3" &&
	grep -q frobnicate err &&
	test_expect_code 3 "$TRAIN" -m bad.spec --train "$D" -o run 2>err2 && one_error err2 "bad.spec:3" &&
	[ ! -e run ]
'

test_case 'a spec with a misspelt option: exit 3, names line and option' '
	printf "input h=28 w=28 c=1\nflatten\ndense unit=10\n" >typo.spec &&
	test_expect_code 3 "$TRAIN" -m typo.spec --summary >out 2>err && one_error err "typo.spec:3" &&
	grep -q "unit" err
'

test_case 'a spec not starting with input: exit 3 naming line 1 or 2' '
	printf "flatten\ndense units=10\n" >noinput.spec &&
	test_expect_code 3 "$TRAIN" -m noinput.spec --summary >out 2>err && one_error err "noinput.spec:1"
'

test_case 'a missing spec file: exit 4' '
	test_expect_code 4 "$TRAIN" -m nosuch.spec --summary 2>err && one_error err nosuch.spec
'

# ---- a tiny real run

test_case 'mlp, 512 samples, 1 epoch: model.safetensors, log.jsonl, epoch line on stderr' '
	test_expect_code 0 "$TRAIN" -m mlp --train "$D" -o run --epochs 1 --seed 1 -j 2 >out 2>err &&
	[ -s run/model.safetensors ] && [ -s run/log.jsonl ] && [ ! -s out ] &&
	! compgen -G "run/*.tmp.*" >/dev/null &&
	grep "\"event\": \"epoch\"" run/log.jsonl >ep && test_one_line ep &&
	grep -q "\"epoch\": 1," ep && grep -q "\"loss\": [0-9]" ep && grep -q "\"accuracy\": " ep &&
	grep -q "\"event\": \"done\"" run/log.jsonl &&
	grep -Eq "^epoch 1/1 - .* - loss [0-9.]+ - accuracy [0-9.]+$" err &&
	grep -q "wrote run/model.safetensors" err
'

test_case 'every log.jsonl line is valid JSON' '
	"$TRAIN" -m perceptron --train "$D" -o run --epochs 2 -q -j 1 &&
	[ "$(wc -l <run/log.jsonl)" -eq 3 ] &&
	/usr/bin/python3 -c "import json,sys
for l in sys.stdin: json.loads(l)" <run/log.jsonl
'

test_case 'the checkpoint holds the documented tensors and metadata' '
	"$TRAIN" -m mlp --train "$D" -o run -q -j 1 &&
	"$PREP" info run/model.safetensors >info &&
	grep -Eq "^  1.weight +F32 +\[128, 784\]$" info && grep -Eq "^  5.bias +F32 +\[10\]$" info &&
	grep -Eq "^  optim.state +F32 +\[2, 118282\]$" info &&
	grep -q "dl.format: dl-tools checkpoint 1" info && grep -q "dl.model_name: mlp" info &&
	grep -q "^  dl.model: " info && grep -q "^  dl.input: " info && grep -q "^  dl.train: " info &&
	grep -qF "dl.classes: [\"T-shirt/top\"" info
'

test_case '--val: val_loss and val_accuracy in the epoch line and the log' '
	"$PREP" idx "$DEB/t10k-images-idx3-ubyte.gz" "$DEB/t10k-labels-idx1-ubyte.gz" --limit 100 -o val.st 2>/dev/null &&
	test_expect_code 0 "$TRAIN" -m perceptron --train "$D" --val val.st -o run -j 1 2>err &&
	grep -Eq "^epoch 1/1 .* - val_loss [0-9.]+ - val_accuracy [0-9.]+$" err &&
	grep -q "\"val_accuracy\": " run/log.jsonl
'

test_case '--quiet: nothing on stderr' '
	test_expect_code 0 "$TRAIN" -m perceptron --train "$D" -o run -q -j 1 2>err && [ ! -s err ] &&
	[ -s run/model.safetensors ]
'

test_case '--log -: JSON lines on stdout' '
	test_expect_code 0 "$TRAIN" -m perceptron --train "$D" -o run -q -j 1 --log - >out 2>err &&
	grep -q "\"event\": \"epoch\"" out && [ ! -e run/log.jsonl ]
'

test_case 'same --seed and --threads 2: byte-identical model.safetensors' '
	"$TRAIN" -m mlp --train "$D" -o a --seed 42 -j 2 -q &&
	"$TRAIN" -m mlp --train "$D" -o b --seed 42 -j 2 -q &&
	cmp a/model.safetensors b/model.safetensors
'

test_case 'a different --seed: a different model.safetensors' '
	"$TRAIN" -m mlp --train "$D" -o a --seed 42 -j 2 -q &&
	"$TRAIN" -m mlp --train "$D" -o c --seed 43 -j 2 -q &&
	! cmp -s a/model.safetensors c/model.safetensors
'

test_case 'sgd with momentum trains and is reproducible too' '
	"$TRAIN" -m perceptron --train "$D" -o a --optimizer sgd --momentum 0.9 --lr 0.05 -j 2 -q &&
	"$TRAIN" -m perceptron --train "$D" -o b --optimizer sgd --momentum 0.9 --lr 0.05 -j 2 -q &&
	cmp a/model.safetensors b/model.safetensors && "$PREP" info a/model.safetensors >info &&
	grep -Eq "^  optim.state +F32 +\[1, 7850\]$" info
'

test_case 'an unwritable log path: exit 4, one line' '
	test_expect_code 4 "$TRAIN" -m perceptron --train "$D" -o run -q --log nodir/log.jsonl 2>err &&
	one_error err nodir/log.jsonl
'

test_done
