#!/bin/bash
# The tiny Fashion-MNIST pipeline end to end (fetch -> prep -> train -> eval
# -> export) with an accuracy floor, and make's incrementality.
. "$(dirname "$0")/lib.sh"
MK="$DL_ROOT/pipelines/fashion-mnist.mk"
P="$TEST_TMP/p"
run_tiny() { make -s -C "$DL_ROOT" -f "$MK" tiny BIN="$DL_BIN" DATA="$P/data" RUN="$P/run-tiny"; }

test_case 'tiny pipeline runs end to end and passes its accuracy gate' '
	run_tiny >out 2>err &&
	grep -q "^test accuracy: 0\.[7-9]" out &&
	test -s "$P/run-tiny/model.safetensors" &&
	test -s "$P/run-tiny/model-torch.safetensors" &&
	test -s "$P/run-tiny/log.jsonl"
'

test_case 'the eval result is JSON with an accuracy above the floor' '
	/usr/bin/python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
assert r[\"n\"] == 1000, r
assert r[\"accuracy\"] >= 0.70, r
" "$P/run-tiny/eval.json"
'

test_case 'a second make re-runs nothing' '
	before=$(stat -c %Y "$P/run-tiny/model.safetensors") &&
	run_tiny >out 2>err &&
	grep -q "^test accuracy: 0\.[7-9]" out &&
	test "$(stat -c %Y "$P/run-tiny/model.safetensors")" = "$before" &&
	[ "$(grep -c " start train: " "$P/run-tiny/run.log")" -eq 1 ] &&
	! grep -q "dl-" err
'

test_case 'a failed gate stops the pipeline with exit 7 from dl-eval' '
	test_expect_code 2 make -s -C "$DL_ROOT" -f "$MK" demo BIN="$DL_BIN" DATA="$P/data" \
	  RUN="$P/run-gate" MODEL=perceptron EPOCHS=1 LIMIT=2000 TEST_LIMIT=1000 MIN_ACCURACY=0.99 2>err &&
	grep -q "gate failed" err && grep -q "Error 7" err &&
	test ! -e "$P/run-gate/eval.json"
'

test_done
