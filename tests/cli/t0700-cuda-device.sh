#!/bin/bash
# --device cuda / auto / cuda:N and --devices on any machine: a CUDA build
# with no GPU, a CPU-only build, or (DL_CUDA_LIB) a missing backend library
# all give one clear line and exit 2; auto falls back to the CPU.  On a
# machine with a GPU the cuda cases train instead (checked both ways).
. "$(dirname "$0")/lib.sh"
TRAIN=$DL_BIN/dl-train

# A tiny dataset from random bytes (8 images 28x28, 10 classes) via IDX.
FIX=$TEST_TMP/fix
tiny_idx_dataset "$FIX"

# Does this build and machine have a usable GPU?  (--devices says.)
has_gpu "$FIX"

test_case 'fixture: a tiny dataset' '
	[ -s "$D" ] || { cat "$FIX/prep.err"; exit 1; }
'

test_case '--devices lists the cpu and a cuda line, exit 0' '
	test_expect_code 0 "$TRAIN" --devices >out 2>err && [ ! -s err ] &&
	grep -q "^cpu	" out && grep -q "^cuda" out
'

test_case 'missing backend library: --device cuda is one line, exit 2, no run dir' '
	DL_CUDA_LIB=$PWD/nowhere/libdl-cuda.so test_expect_code 2 "$TRAIN" -m mlp --train "$D" \
		-o run --device cuda 2>err &&
	grep -c "^dl-train: " err | grep -qx 1 && grep -q "no CUDA backend" err &&
	grep -q "nowhere/libdl-cuda.so" err && [ ! -e run ]
'

test_case 'a file that is not a backend library: one line naming the problem, exit 2' '
	echo "not an ELF" >fake.so &&
	DL_CUDA_LIB=$PWD/fake.so test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run \
		--device cuda:0 2>err &&
	grep -c "^dl-train: " err | grep -qx 1 && grep -q "cannot load the CUDA backend" err &&
	[ ! -e run ]
'

test_case 'malformed cuda:N and unknown devices: exit 2' '
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --device cuda:x 2>err &&
	grep -q "bad device .cuda:x." err &&
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --device cuda:-1 2>err &&
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --device tpu 2>err &&
	grep -q "unknown device .tpu." err && [ ! -e run ]
'

test_case 'auto with a missing backend library: trains on the CPU, no note' '
	DL_CUDA_LIB=$PWD/nowhere.so test_expect_code 0 "$TRAIN" -m mlp --train "$D" -o run \
		--device auto 2>err && [ -s run/model.safetensors ] && ! grep -q "note" err &&
	grep -q "cpu with" err
'

if [ "$GPU" = 0 ]; then
	test_case 'no GPU here: --device cuda names the cause, exit 2, no run dir' '
		test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --device cuda 2>err &&
		grep -c "^dl-train: " err | grep -qx 1 && grep -qi "cuda" err && [ ! -e run ]
	'
	test_case 'no GPU here: auto trains on the CPU without a note, -q stays silent' '
		test_expect_code 0 "$TRAIN" -m mlp --train "$D" -o run 2>err &&
		[ -s run/model.safetensors ] && grep -q "cpu with" err && ! grep -q note err &&
		test_expect_code 0 "$TRAIN" -q -m mlp --train "$D" -o run2 2>err && [ ! -s err ]
	'
	test_case 'a GPU setup that fails (a broken backend library): auto notes it once' '
		echo "not an ELF" >fake.so &&
		DL_CUDA_LIB=$PWD/fake.so test_expect_code 0 "$TRAIN" -m mlp --train "$D" -o run 2>err &&
		[ "$(grep -c "^dl-train: note: --device auto: cannot load the CUDA backend: .*; using the CPU$" err)" -eq 1 ]
	'
	test_case 'the note carries the name of the tool that opened the device (dl-eval)' '
		"$TRAIN" -q -m mlp --train "$D" -o run --device cpu && echo "not an ELF" >fake.so &&
		DL_CUDA_LIB=$PWD/fake.so test_expect_code 0 "$DL_BIN/dl-eval" run/model.safetensors "$D" \
			>/dev/null 2>err &&
		[ "$(grep -c "^dl-eval: note: --device auto: cannot load the CUDA backend: .*; using the CPU$" err)" -eq 1 ] &&
		! grep -q "^dl: " err
	'
else
	test_case 'GPU here: --device cuda trains, and cuda:N past the last GPU is exit 2' '
		test_expect_code 0 "$TRAIN" -m mlp --train "$D" -o run --device cuda 2>err &&
		[ -s run/model.safetensors ] && grep -q "cuda with" err &&
		test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run2 --device cuda:1023 2>err &&
		grep -q "no such CUDA device" err
	'
fi

test_done
