#!/bin/bash
# dl-export --format onnx and --format c against real peers.  For
# perceptron, mlp and lenet (1 small epoch on 512 Fashion-MNIST images):
#   onnx: python3-onnx's checker (full_check) accepts the file, its
#         metadata_props carry dl.input/dl.classes/dl.model, and onnxruntime
#         (onnxruntime-node, installed into build/node by `make ort-node`
#         or by this script) gives dl-eval's logits within 1e-4 on 256 t10k
#         images (tests/onnx/compare.js), probabilities = softmax(logits);
#   c:    the generated .c/.h compile with -Wall -Wextra -Werror -std=c11
#         and give the same logits (tests/export/run_c_model.c,
#         compare_logits.py).
# Needs python3-onnx, node + npm (nodejs, npm) and network access for the
# first npm install: fails (does not skip) without them.
. "$(dirname "$0")/lib.sh"

PY=${PYTHON:-/usr/bin/python3}
FM=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
ORT_DIR="$DL_ROOT/build/node"
DATA="$TEST_TMP/data"
mkdir -p "$DATA"
export OMP_WAIT_POLICY=PASSIVE ORT_NODE_DIR="$ORT_DIR/node_modules"

test_case 'onnxruntime-node is installed (npm install --ignore-scripts into build/node)' '
	if [ ! -e "$ORT_DIR/node_modules/onnxruntime-node/package.json" ]; then
		mkdir -p "$ORT_DIR" &&
		npm install --prefix "$ORT_DIR" --ignore-scripts --no-audit --no-fund onnxruntime-node >npm.log 2>&1 ||
		{ echo "npm install onnxruntime-node failed:"; tail -5 npm.log; exit 1; }
	fi &&
	node -e "require(process.env.ORT_NODE_DIR + \"/onnxruntime-node\")" &&
	"$PY" -c "import onnx, numpy"
'

test_case 'fixtures: 512 train, 256 test images' '
	"$DL_BIN/dl-prep" idx "$FM/train-images-idx3-ubyte.gz" "$FM/train-labels-idx1-ubyte.gz" \
		-o "$DATA/train.st" --limit 512 --classes fashion-mnist &&
	"$DL_BIN/dl-prep" idx "$FM/t10k-images-idx3-ubyte.gz" "$FM/t10k-labels-idx1-ubyte.gz" \
		-o "$DATA/test.st" --limit 256 --classes fashion-mnist &&
	"$PY" -c "import sys; sys.path.insert(0, \"$DL_ROOT/bench\"); import stio
open(\"$DATA/test.u8\", \"wb\").write(stio.load_dataset(\"$DATA/test.st\")[0].tobytes())" &&
	[ "$(stat -c %s "$DATA/test.u8")" -eq $((256 * 784)) ]
'

for m in perceptron mlp lenet; do
	mkdir -p "$DATA/$m"
	test_case "$m: train 1 epoch, dl-eval --logits" '
		"$DL_BIN/dl-train" -m '"$m"' --train "$DATA/train.st" -o "$DATA/'"$m"'" --epochs 1 --batch 64 \
			--lr 1e-3 --optimizer adam --seed 1 --threads 2 -q </dev/null &&
		"$DL_BIN/dl-eval" "$DATA/'"$m"'/model.safetensors" "$DATA/test.st" --logits "$DATA/'"$m"'/logits.st"
	'
	test_case "$m: onnx passes onnx.checker, metadata, onnxruntime = ours within 1e-4" '
		"$DL_BIN/dl-export" "$DATA/'"$m"'/model.safetensors" --format onnx -o m.onnx &&
		"$PY" -c "
import json, onnx
m = onnx.load(\"m.onnx\")
onnx.checker.check_model(m, full_check=True)
meta = {p.key: p.value for p in m.metadata_props}
assert m.opset_import[0].version >= 13, m.opset_import
assert json.loads(meta[\"dl.classes\"])[9] == \"Ankle boot\", meta
assert \"'"$m"'\" == meta[\"dl.model_name\"] and \"input \" in meta[\"dl.model\"]
i = json.loads(meta[\"dl.input\"]); assert (i[\"h\"], i[\"w\"], i[\"c\"]) == (28, 28, 1), i
assert [o.name for o in m.graph.output] == [\"logits\", \"probabilities\"]
open(\"input.json\", \"w\").write(meta[\"dl.input\"])
print(\"checker ok, opset\", m.opset_import[0].version, [n.op_type for n in m.graph.node])" &&
		node "$DL_ROOT/tests/onnx/compare.js" m.onnx "$DATA/test.st" "$DATA/'"$m"'/logits.st" "$(cat input.json)"
	'
	test_case "$m: C export compiles (-Werror) and gives the same logits" '
		"$DL_BIN/dl-export" "$DATA/'"$m"'/model.safetensors" --format c --name dlmodel -o dlmodel.c &&
		test -s dlmodel.h && grep -q "dlmodel_classes" dlmodel.h &&
		${CC:-cc} -std=c11 -O1 -Wall -Wextra -Werror -I. -o run "$DL_ROOT/tests/export/run_c_model.c" dlmodel.c -lm &&
		./run <"$DATA/test.u8" >c.f32 &&
		"$PY" "$DL_ROOT/tests/export/compare_logits.py" "$DATA/'"$m"'/logits.st" c.f32
	'
done

# Random inputs (uniform u8 pixels, far from the training data): the same
# checks, as for models without a real test set.
test_case 'lenet on 32 random images: onnxruntime and the C export = ours' '
	"$PY" -c "
import json, struct, numpy as np
r = np.random.default_rng(7)
img = r.integers(0, 256, size=(32, 28, 28, 1), dtype=np.uint8); lab = np.zeros(32, np.int32)
h = {\"images\": {\"dtype\": \"U8\", \"shape\": [32, 28, 28, 1], \"data_offsets\": [0, img.nbytes]},
     \"labels\": {\"dtype\": \"I32\", \"shape\": [32], \"data_offsets\": [img.nbytes, img.nbytes + lab.nbytes]},
     \"__metadata__\": {\"dl.format\": \"dl-tools dataset 1\"}}
hb = json.dumps(h).encode(); hb += b\" \" * (-len(hb) % 8)
open(\"rand.st\", \"wb\").write(struct.pack(\"<Q\", len(hb)) + hb + img.tobytes() + lab.tobytes())
open(\"rand.u8\", \"wb\").write(img.tobytes())" &&
	"$DL_BIN/dl-eval" "$DATA/lenet/model.safetensors" rand.st --logits rand.logits >/dev/null &&
	"$DL_BIN/dl-export" "$DATA/lenet/model.safetensors" --format onnx -o m.onnx &&
	"$PY" -c "import onnx; m = onnx.load(\"m.onnx\"); print({p.key: p.value for p in m.metadata_props}[\"dl.input\"])" >input.json &&
	node "$DL_ROOT/tests/onnx/compare.js" m.onnx rand.st rand.logits "$(cat input.json)" &&
	"$DL_BIN/dl-export" "$DATA/lenet/model.safetensors" --format c --name dlmodel -o dlmodel.c &&
	${CC:-cc} -std=c11 -O1 -Wall -Wextra -Werror -I. -o run "$DL_ROOT/tests/export/run_c_model.c" dlmodel.c -lm &&
	./run <rand.u8 >c.f32 && "$PY" "$DL_ROOT/tests/export/compare_logits.py" rand.logits c.f32
'

test_case 'a broken ONNX export is caught: compare.js fails on a perturbed weight' '
	"$DL_BIN/dl-export" "$DATA/mlp/model.safetensors" --format onnx -o m.onnx &&
	"$PY" -c "
import onnx, numpy as np
from onnx import numpy_helper
m = onnx.load(\"m.onnx\")
t = m.graph.initializer[0]; a = numpy_helper.to_array(t).copy(); a[0] += 0.5
t.CopyFrom(numpy_helper.from_array(a, t.name)); onnx.save(m, \"bad.onnx\")
open(\"input.json\", \"w\").write({p.key: p.value for p in m.metadata_props}[\"dl.input\"])" &&
	test_expect_code 1 node "$DL_ROOT/tests/onnx/compare.js" bad.onnx "$DATA/test.st" "$DATA/mlp/logits.st" "$(cat input.json)"
'

test_case 'format c: -o must be a .c file, --name a C identifier; unknown format: exit 2' '
	test_expect_code 2 "$DL_BIN/dl-export" "$DATA/mlp/model.safetensors" --format c -o m.txt 2>err &&
	grep -q "\.c file" err &&
	test_expect_code 2 "$DL_BIN/dl-export" "$DATA/mlp/model.safetensors" --format c --name 9x -o m.c 2>err &&
	grep -q "C identifier" err && [ ! -e m.c ] && [ ! -e m.h ] &&
	test_expect_code 2 "$DL_BIN/dl-export" "$DATA/mlp/model.safetensors" --format tflite -o m 2>err &&
	grep -q -- "--format .tflite.: expected safetensors, onnx or c" err &&
	test_expect_code 2 "$DL_BIN/dl-export" "$DATA/mlp/model.safetensors" --format onnx --opset 9 -o m 2>err
'

test_done
