#!/bin/bash
# dl-train under mpirun (Open MPI, CPU ranks on this machine):
# - -np 2 trains the same model as one process with the same global batch,
#   seed and data (lenet; a batch-norm model with --sync-bn and dropout,
#   augmentation): weights within relative 1e-5 after 50 steps, the same
#   test accuracy to 3 decimals;
# - -np 2 twice is bit-identical, and so is -np 2 over TCP as two "nodes";
# - kill -9 of a rank: the job ends non-zero within the timeout, the last
#   checkpoint loads, --resume ends bit-identical to the uninterrupted run;
#   SIGUSR1 to mpirun, SIGTERM to pipelines/launch mpirun or to the process
#   group of pipelines/step + launch: every rank stops at the same step,
#   exit 8, resume identical; SIGTERM to mpirun itself: Open MPI 4 aborts
#   (non-zero, not 8), the checkpoint loads and resume is still identical;
#   a hung rank (SIGSTOP) is named within
#   --comm-timeout; resuming with another number of ranks is refused;
# - a build without MPI refuses to run as one of N > 1 ranks.
# Without mpirun/mpicc every case prints "skipped" (counted, not passed).
. "$(dirname "$0")/lib.sh"
TRAIN=$DL_BIN/dl-train
EVAL=$DL_BIN/dl-eval
PY=/usr/bin/python3
CLOSE="$PY $DL_ROOT/tests/dist/weights_close.py"
export OMP_WAIT_POLICY=PASSIVE
# Open MPI refuses root without these; CI runs as root
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI keeps some allocations to process exit: no leak report for it
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
# 2 ranks on 2 (busy) cores: oversubscribe; sm/self transports by default
MPIRUN="mpirun --oversubscribe"

if ! command -v mpirun >/dev/null || ! ldd "$TRAIN" 2>/dev/null | grep -q "libmpi\."; then
	echo "skipped: no Open MPI (mpirun/mpicc): apt-get install openmpi-bin libopenmpi-dev"
	echo "$TEST_NAME: 0 passed, 0 failed, 1 skipped"
	exit 0
fi

FIX=$TEST_TMP/fix
mkdir -p "$FIX"
# 512 samples of 28x28 (lenet's input), 2 classes; batch 32: 16 steps/epoch
D=$FIX/d.st
T=$FIX/t.st
"$PY" "$DL_ROOT/tests/torch/make_train_fixture.py" "$D" --n 512 --hw 28 2>"$FIX/make.err"
"$PY" "$DL_ROOT/tests/torch/make_train_fixture.py" "$T" --n 256 --hw 28 --seed 7 2>>"$FIX/make.err"
BN=$FIX/bn.spec
printf "input h=28 w=28 c=1\nconv2d filters=6 size=3 pad=same\nbatchnorm\nrelu\nmaxpool size=2\nconv2d filters=8 size=3 pad=same\nbatchnorm\nrelu\nmaxpool size=2\nflatten\ndense units=16\nrelu\ndropout p=0.2\ndense units=2\n" >"$BN"
COMMON="--train $D --steps 50 --batch 32 -j 1 --optimizer sgd --lr 0.05 --momentum 0.9 --seed 3 -q"

# acc RUN: test accuracy with 3 decimals
acc() {
	"$EVAL" "$1/model.safetensors" "$T" --json | "$PY" -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["accuracy"])'
}

# With the reference kernels (OpenBLAS for dense layers) the ranks differ
# from one process only in the order of the all-reduce's sums: 1e-5.  With
# the default DL_GEMM=auto, lenet's first dense layer runs on oneDNN's
# matmul, whose rounding differs between 16 rows (a rank) and 32 (one
# process); on this fixture that grows to 1e-3 by step 50 (1e-7 after one
# step), so the default kernels are held to 1e-2 and the same accuracy.
test_case 'lenet: -np 2 equals one process (weights within 1e-5 after 50 steps with the reference kernels, 1e-2 with the default ones; accuracy to 3 decimals)' '
	DL_GEMM=blas "$TRAIN" -m lenet $COMMON -o one 2>err1 &&
	DL_GEMM=blas $MPIRUN -x DL_GEMM -np 2 "$TRAIN" -m lenet $COMMON -o two 2>err2 || { cat err1 err2; exit 1; }
	$CLOSE two/model.safetensors one/model.safetensors --rtol 1e-5 &&
	a=$(acc one) && b=$(acc two) && echo "accuracy $a $b" && [ "$a" = "$b" ] &&
	"$TRAIN" -m lenet $COMMON -o one-auto 2>err1 &&
	$MPIRUN -np 2 "$TRAIN" -m lenet $COMMON -o two-auto 2>err2 || { cat err1 err2; exit 1; }
	$CLOSE two-auto/model.safetensors one-auto/model.safetensors --rtol 1e-2 &&
	a=$(acc one-auto) && b=$(acc two-auto) && echo "accuracy $a $b" && [ "$a" = "$b" ]
'

test_case 'batch norm + dropout + augmentation: -np 2 --sync-bn equals one process' '
	A="-m $BN $COMMON --augment crop=2,flip"
	"$TRAIN" $A -o one 2>err1 &&
	$MPIRUN -np 2 "$TRAIN" $A --sync-bn -o two 2>err2 || { cat err1 err2; exit 1; }
	$CLOSE two/model.safetensors one/model.safetensors --rtol 1e-5 &&
	a=$(acc one) && b=$(acc two) && echo "accuracy $a $b" && [ "$a" = "$b" ] &&
	grep -q "\"ranks\\\\\": 2, \\\\\"sync_bn\\\\\": 1" two/model.safetensors
'

# The fault cases: a longer run (600 steps) with a checkpoint every 10; a
# signal comes at step 30, leaving the run hundreds of steps to notice it
# whatever the load (the polls below take tens of ms; a step 1 to 15 ms).
F="-m $BN --train $D --steps 600 --batch 32 -j 1 --optimizer sgd --lr 0.02 --momentum 0.9
 --augment crop=1,flip --checkpoint-every 10 --comm-timeout 10 -q"
REF=$FIX/ref
$MPIRUN -np 2 "$TRAIN" $F -o "$REF" 2>"$FIX/ref.err"
ckpt_step() {
	grep -ao "\"step\\\\\": [0-9]*" "$1" 2>/dev/null | head -1 | grep -o "[0-9]*$"
}
# wait_step PID FILE N: until FILE holds step >= N or PID ends
wait_step() {
	while kill -0 "$1" 2>/dev/null && [ "$(ckpt_step "$2" || echo 0)" -lt "$3" ]; do
		sleep 0.02
	done
}

# pipelines/launch turns the first SIGTERM/SIGINT/SIGHUP into one SIGUSR1 to
# mpirun (which forwards it to every rank); a signal to mpirun itself makes
# Open MPI 4 abort the job with status 1 (man dl-train, Several processes)
LAUNCH="$DL_ROOT/pipelines/launch"

# stopped RUNDIR ERR: the ranks stopped at one step and that step's checkpoint
# loads; --resume ends byte-identical to the uninterrupted run
stopped() {
	s=$(sed -n "s/.*interrupted at step \([0-9]*\).*/\1/p" "$2") && [ -n "$s" ] &&
	[ "$(ckpt_step "$1/model.safetensors")" = "$s" ] &&
	"$EVAL" "$1/model.safetensors" "$T" --json >/dev/null &&
	$MPIRUN -np 2 "$TRAIN" $F --resume "$1" 2>"$2.resume" || { cat "$2" "$2.resume"; return 1; }
	cmp "$REF/model.safetensors" "$1/model.safetensors"
}
# stop_at_30 SIGNAL GROUP COMMAND...: run COMMAND (a job into run/) in the
# background, send SIGNAL once its checkpoint is at step 30 (to its process
# group when GROUP is "-"), expect exit 8 and check the stop as stopped does
stop_at_30() {
	local sig=$1 grp=$2 pid
	shift 2
	"$@" 2>err &
	pid=$!
	wait_step $pid run/model.safetensors 30
	kill -"$sig" -- "$grp$pid"
	test_expect_code 8 wait $pid || { cat err; return 1; }
	stopped run err
}

test_case '-np 2 twice is bit-identical; rank 0 alone wrote the run directory' '
	[ -s "$REF/model.safetensors" ] || { cat "$FIX/ref.err"; exit 1; }
	$MPIRUN -np 2 "$TRAIN" $F -o again 2>err && cmp "$REF/model.safetensors" again/model.safetensors &&
	[ "$(ls again | sort | tr "\n" " ")" = "best.safetensors log.jsonl model.safetensors " ] ||
	[ "$(ls again | sort | tr "\n" " ")" = "log.jsonl model.safetensors " ] &&
	[ "$(grep -c "\"event\": \"done\"" again/log.jsonl)" = 1 ]
'

test_case 'two "nodes" (--host localhost:1,127.0.0.1:1, TCP) give the -np 2 result' '
	$MPIRUN --host localhost:1,127.0.0.1:1 --mca btl tcp,self -np 2 "$TRAIN" $F -o nodes 2>err ||
		{ cat err; exit 1; }
	cmp "$REF/model.safetensors" nodes/model.safetensors
'

test_case 'kill -9 of a rank: non-zero within the timeout; the checkpoint loads; --resume equals the uninterrupted run' '
	$MPIRUN -np 2 "$TRAIN" $F -o run 2>err &
	pid=$!
	wait_step $pid run/model.safetensors 40
	victim=$(pgrep -P $pid | tail -1)
	[ -n "$victim" ] || { echo "no rank to kill (the run ended?)"; cat err; exit 1; }
	t0=$(date +%s)
	kill -9 $victim
	wait $pid
	rc=$?
	t=$(( $(date +%s) - t0 ))
	echo "exit $rc after ${t}s"; tail -3 err
	[ $rc -ne 0 ] && [ $t -le 25 ] || exit 1
	grep -q "rank" err &&
	"$EVAL" run/model.safetensors "$T" --json >/dev/null &&
	$MPIRUN -np 2 "$TRAIN" $F --resume run 2>err2 || { cat err2; exit 1; }
	cmp "$REF/model.safetensors" run/model.safetensors
'

test_case 'SIGUSR1 to mpirun: every rank stops at the same step, exit 8; --resume equals the uninterrupted run' '
	stop_at_30 USR1 "" $MPIRUN -np 2 "$TRAIN" $F -o run
'

test_case 'SIGTERM to pipelines/launch mpirun: every rank stops at the same step, exit 8; --resume equals the uninterrupted run' '
	stop_at_30 TERM "" "$LAUNCH" $MPIRUN -np 2 "$TRAIN" $F -o run
'

test_case 'SIGTERM to the process group of pipelines/step + launch (a pipeline with NP=2): exit 8, resume identical' '
	stop_at_30 TERM - setsid "$DL_ROOT/pipelines/step" -p t -l run.log train -- \
		"$LAUNCH" $MPIRUN -np 2 "$TRAIN" $F -o run &&
	grep -q "exit 8 after .* (SIGTERM forwarded)" run.log
'

# Open MPI 4.1: status 1 at once; SIGTERM to the ranks after
# odls_base_sigkill_timeout s (1), SIGKILL as long again later
test_case 'SIGTERM to mpirun itself: Open MPI ends the job (non-zero, about 2 s); the checkpoint loads; --resume equals the uninterrupted run' '
	$MPIRUN -np 2 "$TRAIN" $F -o run 2>err &
	pid=$!
	wait_step $pid run/model.safetensors 30
	t0=$(date +%s)
	kill -TERM $pid
	wait $pid
	rc=$?
	t=$(( $(date +%s) - t0 ))
	echo "mpirun exit $rc after ${t}s"; cat err
	[ $rc -ne 0 ] && [ $t -le 30 ] && [ "$(ckpt_step run/model.safetensors)" -ge 30 ] &&
	"$EVAL" run/model.safetensors "$T" --json >/dev/null &&
	$MPIRUN -np 2 "$TRAIN" $F --resume run 2>err2 || { cat err2; exit 1; }
	cmp "$REF/model.safetensors" run/model.safetensors
'

test_case 'a hung rank (SIGSTOP) is named within --comm-timeout and the job ends' '
	$MPIRUN -np 2 "$TRAIN" $F --comm-timeout 3 -o run 2>err &
	pid=$!
	wait_step $pid run/model.safetensors 10
	victim=$(pgrep -P $pid | tail -1)
	[ -n "$victim" ] || { cat err; exit 1; }
	kill -STOP $victim
	t0=$(date +%s)
	wait $pid
	rc=$?
	t=$(( $(date +%s) - t0 ))
	kill -KILL $victim 2>/dev/null
	echo "exit $rc after ${t}s"; cat err
	[ $rc -ne 0 ] && [ $t -le 20 ] && grep -q "rank 1 did not" err
'

test_case 'resuming with another number of ranks is refused with a clear message (exit 2)' '
	test_expect_code 2 "$TRAIN" $F --resume "$REF" 2>err && cat err &&
	grep -q "written by a run of 2 ranks and this one has 1" err
'

test_case '--devices under mpirun lists every rank' '
	$MPIRUN -np 2 "$TRAIN" --devices >out 2>err || { cat err; exit 1; }
	cat out; grep -q "^rank	0 of 2" out && grep -q "^rank	1 of 2" out && grep -q "^cpu	" out
'

test_case 'a build without MPI refuses to run as rank 1 of 2' '
	cc -std=c11 -D_GNU_SOURCE -I"$DL_ROOT/lib" "$DL_ROOT/tests/dist/nompi_refuses.c" \
		"$DL_ROOT/lib/dist/none.c" "$DL_ROOT/lib/dist/launch.c" "$DL_ROOT/lib/core/error.c" \
		-o nompi && ./nompi
'

test_done
