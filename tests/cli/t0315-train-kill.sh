#!/bin/bash
# The kill test: a small run killed with SIGKILL 12 times -- 6 at random
# moments, 6 while a checkpoint is being written (the write made to hang
# by tests/cli/stall.c, so the kill surely lands inside it and leaves a
# temp file) -- and resumed after each kill ends byte-identical (cmp) to
# the uninterrupted run, with no temp file left behind.  Each checkpoint's
# fsync is slowed by 10 ms (stall.c) so that polling for a step keeps up
# with the run on a loaded machine.
. "$(dirname "$0")/lib.sh"
TRAIN=$DL_BIN/dl-train
PY=/usr/bin/python3
export OMP_WAIT_POLICY=PASSIVE
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

FIX=$TEST_TMP/fix
mkdir -p "$FIX"
cc -shared -fPIC -O2 -o "$FIX/stall.so" "$DL_ROOT/tests/cli/stall.c" -ldl 2>"$FIX/cc.err"
D=$FIX/d.st
"$PY" "$DL_ROOT/tests/torch/make_train_fixture.py" "$D" --n 400 --hw 8 2>"$FIX/make.err"
M=$FIX/m.spec
printf "input h=8 w=8 c=1\nconv2d filters=4 size=3 pad=same\nrelu\nmaxpool size=2\nflatten\ndense units=2\n" >"$M"
# 300 training samples / batch 8 = 38 steps per epoch, 152 in all; momentum,
# augmentation and a validation split (best.safetensors) carry state
ARGS="-m $M --train $D --epochs 4 --batch 8 --val-fraction 0.25 --optimizer sgd --momentum 0.9
 --lr 0.05 --augment crop=1,flip --checkpoint-every 1 -j 1 --device cpu -q"
REF=$FIX/ref
"$TRAIN" $ARGS -o "$REF" 2>"$FIX/ref.err"

ckpt_step() {
	grep -ao "\"step\\\\\": [0-9]*" "$1" 2>/dev/null | head -1 | grep -o "[0-9]*$"
}

test_case 'fixture: the stall shim, a dataset, the uninterrupted reference run' '
	[ -s "$FIX/stall.so" ] || { cat "$FIX/cc.err"; exit 1; }
	[ -s "$D" ] || { cat "$FIX/make.err"; exit 1; }
	[ -s "$REF/model.safetensors" ] && [ -s "$REF/best.safetensors" ] || { cat "$FIX/ref.err"; exit 1; }
'

# start [ENV...]: the next segment of the run in the background (resumed
# when a checkpoint exists), its pid in $pid
start() {
	local how="-o run"
	[ -s run/model.safetensors ] && how="--resume run"
	env LD_PRELOAD="$FIX/stall.so" DL_TEST_SLOW_FSYNC_US=10000 "$@" "$TRAIN" $ARGS $how 2>>err &
	pid=$!
}

test_case '12 SIGKILLs (6 at random moments, 6 inside checkpoint writes), each resumed: cmp-identical, no temp' '
	rm -f "$FIX/mark"
	kills=0 inside=0
	for i in $(seq 12); do
		r=$(awk -v s=$RANDOM "BEGIN{srand(s); print int(rand() * 1000)}")
		now=$(ckpt_step run/model.safetensors || echo 0)
		if [ $((i % 2)) = 0 ]; then
			# the Kth fsync hangs: odd K is a checkpoint file (even: its
			# folder), the checkpoint (K+1)/2 steps after the resume point
			k=$((2 * (r % 4) + 1))
			start DL_TEST_STALL=fsync:$k DL_TEST_STALL_MARK="$FIX/mark"
			while kill -0 $pid 2>/dev/null && [ ! -e "$FIX/mark" ]; do sleep 0.02; done
			if [ -e "$FIX/mark" ]; then
				compgen -G "run/model.safetensors.tmp.$pid.*" >/dev/null && inside=$((inside + 1))
			fi
			rm -f "$FIX/mark"
		else
			start
			target=$((now + 3 + r % 10))
			while kill -0 $pid 2>/dev/null && [ "$(ckpt_step run/model.safetensors || echo 0)" -lt $target ]; do
				sleep 0.01
			done
			sleep "0.0$((r % 3))"
		fi
		kill -KILL $pid 2>/dev/null && kills=$((kills + 1))
		wait $pid 2>/dev/null
		echo "kill $i: step $(ckpt_step run/model.safetensors || echo -), temps: $(ls run 2>/dev/null | grep -c tmp)"
	done
	echo "$kills kills hit a running process, $inside inside a checkpoint write"
	[ "$kills" -ge 10 ] && [ "$inside" -ge 5 ] || exit 1
	start && wait $pid || { echo "final run failed"; cat err; exit 1; }
	cmp "$REF/model.safetensors" run/model.safetensors &&
	cmp "$REF/best.safetensors" run/best.safetensors &&
	if find run -name "*.tmp.*" | grep .; then echo "temp left"; exit 1; fi
'

test_done
