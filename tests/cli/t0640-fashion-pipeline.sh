#!/bin/bash
# pipelines/fashion-mnist.mk (the demo of `make demo`) over common.mk, on 600
# Fashion-MNIST images (Debian's copy, offline), LeNet, CPU, one thread:
# the demo's defaults and last line; make -n runs nothing; two concurrent runs into one folder
# train once and both finish; tiny and recipe take the command line's
# variables (a gate of 0.99 fails with dl-eval's 7 and leaves no temp file;
# EPOCHS=1 RUN=x trains one epoch into x); a --time-limit stop (exit 8) and
# a SIGTERM keep the checkpoint, publish nothing, and the next make resumes
# to the model of an uninterrupted run.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipelib.sh"
P=$TEST_TMP/p
MK=pipelines/fashion-mnist.mk
COMMON="BIN=$DL_BIN DEVICE=cpu THREADS=1 OFFLINE=1 DATA=$P/data LIMIT=600 TEST_LIMIT=300 EPOCHS=4 MIN_ACCURACY=0.5"
# fm [TARGET] [VAR=VALUE...]: the ci target (lenet, batch 32) with the settings above
fm() { make -s -C "$DL_ROOT" -f $MK $COMMON TRAIN_FLAGS="--checkpoint-every 10" "$@"; }
frun() { "$DL_ROOT/pipelines/run" -s -C "$DL_ROOT" -f $MK $COMMON "$@"; }
# show [VAR=VALUE...]: the run folder, prepared data, training and gate the file would use
show() {
	make -s -C "$DL_ROOT" -f $MK --eval 'show: ; @echo $(RUN) $(PREP) $(TRAIN_CMD) $(GATE_FLAGS)' show "$@"
}
# last_line FILE RUN MODEL EPOCHS: the demo's last line, for RUN
last_line() {
	tail -1 "$1" | grep -q "^test accuracy: 0\.[0-9]* ($3, $4 epochs; details in $2/eval.json)$" ||
		{ echo "last line:"; tail -1 "$1"; return 1; }
}

test_case 'the demo keeps its defaults: lenet, 2 epochs, batch 128, Adam lr 0.001, gate 0.85, runs/fashion-mnist-lenet' '
	show >out && cat out &&
	grep -q "^runs/fashion-mnist-lenet data/fashion-mnist/prep build/bin/dl-train -m lenet " out &&
	grep -q -- "--epochs 2 --batch 128 --lr 0.001 --seed 1 --optimizer adam --device auto .*--min-accuracy 0.85$" out &&
	show MODE=tiny >tiny && grep -q "^runs/fashion-mnist-mlp-tiny data/fashion-mnist/prep-2000-t1000 .* -m mlp .*--epochs 8 .*--min-accuracy 0.70$" tiny &&
	show MODE=recipe >rec && grep -q "^runs/fashion-mnist-fmnist-bn-recipe .* -m pipelines/fmnist-bn.spec .*--epochs 8 --batch 128 --lr 0.004 --seed 1 --optimizer adamw --weight-decay 0.0005 --schedule onecycle --augment flip .*--min-accuracy 0.92$" rec &&
	show MODE=recipe TRAIN_FLAGS=--no-such >rec2 && grep -q -- "--augment flip --no-such " rec2
'

test_case 'two concurrent runs into one folder: data prepared once, one training, both print the last line' '
	fm ci RUN="$P/conc" >out1 2>err1 & a=$!
	fm ci RUN="$P/conc" >out2 2>err2 & b=$!
	wait $a; ra=$?; wait $b; rb=$?
	[ $ra -eq 0 ] && [ $rb -eq 0 ] || { echo "exits $ra $rb"; cat err1 err2; exit 1; }
	[ "$(grep -c " start train: " "$P/conc/run.log")" -eq 1 ] &&
	[ "$(grep -c " start prep-train: " "$P/data/prep-600-t300/prep.log")" -eq 1 ] &&
	[ "$(grep -c " start prep-test: " "$P/data/prep-600-t300/prep.log")" -eq 1 ] &&
	last_line out1 "$P/conc" lenet 4 && last_line out2 "$P/conc" lenet 4 &&
	grep -q "^fashion-mnist: fashion-mnist lenet, 4 epochs on cpu (1 threads)" out1 &&
	test -s "$P/conc/eval.json" && test -s "$P/conc/model.onnx" && no_temp "$P/conc"
'

test_case 'make -n prints the run stages and runs none of them' '
	make -n -C "$DL_ROOT" -f $MK $COMMON ci RUN="$P/dry" >out 2>err &&
	grep -q "dl-train -m lenet" out && grep -q "dl-eval" out &&
	[ ! -e "$P/dry/run.log" ] && [ ! -e "$P/dry/log.jsonl" ] && [ ! -e "$P/dry/model.safetensors" ]
'

test_case 'reference: one uninterrupted run, the same outputs; a second make redoes nothing' '
	fm ci RUN="$P/ref" >out 2>err || { cat err; exit 1; }
	last_line out "$P/ref" lenet 4 && same_run "$P/ref" "$P/conc" &&
	before=$(stat -c %Y "$P/ref/model.safetensors") &&
	fm ci RUN="$P/ref" >out2 2>err2 && last_line out2 "$P/ref" lenet 4 &&
	[ "$(stat -c %Y "$P/ref/model.safetensors")" = "$before" ] &&
	[ "$(grep -c " start " "$P/ref/run.log")" -eq 5 ] && ! grep -q "dl-" err2
'

test_case 'tiny MIN_ACCURACY=0.99 fails its gate: exit 7 (make: Error 7), no eval.json, no temp file' '
	test_expect_code 7 frun tiny RUN="$P/tiny" MIN_ACCURACY=0.99 >out 2>err &&
	grep -q "stage eval failed: dl-eval exited 7" err && grep -q "min-accuracy 0.99" "$P/tiny/run.log" &&
	grep -q -- "-m mlp .*--epochs 4 " "$P/tiny/run.log" && ! grep -q "^test accuracy" out &&
	test ! -e "$P/tiny/eval.json" && test -s "$P/tiny/eval-failed.json" && no_temp "$P/tiny" &&
	test_expect_code 2 make -s -C "$DL_ROOT" -f $MK $COMMON tiny RUN="$P/tiny" MIN_ACCURACY=0.99 >out2 2>err2 &&
	grep -q "Error 7" err2 && test ! -e "$P/tiny/eval.json" && no_temp "$P/tiny" &&
	[ -z "$(find "$P" -name "*.tmp*")" ]
'

test_case 'recipe EPOCHS=1 RUN=x: the recipe for one epoch into x' '
	make -s -C "$DL_ROOT" -f $MK $COMMON recipe EPOCHS=1 RUN="$P/rec" MIN_ACCURACY=0.1 >out 2>err ||
		{ cat err; exit 1; }
	last_line out "$P/rec" "pipelines/fmnist-bn.spec" 1 &&
	grep -q "\"epochs\": 1," "$P/rec/summary.json" &&
	grep -q -- "-m pipelines/fmnist-bn.spec .*--epochs 1 --batch 128 --lr 0.004 --seed 1 --optimizer adamw --weight-decay 0.0005 --schedule onecycle --augment flip" "$P/rec/run.log" &&
	grep -q -- "--augment flip --device cpu --threads 1 -o $P/rec$" "$P/rec/run.log" &&
	grep -q "min-accuracy 0.1 " "$P/rec/run.log" && no_temp "$P/rec"
'

test_case 'a --time-limit stop exits 8, publishes nothing; the next make resumes to the same model' '
	test_expect_code 8 frun ci RUN="$P/tl" TRAIN_FLAGS="--checkpoint-every 10 --time-limit 0.1" >out 2>err &&
	grep -q "stage train failed: dl-train exited 8" err && ! grep -q "^test accuracy" out &&
	[ -s "$P/tl/model.safetensors" ] && nothing_published "$P/tl" && no_temp "$P/tl" &&
	fm ci RUN="$P/tl" >out2 2>err2 && grep -q "resuming the training" err2 &&
	last_line out2 "$P/tl" lenet 4 && same_run "$P/ref" "$P/tl"
'

test_case 'SIGTERM to the pipeline during training keeps the checkpoint; make again resumes to the same model' '
	term_in_training "$P/term" make -s -C "$DL_ROOT" -f $MK $COMMON TRAIN_FLAGS="--checkpoint-every 10" \
		ci RUN="$P/term" &&
	fm ci RUN="$P/term" >out2 2>err2 && grep -q "resuming the training" err2 &&
	same_run "$P/ref" "$P/term"
'

test_done
