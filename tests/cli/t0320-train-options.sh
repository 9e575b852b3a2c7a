#!/bin/bash
# dl-train options: the PyTorch reference numbers are current, usage errors,
# --val-fraction, --normalize, --augment, --csv-log, early stopping and
# best.safetensors, and a bad --log leaving no run directory.
. "$(dirname "$0")/lib.sh"
TRAIN=$DL_BIN/dl-train
PY=/usr/bin/python3
export OMP_WAIT_POLICY=PASSIVE

FIX=$TEST_TMP/fix
mkdir -p "$FIX"
D=$FIX/d.st
"$PY" "$DL_ROOT/tests/torch/make_train_fixture.py" "$D" --n 256 --hw 8 2>"$FIX/make.err"
M=$FIX/m.spec
printf "input h=8 w=8 c=1\nflatten\ndense units=8\nrelu\ndense units=2\n" >"$M"
BASE="-m $M --train $D --batch 16 -j 1 -q"

# meta FILE KEY: a checkpoint's metadata value
meta() {
	"$PY" -c "import sys; sys.path.insert(0, \"$DL_ROOT/bench\"); import stio
print(stio.load(sys.argv[1])[1].get(sys.argv[2], \"\"))" "$1" "$2"
}

test_case 'fixture: a synthetic dataset' '
	[ -s "$D" ] || { cat "$FIX/make.err"; exit 1; }
'

test_case 'tests/unit/optim_ref.h is what PyTorch prints today (tests/torch/optim_ref.py)' '
	"$PY" "$DL_ROOT/tests/torch/optim_ref.py" >ref.h &&
	diff ref.h "$DL_ROOT/tests/unit/optim_ref.h"
'

test_case '--help lists the trainer options' '
	"$TRAIN" --help >out &&
	for o in --optimizer --nesterov --schedule --milestones --warmup --clip-norm --augment \
		--normalize --val-fraction --checkpoint-every --early-stop --monitor --resume \
		--time-limit --max-cost --price-per-hour --csv-log --steps; do
		grep -q -- "$o" out || { echo "no $o in --help"; exit 1; }
	done
'

test_case 'usage errors exit 2 with one line naming the option' '
	for bad in "--nesterov" "--optimizer sgd --nesterov" "--schedule onecycle --warmup 3" \
		"--schedule multistep" "--milestones 3,2 --schedule multistep" "--augment crop=x" \
		"--augment rotate" "--normalize zscore" "--val $D --val-fraction 0.1" "--val-fraction 1.5" \
		"--optimizer rmsprop" "--schedule linear" "--early-stop 2" "--monitor val_f1" \
		"--max-cost 1" "--clip-norm -1" "--steps -3"; do
		test_expect_code 2 "$TRAIN" $BASE -o run $bad 2>err || { echo "case: $bad"; exit 1; }
		[ "$(grep -c "^dl-train: " err)" -eq 1 ] || { echo "case: $bad"; cat err; exit 1; }
	done &&
	[ ! -e run ]
'

test_case 'a bad --log path: exit 4, no run directory left behind' '
	test_expect_code 4 "$TRAIN" $BASE -o run --log nosuchdir/x.jsonl 2>err &&
	grep -q nosuchdir/x.jsonl err && [ ! -e run ] &&
	test_expect_code 4 "$TRAIN" $BASE -o run2 --csv-log nosuchdir/x.csv 2>err2 && [ ! -e run2 ]
'

test_case '--val-fraction: a seeded hold-out, validated every epoch; --csv-log rows' '
	test_expect_code 0 "$TRAIN" $BASE -o run --epochs 3 --val-fraction 0.25 --csv-log run.csv 2>err &&
	[ "$(grep -c "\"val_accuracy\"" run/log.jsonl)" -eq 3 ] &&
	head -1 run.csv | grep -q "^epoch,step,lr,loss,accuracy,val_loss,val_accuracy,seconds$" &&
	[ "$(wc -l <run.csv)" -eq 4 ] && [ -s run/best.safetensors ] &&
	"$TRAIN" -m "$M" --train "$D" --batch 16 -j 1 -o run3 --epochs 1 --val-fraction 0.25 2>err3 &&
	grep -q "192 train samples, 64 val" err3
'

test_case '--normalize dataset uses dl.mean/dl.std and records them in dl.input; 0-1 and none' '
	"$TRAIN" $BASE -o a --normalize dataset &&
	meta a/model.safetensors dl.input >a.json &&
	! grep -q "\"mean\": \[0\]" a.json && grep -q "\"std\": \[0\.[0-9]" a.json &&
	"$TRAIN" $BASE -o b --normalize 0-1 && meta b/model.safetensors dl.input | grep -q "\"mean\": \[0\], \"std\": \[1\]" &&
	"$TRAIN" $BASE -o c --normalize none && meta c/model.safetensors dl.input | grep -q "\"scale\": 1,"
'

test_case '--augment changes the trained weights; the same seed repeats them' '
	"$TRAIN" $BASE -o a --augment crop=2,flip && "$TRAIN" $BASE -o b --augment crop=2,flip &&
	"$TRAIN" $BASE -o c && cmp a/model.safetensors b/model.safetensors &&
	! cmp -s <(tail -c 4000 a/model.safetensors) <(tail -c 4000 c/model.safetensors)
'

test_case 'early stopping: no improvement for PATIENCE epochs stops the run (exit 0), best kept' '
	test_expect_code 0 "$TRAIN" $BASE -o run --epochs 10 --val-fraction 0.25 --lr 1e-12 \
		--early-stop 2 --monitor val_loss 2>err &&
	[ "$(grep -c "\"event\": \"epoch\"" run/log.jsonl)" -eq 3 ] &&
	grep -q "stopped early" run/log.jsonl && [ -s run/best.safetensors ] &&
	meta run/best.safetensors dl.train | grep -q "\"best_epoch\": 1"
'

test_case 'every optimizer and schedule trains on the CLI (loss goes down)' '
	for o in "--optimizer sgd --momentum 0.9 --nesterov --lr 0.05" "--optimizer adamw" \
		"--optimizer adam --weight-decay 1e-4 --clip-norm 1" "--schedule step --step-size 1 --gamma 0.5" \
		"--schedule multistep --milestones 1,2" "--schedule cosine --warmup 4" "--schedule onecycle --lr 0.01"; do
		"$TRAIN" $BASE -o run --epochs 3 $o 2>err || { echo "case $o:"; cat err; exit 1; }
		first=$(grep "\"epoch\": 1," run/log.jsonl | sed "s/.*\"loss\": \([0-9.]*\).*/\1/")
		last=$(grep "\"epoch\": 3," run/log.jsonl | sed "s/.*\"loss\": \([0-9.]*\).*/\1/")
		awk -v a="$first" -v b="$last" "BEGIN{exit !(b < a)}" || { echo "case $o: loss $first -> $last"; exit 1; }
	done
'

test_case '--steps: the run length in steps, the last epoch partial' '
	"$TRAIN" $BASE -o run --steps 20 &&
	meta run/model.safetensors dl.train | grep -q "\"step\": 20," &&
	grep -q "\"partial\": true" run/log.jsonl
'

test_case 'a progress bar only when stderr is a terminal (script(1) gives it one)' '
	command -v script >/dev/null || { echo "script(1) (bsdutils) is needed"; exit 1; }
	script -qec "\"$TRAIN\" -m $M --train $D --batch 16 -j 1 -o a --epochs 1" /dev/null >tty.out </dev/null &&
	grep -q "\[=*>" tty.out &&
	"$TRAIN" -m "$M" --train "$D" --batch 16 -j 1 -o b --epochs 1 2>plain.err &&
	grep -q "^epoch 1/1" plain.err && ! grep -q "\[=*>" plain.err
'

test_done
