#!/bin/bash
# Every pipeline's ci target end to end (fetch -> prep -> train -> eval with
# its gate -> export -> summary.json): mnist.mk on Fashion-MNIST (offline,
# Debian's copy), the others on learnable fixtures in the official archive
# formats (tests/fixtures/mkpipedata.py) served from a local HTTP mirror
# (FROM=URL) or copied from a folder (FROM=DIR), checked by a manifest.
. "$(dirname "$0")/lib.sh"
. "$DL_ROOT/tests/http/start.sh"
P=$TEST_TMP/p
/usr/bin/python3 "$DL_ROOT/tests/fixtures/mkpipedata.py" "$WWW" >/dev/null || echo "mkpipedata failed"
# ci MK RUN [VAR=VALUE...]: the ci target with CPU, one thread, our tools
ci() {
	local mk=$1 run=$2; shift 2
	make -s -C "$DL_ROOT" -f "pipelines/$mk.mk" ci BIN="$DL_BIN" DEVICE=cpu THREADS=1 RUN="$P/runs/$run" "$@"
}
# published RUN: every output of a finished run, and no temp file
published() {
	for f in model.safetensors eval.json model-torch.safetensors model.onnx summary.json run.log train.done; do
		[ -s "$P/runs/$1/$f" ] || [ "$f" = train.done ] || { echo "missing $1/$f"; return 1; }
	done
	[ -e "$P/runs/$1/train.done" ] || { echo "no train.done"; return 1; }
	! ls "$P/runs/$1" | grep -q tmp || { echo "temp file left:"; ls "$P/runs/$1"; return 1; }
}
# metric RUN KEY: KEY's value in RUN/summary.json
metric() { grep -o "\"$2\": [0-9.]*" "$P/runs/$1/summary.json" | sed 's/.*: //'; }

test_case 'mnist.mk ci on Fashion-MNIST (offline): whole chain, gate passed, summary.json' '
	ci mnist mnist DATASET=fashion-mnist RECIPE=mlp DATA="$P/fmnist" OFFLINE=1 >out 2>err &&
	published mnist &&
	grep -q "^mnist: fashion-mnist mlp, 3 epochs on cpu (1 threads): accuracy 0\.[6-9]" out &&
	/usr/bin/python3 -c "
import json, sys
s = json.load(open(sys.argv[1]))
for k in (\"dataset\", \"model\", \"device\", \"epochs\", \"wall_s\", \"images_per_s\", \"accuracy\", \"dollars\"):
    assert k in s, k
assert s[\"dataset\"] == \"fashion-mnist\" and s[\"device\"] == \"cpu\" and s[\"epochs\"] == 3, s
assert s[\"accuracy\"] >= 0.6 and s[\"images_per_s\"] > 0 and s[\"wall_s\"] > 0, s
" "$P/runs/mnist/summary.json"
'

test_case 'cifar10-vgg16.mk ci from the local mirror (FROM=URL, MANIFEST)' '
	[ -n "$SRV" ] || { echo "no HTTP server"; exit 1; }
	ci cifar10-vgg16 cifar DATA="$P/cifar" FROM="$SRV/ok" MANIFEST="$WWW/manifest" PRICE_PER_HOUR=3.6 >out 2>err &&
	published cifar && grep -q "^cifar10-vgg16: cifar-10 ci-cifar.spec" out &&
	grep -q "GET /ok/cifar-10/cifar-10-binary.tar.gz" "$REQ" &&
	[ "$(metric cifar price_per_hour)" = 3.6 ] &&
	awk -v d="$(metric cifar dollars)" -v w="$(metric cifar wall_s)" \
		"BEGIN { e = w / 1000; exit !(d > 0 && d - e < 0.0001 && e - d < 0.0001) }"
'

test_case 'gtsrb.mk ci from the mirror: ROI crop to 48x48, official test split with its CSV labels' '
	ci gtsrb gtsrb DATA="$P/gtsrb" FROM="$SRV/ok" MANIFEST="$WWW/manifest" >out 2>err &&
	published gtsrb &&
	"$DL_BIN/dl-prep" info "$P/gtsrb/prep-roi48x48-pc30-t1000/test.safetensors" >info &&
	grep -q "images.*\[40, 48, 48, 3\]" info &&
	grep -q -- "--split test --gt $P/gtsrb/raw/GTSRB_Final_Test_GT/GT-final_test.csv --roi" "$P/gtsrb/prep-roi48x48-pc30-t1000/prep.log"
'

test_case 'tiny-imagenet-resnet50.mk ci from a folder (FROM=DIR): 64x64, 200 classes' '
	ci tiny-imagenet-resnet50 tiny DATA="$P/tiny" FROM="$WWW/tiny-imagenet" MANIFEST="$WWW/manifest" >out 2>err &&
	published tiny &&
	"$DL_BIN/dl-prep" info "$P/tiny/prep-pc20-t1000/train.safetensors" >info &&
	grep -q "images.*64, 64, 3\]" info &&
	grep -q "start prep-test: .*dl-prep tiny-imagenet $P/tiny/raw/tiny-imagenet-200.zip --split val" \
		"$P/tiny/prep-pc20-t1000/prep.log"
'

test_case 'driving-pilotnet.mk ci: three cameras with steering correction, MAE gate' '
	ci driving-pilotnet drv DATA="$P/drv" FROM="$SRV/ok" MANIFEST="$WWW/manifest" >out 2>err &&
	published drv && grep -q "mae 0\.0" out &&
	grep -q -- "--cameras center,left,right --steer-correction 0.2" "$P/drv/prep-c0.2-450/prep.log" &&
	ci driving-pilotnet drv-gate DATA="$P/drv" FROM="$SRV/ok" MANIFEST="$WWW/manifest" MAX_MAE=0.001 >out2 2>err2;
	[ $? -eq 2 ] && grep -q "stage eval failed: dl-eval exited 7" err2 &&
	test ! -e "$P/runs/drv-gate/eval.json" && test -s "$P/runs/drv-gate/eval-failed.json"
'

test_done
