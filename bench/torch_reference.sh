#!/bin/bash
# PyTorch reference figure: LeNet on full Fashion-MNIST, Adam lr 1e-3,
# batch 128, 1 epoch, seed 1, 2 threads; prints the peer's JSON (with
# test_accuracy on the 10k test set) and a one-line summary.
#
#   bench/torch_reference.sh [BUILD_DIR] [extra torch_train.py args...]
#
# Datasets go to bench/out/ (git-ignored).  They are made with
# BUILD_DIR/bin/dl-prep when it exists (the same files our tools train on),
# otherwise with bench/stio.py (identical content: images U8 [N,28,28,1],
# labels I32 [N], in file order).
# Env: FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist),
#      PYTHON (default /usr/bin/python3), SEED (1), THREADS (2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}; [ $# -gt 0 ] && shift
case $build in /*) ;; *) build="$root/$build" ;; esac
src=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
py=${PYTHON:-/usr/bin/python3}
out="$root/bench/out"
mkdir -p "$out"
export OMP_WAIT_POLICY=PASSIVE

prep() {  # prep NAME IMAGES LABELS
	local f="$out/$1.safetensors"
	[ -s "$f" ] && return 0
	if [ -x "$build/bin/dl-prep" ]; then
		"$build/bin/dl-prep" idx "$src/$2" "$src/$3" -o "$f"
	else
		"$py" "$root/bench/stio.py" idx "$src/$2" "$src/$3" -o "$f"
	fi
}
prep fmnist-train train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
prep fmnist-test t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz

res=$("$py" "$root/bench/torch_train.py" -m lenet --train "$out/fmnist-train.safetensors" \
	--test "$out/fmnist-test.safetensors" --epochs 1 --batch 128 --lr 1e-3 --optimizer adam \
	--seed "${SEED:-1}" --threads "${THREADS:-2}" "$@")
echo "$res"
"$py" -c 'import json,sys; r=json.loads(sys.argv[1]); print("pytorch %s lenet, 1 epoch Adam lr 1e-3 batch 128, seed %d, %d threads: test accuracy %.2f%% (test loss %.4f), train %.0f img/s, %.1f s" % (r["torch"], r["seed"], r["threads"], 100*r["test_accuracy"], r["test_loss"], r["images_per_s"], r["seconds"]))' "$res"
