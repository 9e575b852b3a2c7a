#!/bin/bash
# The pipeline layer under cron, CI and concurrent use (pipelines/common.mk,
# through mnist.mk on 600 Fashion-MNIST images, LeNet (the MLP where no
# training is compared), CPU, one thread):
# two concurrent runs into one folder train once and end identical to a
# single run; SIGTERM to the pipeline's process group during training, then
# make again, resumes to a model byte-identical to an uninterrupted run's
# (one process, and NP=2 under mpirun through pipelines/launch); a
# --time-limit stop publishes nothing and the next make resumes; overrides
# reach every sub-target; a failed gate names its stage, leaves no temp file
# and exits 7 through pipelines/run; NOWAIT=1 on a locked run exits 75.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipelib.sh"
P=$TEST_TMP/p
MK=pipelines/mnist.mk
COMMON="BIN=$DL_BIN DEVICE=cpu THREADS=1 DATASET=fashion-mnist OFFLINE=1 DATA=$P/data LIMIT=600
 TEST_LIMIT=300 RECIPE=mlp MODEL=lenet OPTIMIZER=adam LR=0.001 EPOCHS=4 BATCH=32 MIN_ACCURACY=0.5"
# pm [TARGET] [VAR=VALUE...]: the pipeline with the settings above
pm() { make -s -C "$DL_ROOT" -f $MK $COMMON TRAIN_FLAGS="--checkpoint-every 10" "$@"; }
prun() { "$DL_ROOT/pipelines/run" -s -C "$DL_ROOT" -f $MK $COMMON "$@"; }

test_case 'reference: one uninterrupted run' '
	pm RUN="$P/ref" >out 2>err || { cat err; exit 1; }
	grep -q "^mnist: fashion-mnist lenet, 4 epochs on cpu (1 threads)" out &&
	[ "$(grep -c " start train: " "$P/ref/run.log")" -eq 1 ] && no_temp "$P/ref"
'

test_case 'two concurrent runs into one folder: one training, both exit 0, outputs identical to one run' '
	pm RUN="$P/conc" >out1 2>err1 & a=$!
	pm RUN="$P/conc" >out2 2>err2 & b=$!
	wait $a; ra=$?; wait $b; rb=$?
	[ $ra -eq 0 ] && [ $rb -eq 0 ] || { echo "exits $ra $rb"; cat err1 err2; exit 1; }
	[ "$(grep -c " start train: " "$P/conc/run.log")" -eq 1 ] &&
	[ "$(grep -c " start prep-train: " "$P/data/prep-600-t300/prep.log")" -eq 1 ] &&
	grep -q "^mnist: fashion-mnist lenet" out1 && grep -q "^mnist: fashion-mnist lenet" out2 &&
	same_run "$P/ref" "$P/conc" && no_temp "$P/conc"
'

test_case 'SIGTERM to the pipeline during training, make again: resumed, byte-identical model' '
	term_in_training "$P/term" make -s -C "$DL_ROOT" -f $MK $COMMON TRAIN_FLAGS="--checkpoint-every 10" \
		RUN="$P/term" &&
	pm RUN="$P/term" >out2 2>err2 && grep -q "resuming the training" err2 &&
	grep -q -- "--resume $P/term" "$P/term/run.log" &&
	same_run "$P/ref" "$P/term"
'

# NP=2: the same through pipelines/launch (mpirun itself would exit 1).
# Open MPI keeps some allocations to process exit: no leak report for it
# under ASan (as in t0340)
if command -v mpirun >/dev/null && ldd "$DL_BIN/dl-train" 2>/dev/null | grep -q "libmpi\."; then
	export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
	test_case 'NP=2: SIGTERM to the pipeline during training: train exits 8, make again resumes to the uninterrupted NP=2 model' '
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	pm RUN="$P/np2" NP=2 MPIRUN="mpirun --oversubscribe" >out 2>err || { cat err; exit 1; }
	term_in_training "$P/np2t" make -s -C "$DL_ROOT" -f $MK $COMMON TRAIN_FLAGS="--checkpoint-every 10" \
		RUN="$P/np2t" NP=2 MPIRUN="mpirun --oversubscribe" &&
	grep -q " start train: .*/launch mpirun --oversubscribe -np 2 " "$P/np2t/run.log" &&
	grep -q " end train: exit 8 .*(SIGTERM forwarded)" "$P/np2t/run.log" &&
	pm RUN="$P/np2t" NP=2 MPIRUN="mpirun --oversubscribe" >out2 2>err2 && grep -q "resuming the training" err2 &&
	same_run "$P/np2" "$P/np2t"
'
else
	test_skip 'NP=2: SIGTERM to the pipeline during training: exit 8, resume' 'no Open MPI (mpirun, a dl-train built with MPI)'
fi

test_case 'a --time-limit stop exits 8, publishes nothing; the next make resumes to the same model' '
	test_expect_code 8 prun RUN="$P/tl" TRAIN_FLAGS="--checkpoint-every 10 --time-limit 0.1" >out 2>err &&
	grep -q "stage train failed: dl-train exited 8" err &&
	[ -s "$P/tl/model.safetensors" ] && nothing_published "$P/tl" && no_temp "$P/tl" &&
	pm RUN="$P/tl" >out2 2>err2 && grep -q "resuming the training" err2 &&
	same_run "$P/ref" "$P/tl"
'

test_case 'tiny MIN_ACCURACY=0.99 fails its gate: exit 7, the stage named, no eval.json, no temp file' '
	test_expect_code 7 prun tiny RUN="$P/tiny" MIN_ACCURACY=0.99 MODEL=mlp >out 2>err &&
	grep -q "stage eval failed: dl-eval exited 7" err && grep -q "gate failed" err &&
	grep -q "min-accuracy 0.99" "$P/tiny/run.log" &&
	test ! -e "$P/tiny/eval.json" && test -s "$P/tiny/eval-failed.json" && no_temp "$P/tiny"
'

test_case 'overrides reach every sub-target (command line and environment)' '
	pm ci RUN="$P/ci1" EPOCHS=1 MIN_ACCURACY=0.1 MODEL=mlp >out 2>err && grep -q "\"epochs\": 1," "$P/ci1/summary.json" &&
	grep -q "\"gate\": \"accuracy >= 0.1\"" "$P/ci1/summary.json" &&
	EPOCHS=2 MIN_ACCURACY=0.2 RUN="$P/rec" make -s -C "$DL_ROOT" -f $MK \
		$(echo "$COMMON" | sed "s/EPOCHS=4//; s/MIN_ACCURACY=0.5//") MODEL=mlp recipe >out2 2>err2 &&
	grep -q "\"epochs\": 2," "$P/rec/summary.json" && grep -q "min-accuracy 0.2" "$P/rec/run.log" &&
	pm tiny RUN="$P/tiny2" MIN_ACCURACY=0.3 SEED=3 MODEL=mlp >out3 2>err3 &&
	grep -q -- "--seed 3" "$P/tiny2/run.log" && grep -q "min-accuracy 0.3" "$P/tiny2/run.log" &&
	test -e "$P/data/prep-600-t300-s3/train.safetensors"
'

test_case 'NOWAIT=1 on a locked run exits 75 at once; without it, make waits for the lock' '
	mkdir -p "$P/nw" && flock "$P/nw/.lock" sleep 3 & holder=$!
	sleep 0.5
	test_expect_code 75 prun RUN="$P/nw" NOWAIT=1 MODEL=mlp >out 2>err && grep -q "locked by another run" err &&
	test ! -e "$P/nw/train.done" && wait $holder &&
	pm RUN="$P/nw" MODEL=mlp >out2 2>err2 && test -s "$P/nw/summary.json"
'

test_done
