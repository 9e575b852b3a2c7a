#!/bin/bash
# dl-train run control: a run killed with SIGKILL at random points (several
# times) and resumed ends bit-identical to an uninterrupted one; SIGTERM
# and SIGINT checkpoint and exit 8; --time-limit and --max-cost stop (exit 8 too)
# cleanly and resume exactly; a diverging run exits 9 keeping the last good
# checkpoint.
. "$(dirname "$0")/lib.sh"
TRAIN=$DL_BIN/dl-train
PY=/usr/bin/python3
export OMP_WAIT_POLICY=PASSIVE

FIX=$TEST_TMP/fix
mkdir -p "$FIX"
D=$FIX/d.st
"$PY" "$DL_ROOT/tests/torch/make_train_fixture.py" "$D" --n 1024 --hw 12 2>"$FIX/make.err"
M=$FIX/m.spec
printf "input h=12 w=12 c=1\nconv2d filters=4 size=3 pad=same\nrelu\nmaxpool size=2\nflatten\ndense units=16\nrelu\ndense units=2\n" >"$M"
# every feature that carries state across a resume: SGD momentum, Nesterov,
# a cosine schedule with warmup, clipping, crop+flip augmentation, a held-out
# validation split (best.safetensors), checkpoints every step.  768 training
# samples / batch 16 = 48 steps per epoch, 288 in all.
ARGS="-m $M --train $D --epochs 6 --batch 16 --val-fraction 0.25 --optimizer sgd --momentum 0.9
 --nesterov --lr 0.05 --schedule cosine --warmup 5 --clip-norm 1 --augment crop=1,flip
 --checkpoint-every 1 -j 2 -q"
REF=$FIX/ref
"$TRAIN" $ARGS -o "$REF" 2>"$FIX/ref.err"
# ckpt_step FILE: the step a checkpoint holds
ckpt_step() {
	grep -ao "\"step\\\\\": [0-9]*" "$1" 2>/dev/null | head -1 | grep -o "[0-9]*$"
}

test_case 'fixture: a synthetic dataset and an uninterrupted reference run' '
	[ -s "$D" ] || { cat "$FIX/make.err"; exit 1; }
	[ -s "$REF/model.safetensors" ] && [ -s "$REF/best.safetensors" ] || { cat "$FIX/ref.err"; exit 1; }
'

# wait_step PID FILE N: until FILE (a checkpoint) holds step >= N or PID ends
wait_step() {
	while kill -0 "$1" 2>/dev/null && [ "$(ckpt_step "$2" || echo 0)" -lt "$3" ]; do
		sleep 0.01
	done
}

# same_weights A B: the two checkpoints are byte-identical (tensors and metadata)
same_weights() {
	cmp "$1" "$2" || { echo "checkpoints differ: $1 $2"; return 1; }
}

test_case 'the same run twice is byte-identical (the baseline for the resume cases)' '
	"$TRAIN" $ARGS -o again 2>err && same_weights "$REF/model.safetensors" again/model.safetensors &&
	same_weights "$REF/best.safetensors" again/best.safetensors
'

# Each segment runs until its checkpoint reaches a random target step, then
# is killed after a further random 0-30 ms (inside a step, a checkpoint
# write, or between them).
test_case 'SIGKILL at random points 5 times, --resume each time: bit-identical to the uninterrupted run' '
	targets=$(awk -v s=$RANDOM "BEGIN{srand(s); for (i = 0; i < 5; i++) print int(10 + rand() * 260)}" | sort -n)
	hits=0
	for target in $targets; do
		if [ -s run/model.safetensors ]; then
			"$TRAIN" $ARGS --resume run 2>>err &
		else
			"$TRAIN" $ARGS -o run 2>>err &
		fi
		pid=$!
		wait_step $pid run/model.safetensors "$target"
		sleep "$(awk -v s=$RANDOM "BEGIN{srand(s); printf \"%.3f\", rand() * 0.03}")"
		kill -KILL $pid 2>/dev/null && hits=$((hits + 1))
		wait $pid 2>/dev/null
		echo "target $target: killed at step $(ckpt_step run/model.safetensors || echo "-")"
	done
	[ "$hits" -ge 3 ] || { echo "only $hits kills hit a running process"; exit 1; }
	test_expect_code 0 "$TRAIN" $ARGS --resume run 2>>err &&
	same_weights "$REF/model.safetensors" run/model.safetensors &&
	same_weights "$REF/best.safetensors" run/best.safetensors
'

test_case 'SIGTERM: finishes the step, checkpoints, exits 8; --resume completes bit-identically' '
	"$TRAIN" $ARGS -o run 2>err & pid=$!
	wait_step $pid run/model.safetensors 30; kill -TERM $pid; wait $pid; rc=$?
	[ "$rc" -eq 8 ] || { echo "exit $rc, expected 8"; cat err; exit 1; }
	grep -q "interrupted" err && grep -q -- "--resume" err &&
	test_expect_code 0 "$TRAIN" $ARGS --resume run 2>err2 &&
	same_weights "$REF/model.safetensors" run/model.safetensors
'

test_case 'SIGINT: exit 8 as well' '
	"$TRAIN" $ARGS -o run 2>err & pid=$!
	wait_step $pid run/model.safetensors 30; kill -INT $pid; wait $pid; rc=$?
	[ "$rc" -eq 8 ] || { echo "exit $rc, expected 8"; cat err; exit 1; }
	[ -s run/model.safetensors ]
'

test_case '--time-limit: exit 8 (stopped early, not finished) saying why, resumable, and the resumed run is exact' '
	test_expect_code 8 "$TRAIN" $ARGS -o run --time-limit 0.05 2>err &&
	grep -q "time limit" err && grep -q -- "--resume" err &&
	grep -q "\"stop\": \"stopped at the time limit\"" run/log.jsonl &&
	step=$(ckpt_step run/model.safetensors) && echo "stopped at step $step" && [ "$step" -lt 288 ] &&
	test_expect_code 0 "$TRAIN" $ARGS --resume run 2>err2 &&
	same_weights "$REF/model.safetensors" run/model.safetensors
'

test_case '--max-cost with --price-per-hour: exit 8, "cost limit", cost in the summary' '
	"$TRAIN" $ARGS -o run --max-cost 0.0001 --price-per-hour 3.6 2>err; rc=$?
	[ "$rc" -eq 8 ] || { echo "exit $rc"; cat err; exit 1; }
	grep -q "cost limit" err && grep -qF "cost \$" err &&
	grep -q "\"stop\": \"stopped at the cost limit\"" run/log.jsonl &&
	grep -q "\"cost\": " run/log.jsonl &&
	test_expect_code 2 "$TRAIN" $ARGS -o run2 --max-cost 1 2>err2 && grep -q price-per-hour err2
'

test_case '--resume with different options is refused (exit 2); a finished run resumes as a no-op' '
	cp -r "$REF" run &&
	test_expect_code 2 "$TRAIN" $ARGS --resume run --lr 0.1 2>err && grep -q "differ" err &&
	test_expect_code 0 "$TRAIN" $ARGS --resume run 2>err2 &&
	same_weights "$REF/model.safetensors" run/model.safetensors &&
	test_expect_code 4 "$TRAIN" $ARGS --resume nosuchdir 2>err3 && grep -q nosuchdir err3
'

test_case 'a diverging run (huge lr) exits 9 and keeps only finite checkpoints' '
	test_expect_code 9 "$TRAIN" -m "$M" --train "$D" --epochs 3 --batch 16 --optimizer sgd --lr 1e30 \
		--checkpoint-every 1 -o run -q 2>err && grep -q diverged err &&
	if [ -e run/model.safetensors ]; then
		"$PY" -c "
import sys; sys.path.insert(0, \"$DL_ROOT/bench\"); import stio, numpy as np
t, _ = stio.load(\"run/model.safetensors\")
bad = [k for k, v in t.items() if not np.isfinite(v).all()]
sys.exit(\"non-finite: %s\" % bad if bad else 0)"
	fi
'

test_done
