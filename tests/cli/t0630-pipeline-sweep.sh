#!/bin/bash
# make -j2 sweep: a 2x2 grid (LRS x BATCHES) trained in four run folders
# from data prepared once, sweep.tsv with one row per run sorted by the
# gated metric, SWEEP/best linking the best run; and the nightly publish
# step (publish only what beats the current model, keep the previous).
. "$(dirname "$0")/lib.sh"
P=$TEST_TMP/p
COMMON="BIN=$DL_BIN DEVICE=cpu THREADS=1 DATASET=fashion-mnist OFFLINE=1 DATA=$P/data LIMIT=600
 TEST_LIMIT=300 RECIPE=mlp OPTIMIZER=adam EPOCHS=2 MIN_ACCURACY=0.3"

test_case 'make -j2 sweep: data prepared once, four runs, sweep.tsv sorted, best linked' '
	make -s -j2 -C "$DL_ROOT" -f pipelines/mnist.mk $COMMON sweep LRS="0.01 0.001" BATCHES="32 64" \
		SWEEP="$P/sw" >out 2>err || { cat err; exit 1; }
	[ "$(grep -c " start prep-train: " "$P/data/prep-600-t300/prep.log")" -eq 1 ] &&
	[ "$(grep -c " start prep-test: " "$P/data/prep-600-t300/prep.log")" -eq 1 ] &&
	for r in lr0.01-b32 lr0.01-b64 lr0.001-b32 lr0.001-b64; do
		test -s "$P/sw/$r/summary.json" || { echo "no $r"; exit 1; }
		[ "$(grep -c " start train: " "$P/sw/$r/run.log")" -eq 1 ] || exit 1
	done &&
	grep -q -- "--lr 0.001 .*--batch 64\|--batch 64 --lr 0.001" "$P/sw/lr0.001-b64/run.log" &&
	[ "$(wc -l <"$P/sw/sweep.tsv")" -eq 5 ] &&
	head -1 "$P/sw/sweep.tsv" | grep -q "^accuracy	gate	lr	batch" &&
	tail -n +2 "$P/sw/sweep.tsv" | cut -f1 | sort -g -r -c &&
	best=$(sed -n 2p "$P/sw/sweep.tsv" | cut -f7) &&
	[ "$(readlink "$P/sw/best")" = "$(basename "$best")" ] && test -s "$P/sw/best/model-torch.safetensors" &&
	grep -q "^sweep: 4 runs" out
'

test_case 'publish: only a model that beats the current one; the previous one is kept' '
	pm() { make -s -C "$DL_ROOT" -f pipelines/mnist.mk $COMMON publish "$@"; }
	best=$(sed -n 2p "$P/sw/sweep.tsv" | cut -f7) && worst=$(tail -1 "$P/sw/sweep.tsv" | cut -f7) &&
	[ "$(sed -n 2p "$P/sw/sweep.tsv" | cut -f1)" != "$(tail -1 "$P/sw/sweep.tsv" | cut -f1)" ] &&
	pm RUN="$worst" PUBLISH="$P/pub" >o1 2>e1 && grep -q "is now $P/pub/current" o1 &&
	first=$(readlink "$P/pub/current") && cmp "$worst/model.onnx" "$P/pub/current/model.onnx" &&
	pm RUN="$best" PUBLISH="$P/pub" >o2 2>e2 && grep -q "kept as $P/pub/previous" o2 &&
	[ "$(readlink "$P/pub/previous")" = "$first" ] && cmp "$best/model.onnx" "$P/pub/current/model.onnx" &&
	now=$(readlink "$P/pub/current") &&
	pm RUN="$worst" PUBLISH="$P/pub" >o3 2>e3 && grep -q "does not beat" o3 &&
	[ "$(readlink "$P/pub/current")" = "$now" ] && [ "$(readlink "$P/pub/previous")" = "$first" ] &&
	[ -z "$(find "$P/pub" -name "*tmp*")" ]
'

test_done
