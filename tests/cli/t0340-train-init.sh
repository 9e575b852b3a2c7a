#!/bin/bash
# dl-train --init FILE and --freeze LAYERS (lib/train/init.c, lib/nn/optim.c):
#   a lenet trained on Fashion-MNIST classes 0-4 starts a model for classes
#   5-9 (a 128-unit dense layer and a 5-class head: the convolutions load,
#   the rest is skipped and reported); it beats training from scratch at
#   equal steps (SGD, 30 steps, same seed);
#   the same weights load from our checkpoint, its PyTorch-layout export
#   (dl-export --format safetensors) and a torch-style state dict ("module."
#   names), bit for bit (--save-init);
#   --freeze keeps layers bit-identical through AdamW (weight decay too);
#   bad --init / --freeze arguments: exit 4, 3, 2 with the reason.
# Needs dataset-fashion-mnist, python3-numpy.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
FM=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
FIX=$TEST_TMP/fix
TRAIN="$DL_BIN/dl-train"
EVAL=$DL_BIN/dl-eval
export OMP_WAIT_POLICY=PASSIVE NO_COLOR=1
mkdir -p "$FIX"
{
	"$DL_BIN/dl-prep" idx "$FM/train-images-idx3-ubyte.gz" "$FM/train-labels-idx1-ubyte.gz" --limit 4000 \
		--classes fashion-mnist -o "$FIX/all.st" &&
	"$DL_BIN/dl-prep" idx "$FM/t10k-images-idx3-ubyte.gz" "$FM/t10k-labels-idx1-ubyte.gz" --limit 2000 \
		--classes fashion-mnist -o "$FIX/test.st" &&
	"$PY" "$DL_ROOT/tests/fixtures/split_classes.py" "$FIX/all.st" "$FIX/tr_a.st" 0 5 &&
	"$PY" "$DL_ROOT/tests/fixtures/split_classes.py" "$FIX/all.st" "$FIX/tr_b.st" 5 10 &&
	"$PY" "$DL_ROOT/tests/fixtures/split_classes.py" "$FIX/test.st" "$FIX/te_b.st" 5 10 &&
	sed 's/dense units=500/dense units=128/; s/dense units=10/dense units=5/' "$DL_ROOT/models/lenet.spec" \
		>"$FIX/lenet5.spec" &&
	"$TRAIN" -m lenet --train "$FIX/tr_a.st" -o "$FIX/A" --epochs 3 -q -j 2 --seed 1
} >"$FIX/setup.log" 2>&1
A=$FIX/A/model.safetensors

test_case 'fixtures: classes 0-4 and 5-9 of Fashion-MNIST, lenet trained on 0-4 (see setup.log)' '
	[ -s "$A" ] && [ -s "$FIX/te_b.st" ] && grep -q "dense units=5$" "$FIX/lenet5.spec" ||
		{ cat "$FIX/setup.log"; false; }
'

ft() {   # OUT [more options]: lenet5 on classes 5-9, 30 SGD steps
	local out=$1; shift
	"$TRAIN" -m "$FIX/lenet5.spec" --train "$FIX/tr_b.st" -o "$out" --steps 30 --batch 64 -j 2 --seed 3 \
		--optimizer sgd --momentum 0.9 --lr 0.02 "$@"
}
acc() { "$EVAL" "$1" "$FIX/te_b.st" --json | sed -n 's/.*"accuracy": \([0-9.]*\).*/\1/p'; }

test_case '--init: matching layers load, the new head is skipped and said so; the log records it' '
	ft "$FIX/ft" 2>err --init "$A" && cat err &&
	grep -q -- "--init .*A/model.safetensors: 2 layers loaded, 2 skipped, 0 left fresh" err &&
	grep -q "layer 7 (dense): skipped: 7.weight is F32 \[500,2450\] in the file, F32 \[128,2450\] here" err &&
	grep -q "layer 9 (dense): skipped: 9.weight is F32 \[10,500\] in the file, F32 \[5,128\] here" err &&
	grep -q "\"event\": \"init\".*\"loaded\": \[0, 3\], \"skipped\": \[7, 9\], \"fresh\": \[\]" "$FIX/ft/log.jsonl"
'

test_case 'fine-tuning from classes 0-4 beats training from scratch at equal steps (30, SGD)' '
	ft scratch -q && a_ft=$(acc "$FIX/ft/model.safetensors") && a_sc=$(acc scratch/model.safetensors) &&
	echo "test accuracy on classes 5-9 after 30 steps: fine-tuned $a_ft, from scratch $a_sc" &&
	"$PY" -c "import sys; sys.exit(0 if $a_ft > $a_sc + 0.02 else 1)"
'

test_case 'checkpoint, PyTorch-layout export and torch-style state dict load the same weights' '
	"$DL_BIN/dl-export" "$A" --format safetensors -o torch.st &&
	"$PY" -c "
import sys; sys.path.insert(0, \"$DL_ROOT/bench\"); import stio
t, m = stio.load(\"torch.st\")
stio.save(\"dict.st\", {\"module.\" + k: v for k, v in t.items()})" &&
	for f in "$A" torch.st dict.st; do
		"$TRAIN" -m lenet --train "$FIX/tr_a.st" -o "r$(basename "$f")" --init "$f" --save-init "i$(basename "$f")" \
			--steps 1 -q -j 2 || return 1
	done &&
	"$PY" -c "
import sys; sys.path.insert(0, \"$DL_ROOT/bench\"); import stio, numpy as np
a = stio.load(\"$A\")[0]
for f in (\"imodel.safetensors\", \"itorch.st\", \"idict.st\"):
    b = stio.load(f)[0]
    for k in (\"0.weight\", \"0.bias\", \"3.weight\", \"7.weight\", \"9.weight\", \"9.bias\"):
        assert np.array_equal(a[k], b[k]), (f, k)
print(\"same weights from all three files\")"
'

test_case '--freeze 0-5: frozen layers bit-identical after AdamW steps (no decay), the rest trained' '
	"$TRAIN" -m lenet --train "$FIX/tr_b.st" -o fz --init "$A" --freeze 0-5 --optimizer adamw \
		--weight-decay 0.1 --steps 5 --batch 32 -q -j 2 &&
	"$PY" -c "
import sys; sys.path.insert(0, \"$DL_ROOT/bench\"); import stio, numpy as np
a = stio.load(\"$A\")[0]; b = stio.load(\"fz/model.safetensors\")[0]
for k in (\"0.weight\", \"0.bias\", \"3.weight\", \"3.bias\"):
    assert np.array_equal(a[k], b[k]), k
for k in (\"7.weight\", \"9.weight\"):
    assert not np.array_equal(a[k], b[k]), k
print(\"frozen layers unchanged, others trained\")" &&
	"$PY" -c "
import sys; sys.path.insert(0, \"$DL_ROOT/bench\"); import stio, json
print(json.loads(stio.load(\"fz/model.safetensors\")[1][\"dl.run\"])[\"freeze\"])" | grep -qx "0-5"
'

test_case 'bad --init and --freeze: missing file 4, nothing matches 3, bad layers 2' '
	test_expect_code 4 "$TRAIN" -m lenet --train "$FIX/tr_a.st" -o x1 --init nofile.st -q 2>e1 &&
	grep -q nofile.st e1 &&
	test_expect_code 3 "$TRAIN" -m lenet --train "$FIX/tr_a.st" -o x2 --init "$FIX/te_b.st" -q 2>e2 &&
	grep -q "no layer of lenet matches it" e2 &&
	test_expect_code 2 "$TRAIN" -m lenet --train "$FIX/tr_a.st" -o x3 --freeze 1 -q 2>e3 &&
	grep -q "layer 1 (relu) has no parameters" e3 &&
	test_expect_code 2 "$TRAIN" -m lenet --train "$FIX/tr_a.st" -o x4 --freeze 0,12 -q 2>e4 &&
	grep -q "layers of lenet are 0..9" e4 &&
	test_expect_code 2 "$TRAIN" -m lenet --train "$FIX/tr_a.st" -o x5 --freeze 0- -q 2>e5
'

test_done
