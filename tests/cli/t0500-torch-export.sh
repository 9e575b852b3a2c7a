#!/bin/bash
# dl-export --format safetensors against PyTorch: for perceptron, mlp and
# lenet, train 1 small epoch on 512 Fashion-MNIST images, export, load the
# file into the equivalent torch.nn.Sequential with load_state_dict(strict=True)
# and compare its logits on 256 t10k images with `dl-eval --logits`
# (tests/torch/check_export.py: max diff <= 1e-4*max(1,max|logit|), argmax equal).
# Needs python3-torch and python3-numpy: fails (does not skip) without them.
# Env: PYTHON (default /usr/bin/python3), FASHION_MNIST_DIR.
. "$(dirname "$0")/lib.sh"

PY=${PYTHON:-/usr/bin/python3}
FM=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
CHECK="$DL_ROOT/tests/torch/check_export.py"
DATA="$TEST_TMP/data"
mkdir -p "$DATA"
export OMP_WAIT_POLICY=PASSIVE

test_case 'python3-torch and numpy are importable' '
	if ! "$PY" -c "import torch, numpy" >err 2>&1; then
		echo "python3-torch/python3-numpy missing for $PY (apt-get install python3-torch python3-numpy):"
		tail -3 err; false
	fi
'

test_case 'dl-prep: tiny Fashion-MNIST subsets (512 train, 256 test)' '
	for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
		[ -r "$FM/$f" ] || { echo "missing $FM/$f (set FASHION_MNIST_DIR)"; exit 1; }
	done &&
	"$DL_BIN/dl-prep" idx "$FM/train-images-idx3-ubyte.gz" "$FM/train-labels-idx1-ubyte.gz" \
		-o "$DATA/train.safetensors" --limit 512 &&
	"$DL_BIN/dl-prep" idx "$FM/t10k-images-idx3-ubyte.gz" "$FM/t10k-labels-idx1-ubyte.gz" \
		-o "$DATA/test.safetensors" --limit 256 &&
	test -s "$DATA/train.safetensors" && test -s "$DATA/test.safetensors"
'

for m in perceptron mlp lenet; do
	test_case "$m: export loads with load_state_dict(strict=True), logits match dl-eval" '
		"$DL_BIN/dl-train" -m '"$m"' --train "$DATA/train.safetensors" -o run --epochs 1 --batch 64 \
			--lr 1e-3 --optimizer adam --seed 1 --threads 2 </dev/null &&
		test -s run/model.safetensors &&
		"$DL_BIN/dl-export" run/model.safetensors --format safetensors -o export.safetensors &&
		"$DL_BIN/dl-eval" run/model.safetensors "$DATA/test.safetensors" --logits logits.safetensors >eval.out &&
		"$PY" "$CHECK" '"$m"' export.safetensors "$DATA/test.safetensors" logits.safetensors
	'
done

test_done
