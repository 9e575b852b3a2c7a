#!/bin/bash
# dl-export for every built-in model (and tests/export/kinds.spec, which has
# every layer kind): a checkpoint after one short epoch on a few random
# images of the model's input shape (batch-norm running statistics are
# then no longer 0 and 1), dl-eval --logits on them, and
#   onnx:        onnx.checker (full_check) accepts the file and onnxruntime
#                (onnxruntime-node, tests/onnx/compare.js) gives our outputs
#                within 1e-4 (relative to max(1, max |ours|));
#   safetensors: PyTorch runs it with the same outputs within 1e-4
#                (tests/export/check_safetensors.py: chains load into the
#                dl.torch_layers torch.nn.Sequential with strict=True; graph models
#                run through tests/torch/spec_torch.py);
#   c:           the generated .c/.h compile with
#                cc -std=c99 -O1 -Wall -Wextra -Werror (libm only) and
#                tests/export/run_c_model.c gives our outputs within 1e-4
#                (tests/export/compare_logits.py).  vgg16 and the resnets
#                (> 1 M parameters) get their weights as byte strings (the
#                small models: hex float literals); their sources are 100-300
#                MB and compile in seconds at -O1 (the case prints the size).
# Needs python3-onnx, torch, node + onnxruntime-node (see t0510): fails,
# does not skip, without them.
. "$(dirname "$0")/lib.sh"

PY=${PYTHON:-/usr/bin/python3}
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
	"$PY" -c "import onnx, numpy, torch"
'

# model  h w c  classes (0: regression)  images  batch
MODELS="perceptron 28 28 1 10 8 4
mlp 28 28 1 10 8 4
lenet 28 28 1 10 8 4
vgg16 32 32 3 10 8 4
resnet18 64 64 3 200 4 2
resnet50 64 64 3 200 2 2
pilotnet 66 200 3 0 8 4
gtsrb-cnn 48 48 3 43 8 4
$DL_ROOT/tests/export/kinds.spec 16 16 3 5 8 4"

while read -r m h w c k n b; do
	t=$(basename "$m" .spec)
	mkdir -p "$DATA/$t"
	test_case "$t: 1 epoch on $n random images, dl-eval --logits" '
		"$PY" "$DL_ROOT/tests/export/rand_dataset.py" "$DATA/'"$t"'/data.st" '"$n $h $w $c $k"' 5 &&
		"$DL_BIN/dl-train" -m '"$m"' --train "$DATA/'"$t"'/data.st" -o "$DATA/'"$t"'" --epochs 1 \
			--batch '"$b"' --lr 1e-2 --optimizer sgd --seed 1 --threads 2 -q </dev/null &&
		"$DL_BIN/dl-eval" "$DATA/'"$t"'/model.safetensors" "$DATA/'"$t"'/data.st" \
			--batch '"$b"' --logits "$DATA/'"$t"'/logits.st" >/dev/null
	'
	test_case "$t: onnx passes onnx.checker; onnxruntime = ours within 1e-4" '
		"$DL_BIN/dl-export" "$DATA/'"$t"'/model.safetensors" --format onnx -o m.onnx &&
		"$PY" -c "
import onnx
m = onnx.load(\"m.onnx\")
onnx.checker.check_model(m, full_check=True)
open(\"input.json\", \"w\").write({p.key: p.value for p in m.metadata_props}[\"dl.input\"])
print(\"checker ok:\", len(m.graph.node), \"nodes\")" &&
		node "$DL_ROOT/tests/onnx/compare.js" m.onnx "$DATA/'"$t"'/data.st" "$DATA/'"$t"'/logits.st" "$(cat input.json)"
	'
	test_case "$t: safetensors in PyTorch = ours within 1e-4" '
		"$DL_BIN/dl-export" "$DATA/'"$t"'/model.safetensors" -o m.safetensors &&
		"$PY" "$DL_ROOT/tests/export/check_safetensors.py" m.safetensors "$DATA/'"$t"'/data.st" \
			"$DATA/'"$t"'/logits.st"
	'
	test_case "$t: --format c compiles (c99 -Werror, libm only), same outputs within 1e-4" '
		"$DL_BIN/dl-export" "$DATA/'"$t"'/model.safetensors" --format c --name dlmodel -o dlmodel.c &&
		echo "dlmodel.c: $(($(wc -c <dlmodel.c) / 1000000)) MB, work $(grep -o "WORK_FLOATS [0-9]*" dlmodel.h)" &&
		[ "$(grep "^#include" dlmodel.c | sort | tr "\n" " ")" = "#include \"dlmodel.h\" #include <math.h> #include <stddef.h> " ] &&
		${CC:-cc} -std=c99 -O1 -Wall -Wextra -Werror -I. -o run "$DL_ROOT/tests/export/run_c_model.c" \
			dlmodel.c -lm 2>cc.err || { grep -v "note:\|^ *|\|^ *[0-9]* |" cc.err; exit 1; }
		./run <"$DATA/'"$t"'/data.st.u8" >c.f32 &&
		"$PY" "$DL_ROOT/tests/export/compare_logits.py" "$DATA/'"$t"'/logits.st" c.f32 &&
		rm -f dlmodel.c run
	'
done <<<"$MODELS"

test_case 'kinds: hardswish is HardSigmoid+Mul at opset 13, HardSwish at 14; both = ours' '
	for o in 13 14; do
		"$DL_BIN/dl-export" "$DATA/kinds/model.safetensors" --format onnx --opset $o -o m$o.onnx || exit 1
	done &&
	"$PY" -c "
import onnx
ops = {o: [n.op_type for n in onnx.load(\"m%d.onnx\" % o).graph.node] for o in (13, 14)}
assert \"HardSigmoid\" in ops[13] and \"HardSwish\" not in ops[13], ops[13]
assert \"HardSwish\" in ops[14] and \"HardSigmoid\" not in ops[14], ops[14]
m = onnx.load(\"m14.onnx\"); onnx.checker.check_model(m, full_check=True)
open(\"input.json\", \"w\").write({p.key: p.value for p in m.metadata_props}[\"dl.input\"])" &&
	node "$DL_ROOT/tests/onnx/compare.js" m14.onnx "$DATA/kinds/data.st" "$DATA/kinds/logits.st" "$(cat input.json)"
'

test_case 'batch-norm statistics exported are those of training (not 0 and 1)' '
	"$DL_BIN/dl-export" "$DATA/resnet18/model.safetensors" -o r.safetensors &&
	"$PY" -c "
import sys; sys.path.insert(0, \"$DL_ROOT/bench\"); import stio, numpy as np
t, meta = stio.load(\"r.safetensors\")
assert \"dl.torch_layers\" not in meta and \"dl.torch\" not in meta
assert abs(t[\"1.running_mean\"]).max() > 1e-3 and abs(t[\"1.running_var\"] - 1).max() > 1e-3
assert t[\"0.weight\"].shape == (64, 3, 3, 3) and t[\"1.num_batches_tracked\"].dtype == np.int64
print(\"ok\", float(abs(t[\"1.running_mean\"]).max()))"
'

test_case 'onnx: a broken batch-norm statistic is caught by compare.js' '
	"$DL_BIN/dl-export" "$DATA/resnet18/model.safetensors" --format onnx -o m.onnx &&
	"$PY" -c "
import onnx
from onnx import numpy_helper
m = onnx.load(\"m.onnx\")
t = [i for i in m.graph.initializer if i.name == \"l1.running_var\"][0]
a = numpy_helper.to_array(t).copy(); a *= 4
t.CopyFrom(numpy_helper.from_array(a, t.name)); onnx.save(m, \"bad.onnx\")
open(\"input.json\", \"w\").write({p.key: p.value for p in m.metadata_props}[\"dl.input\"])" &&
	test_expect_code 1 node "$DL_ROOT/tests/onnx/compare.js" bad.onnx "$DATA/resnet18/data.st" \
		"$DATA/resnet18/logits.st" "$(cat input.json)"
'

test_case 'c: layer outputs share work memory once read (resnet18: few distinct offsets)' '
	"$DL_BIN/dl-export" "$DATA/resnet18/model.safetensors" --format c --name r -o r.c &&
	calls=$(grep -c "^	dlx_" r.c) && offs=$(grep -o "(work + [0-9]*)" r.c | sort -u | wc -l) &&
	echo "$calls kernel calls, $offs distinct buffers" && [ "$calls" -gt 50 ] && [ "$offs" -le 12 ]
'

test_case 'c: a broken weight is caught by the comparison' '
	"$DL_BIN/dl-export" "$DATA/kinds/model.safetensors" --format c --name dlmodel -o dlmodel.c &&
	n=$(grep -n "^static const float dlmodel_l0_weight" dlmodel.c | cut -d: -f1) &&
	sed -i "$((n + 1))s/^\([^,]*\),/(2 * \1),/" dlmodel.c && sed -n "$((n + 1))p" dlmodel.c | grep -q "^(2 \*" &&
	${CC:-cc} -std=c99 -O1 -Wall -Wextra -Werror -I. -o run "$DL_ROOT/tests/export/run_c_model.c" dlmodel.c -lm &&
	./run <"$DATA/kinds/data.st.u8" >c.f32 &&
	test_expect_code 1 "$PY" "$DL_ROOT/tests/export/compare_logits.py" "$DATA/kinds/logits.st" c.f32
'

test_done
