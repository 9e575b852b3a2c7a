#!/bin/bash
# Signals and temp files (lib/core/guard.c, tmpname.c): every tool removes
# its temp outputs on SIGINT/TERM/HUP/QUIT/USR1 and dies by that signal
# (status 128+N); dl-train checkpoints and exits 8 on any of them, and a
# second signal during a stuck write removes the temp and dies.  A temp
# left by kill -9 is swept by the next run; temps of live processes and of
# other outputs are kept.  tests/cli/stall.c (LD_PRELOAD) makes the Nth
# fsync or rename hang, so each signal lands while a temp file exists.
. "$(dirname "$0")/lib.sh"
TRAIN=$DL_BIN/dl-train EVAL=$DL_BIN/dl-eval PREP=$DL_BIN/dl-prep EXPORT=$DL_BIN/dl-export
FETCH=$DL_BIN/dl-fetch
PY=/usr/bin/python3
DEB=/usr/share/datasets/fashion-mnist
export OMP_WAIT_POLICY=PASSIVE NO_COLOR=1 XDG_CACHE_HOME=$TEST_TMP/cache
unset DL_FETCH_LOCAL_DIR DL_MIRROR
# the shim is not built with ASan: let an ASan build run with it preloaded
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
ulimit -c 0

FIX=$TEST_TMP/fix
mkdir -p "$FIX"
cc -shared -fPIC -O2 -o "$FIX/stall.so" "$DL_ROOT/tests/cli/stall.c" -ldl 2>"$FIX/cc.err"
"$PY" "$DL_ROOT/tests/torch/make_train_fixture.py" "$FIX/ds.st" --n 64 --hw 8 2>"$FIX/make.err"
printf "input h=8 w=8 c=1\nflatten\ndense units=2\n" >"$FIX/m.spec"
"$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" -o "$FIX/run" -q -j 1 2>"$FIX/train.err"
gzip -dc "$DEB/t10k-images-idx3-ubyte.gz" >"$FIX/img.idx" 2>/dev/null
gzip -dc "$DEB/t10k-labels-idx1-ubyte.gz" >"$FIX/lab.idx" 2>/dev/null

test_case 'fixtures: the stall shim, a dataset, a run' '
	[ -s "$FIX/stall.so" ] || { cat "$FIX/cc.err"; exit 1; }
	[ -s "$FIX/ds.st" ] && [ -s "$FIX/run/model.safetensors" ] && [ -s "$FIX/img.idx" ] ||
		{ cat "$FIX/make.err" "$FIX/train.err"; exit 1; }
'

# stalled CALL:N CMD...: CMD in the background, its Nth CALL hanging, every
# signal at its default (a shell gives background jobs SIGINT/QUIT ignored)
stalled() {
	local spec=$1; shift
	rm -f "$FIX/mark"
	LD_PRELOAD=$FIX/stall.so DL_TEST_STALL=$spec DL_TEST_STALL_MARK=$FIX/mark \
		env --default-signal "$@" 2>err &
	pid=$!
}

# wait_for GLOB: until the stalled process hangs (or, without stalled, a
# path matches GLOB), then GLOB must match (20 s at most)
wait_for() {
	local i
	for i in $(seq 400); do
		if [ -e "$FIX/mark" ]; then
			compgen -G "$1" >/dev/null && return 0
			echo "hanging, but no $1:"; ls -la; return 1
		fi
		[ -z "${DL_TEST_STALL_NOMARK:-}" ] || ! compgen -G "$1" >/dev/null || return 0
		kill -0 "$pid" 2>/dev/null || { echo "process ended early:"; cat err; return 1; }
		sleep 0.05
	done
	echo "never appeared: $1"; kill -KILL "$pid"; return 1
}

# dies_by SIG: signal $pid, which must die by SIG (status 128+N)
dies_by() {
	kill "-$1" "$pid"; wait "$pid"; local rc=$? want=$((128 + $(kill -l "$1")))
	[ "$rc" -eq "$want" ] || { echo "SIG$1: status $rc, expected $want"; cat err; return 1; }
}

# no_temps: no *.tmp.* anywhere below the case folder
no_temps() {
	if find . -name "*.tmp.*" | grep .; then echo "temps left"; return 1; fi
}

test_case 'dl-prep: INT, TERM, HUP, QUIT, USR1 while writing: temp removed, dies by the signal' '
	for sig in INT TERM HUP QUIT USR1; do
		stalled fsync:1 "$PREP" idx "$FIX/img.idx" "$FIX/lab.idx" --limit 50 -o t.st &&
		wait_for "t.st.tmp.$pid.*" && dies_by $sig && [ ! -e t.st ] && no_temps || exit 1
	done
'

test_case 'dl-prep show (PNG): HUP while writing: temp removed' '
	stalled fsync:1 "$PREP" show "$FIX/ds.st" -o s.png &&
	wait_for "s.png.tmp.*" && dies_by HUP && [ ! -e s.png ] && no_temps
'

test_case 'dl-eval --logits: TERM while writing: temp removed, no output' '
	stalled fsync:1 "$EVAL" "$FIX/run/model.safetensors" "$FIX/ds.st" --logits l.st &&
	wait_for "l.st.tmp.*" && dies_by TERM && [ ! -e l.st ] && no_temps
'

test_case 'dl-export (onnx, c): INT before the rename: temps removed' '
	stalled rename:1 "$EXPORT" "$FIX/run/model.safetensors" --format onnx -o m.onnx &&
	wait_for "m.onnx.tmp.*" && dies_by INT && [ ! -e m.onnx ] && no_temps &&
	stalled rename:1 "$EXPORT" "$FIX/run/model.safetensors" --format c -o m.c &&
	wait_for "m.h.tmp.*" && dies_by TERM && [ ! -e m.c ] && [ ! -e m.h ] && no_temps
'

# dl-fetch: a tar of two files, copied --from src then unpacked
mkfetch() {
	mkdir -p src/t/d && echo a >src/t/a && echo b >src/t/d/b && tar -C src -cf src/t.tar t &&
	rm -r src/t &&
	printf "dataset a\nfile t.tar sha256=%s unpack=yes\n" "$(sha256sum <src/t.tar | cut -c1-64)" >m
}

test_case 'dl-fetch: TERM during the copy, INT during the unpack: no temp file or tree left' '
	mkfetch &&
	stalled rename:1 "$FETCH" -f m a --from src -d out -q &&
	wait_for "out/t.tar.tmp.*" && dies_by TERM && no_temps && [ ! -e out/t.tar ] &&
	stalled rename:2 "$FETCH" -f m a --from src -d out -q &&
	wait_for "out/t.tmp.*" && [ -f out/t.tmp.*/t/d/b ] && dies_by INT && no_temps && [ ! -e out/t ] &&
	"$FETCH" -f m a --from src -d out -q && [ "$(cat out/t/t/d/b)" = b ] && no_temps
'

test_case 'dl-train: HUP, QUIT and USR1 checkpoint and exit 8, like INT and TERM' '
	for sig in HUP QUIT USR1; do
		rm -rf run
		rm -f "$FIX/mark"; DL_TEST_STALL_NOMARK=1 env --default-signal "$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" -o run \
			--epochs 100000 --checkpoint-every 1 -q 2>err & pid=$!
		DL_TEST_STALL_NOMARK=1 wait_for run/model.safetensors && kill -$sig $pid; wait $pid; rc=$?
		[ "$rc" -eq 8 ] || { echo "SIG$sig: exit $rc, expected 8"; cat err; exit 1; }
		grep -q "interrupted at step" err && no_temps || exit 1
	done
'

test_case 'dl-train: a second signal while the checkpoint write hangs: temp removed, dies by it' '
	stalled fsync:1 "$TRAIN" -m "$FIX/m.spec" --train "$FIX/ds.st" -o run --epochs 100 --checkpoint-every 1 -q &&
	wait_for "run/model.safetensors.tmp.$pid.*" && kill -TERM $pid && sleep 0.2 &&
	kill -0 $pid && dies_by TERM && no_temps && [ ! -e run/model.safetensors ]
'

test_case 'kill -9 during a checkpoint write leaves a temp; the next run removes it and finishes' '
	A="-m $FIX/m.spec --train $FIX/ds.st --epochs 20 --batch 16 --checkpoint-every 1 -q -j 1 --device cpu"
	# 2 fsyncs per checkpoint (file, folder): the 3rd checkpoint hangs
	stalled fsync:5 "$TRAIN" $A -o run && wait_for "run/model.safetensors.tmp.$pid.*" &&
	kill -KILL $pid; wait $pid
	ls -la run; ls run/model.safetensors.tmp.* && [ -s run/model.safetensors ] &&
	test_expect_code 0 "$TRAIN" $A --resume run 2>err2 && no_temps &&
	"$TRAIN" $A -o ref 2>err3 && cmp ref/model.safetensors run/model.safetensors
'

test_case 'stale temps: dead owners swept by any tool writing that output; live ones and others kept' '
	"$PREP" idx "$FIX/img.idx" "$FIX/lab.idx" --limit 20 -o t.st 2>/dev/null &&
	sh -c "exit 0" & dead=$!; wait $dead
	touch "t.st.tmp.$dead.AbC123" "t.st.tmp.$$.LiVe12" "other.st.tmp.$dead.xYz789" &&
	mkdir "t.st.tmp.$dead.DiR456" && touch "t.st.tmp.$dead.DiR456/x" &&
	"$PREP" idx "$FIX/img.idx" "$FIX/lab.idx" --limit 20 -o t.st 2>/dev/null &&
	[ ! -e "t.st.tmp.$dead.AbC123" ] && [ ! -e "t.st.tmp.$dead.DiR456" ] &&
	[ -e "t.st.tmp.$$.LiVe12" ] && [ -e "other.st.tmp.$dead.xYz789" ] &&
	"$EVAL" "$FIX/run/model.safetensors" "$FIX/ds.st" --logits other.st >/dev/null &&
	[ ! -e "other.st.tmp.$dead.xYz789" ] && [ -e "t.st.tmp.$$.LiVe12" ]
'

test_case 'stale temps: a recycled pid (a live process started after the temp) does not protect it' '
	touch -d "2020-01-01" "t.st.tmp.$$.OlD123" &&
	"$PREP" idx "$FIX/img.idx" "$FIX/lab.idx" --limit 20 -o t.st 2>/dev/null &&
	[ ! -e "t.st.tmp.$$.OlD123" ]
'

test_case 'dl-fetch sweeps stale temp files and trees of dead owners in its folder' '
	mkfetch && mkdir -p out && sh -c "exit 0" & dead=$!; wait $dead
	mkdir -p "out/t.tmp.$dead.QwErTy/d" && touch "out/t.tmp.$dead.QwErTy/d/x" "out/t.tar.tmp.$dead.AsDfGh" &&
	"$FETCH" -f m a --from src -d out -q && no_temps && [ -d out/t ]
'

test_done
