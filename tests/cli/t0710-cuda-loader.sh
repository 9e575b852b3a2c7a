#!/bin/bash
# The GPU side that can be checked without a GPU (issue 16):
# - the GPU suite's runner is built by make check and fails cleanly where
#   there is no device ("no CUDA device", exit 1), and tests/gpu/run says
#   so; DL_GPU_SEED is parsed (a bad one is exit 2);
# - the loader refuses a backend library built from another op list (ABI
#   number) and one whose ops table has a hole (a fake .so), and a
#   mismatching op definition does not compile;
# - the real libdl-cuda.so reports each driver failure as what it is,
#   through a fake libcuda.so.1 on LD_LIBRARY_PATH: a driver too old for
#   the CUDA runtime (--device cuda: exit 2 naming both versions; auto: one
#   note, then the CPU) and a driver that sees no GPU ("no CUDA device",
#   auto silent).
. "$(dirname "$0")/lib.sh"
TRAIN=$DL_BIN/dl-train
BUILD=${DL_BUILD:-$DL_ROOT/build}
RUNNER=$BUILD/tests/gpu-runner
FAKE=$BUILD/tests/fake
REAL=$BUILD/lib/libdl-cuda.so

FIX=$TEST_TMP/fix
tiny_idx_dataset "$FIX"
has_gpu "$FIX"

test_case 'make check built the GPU runner and the fakes' '
	[ -x "$RUNNER" ] && [ -f "$FAKE/libdl-fake-backend.so" ] && [ -f "$FAKE/libcuda.so.1" ]
'

test_case 'gpu-runner: a bad DL_GPU_SEED is exit 2 before any test' '
	DL_GPU_SEED=12x test_expect_code 2 "$RUNNER" gpu_cuda_available 2>err &&
	grep -q "DL_GPU_SEED=12x: expected a non-negative integer" err
'

if [ "$GPU" = 0 ]; then
	test_case 'gpu-runner without a device: prints the seed, says no CUDA device, exit 1' '
		DL_GPU_SEED=42 test_expect_code 1 "$RUNNER" gpu_cuda_available >out 2>err &&
		grep -q "gpu suite: seed 42" err &&
		grep -qE "no CUDA device|no CUDA backend|cannot load the CUDA backend" err &&
		grep -q "FAIL gpu_cuda_available" out && grep -q "0 passed, 1 failed" out
	'
	test_case 'tests/gpu/run (make check-gpu) without a device: one reason, exit 1' '
		test_expect_code 1 "$DL_ROOT/tests/gpu/run" "$(basename "$BUILD")" >out 2>&1 &&
		grep -q "^check-gpu: no CUDA device: " out && tail -1 out | grep -qx "0 passed, 1 failed"
	'
fi

test_case 'a library built from another op list (ABI number) is refused at load' '
	FAKE_DL_MODE=abi DL_CUDA_LIB=$FAKE/libdl-fake-backend.so test_expect_code 2 "$TRAIN" -m mlp \
		--train "$D" -o run --device cuda 2>err && [ "$(grep -c "^dl-train: " err)" -eq 1 ] &&
	grep -q "was built from another op list (ABI [0-9]*, this program [0-9]*): rebuild" err &&
	[ ! -e run ]
'

test_case 'auto with a refused library: one note, then the CPU' '
	FAKE_DL_MODE=abi DL_CUDA_LIB=$FAKE/libdl-fake-backend.so test_expect_code 0 "$TRAIN" -m mlp \
		--train "$D" -o run 2>err &&
	[ "$(grep -c "^dl-train: note: --device auto: .*another op list.*; using the CPU$" err)" -eq 1 ] &&
	grep -q "cpu with" err && [ -s run/model.safetensors ]
'

test_case 'an ops table with a missing op is refused at open, naming it' '
	FAKE_DL_MODE=hole DL_CUDA_LIB=$FAKE/libdl-fake-backend.so test_expect_code 2 "$TRAIN" -m mlp \
		--train "$D" -o run --device cuda:0 2>err && [ "$(grep -c "^dl-train: " err)" -eq 1 ] &&
	grep -q "lacks .gemm." err && [ ! -e run ]
'

test_case 'the same library with the matching ABI and no hole loads (control)' '
	FAKE_DL_MODE=nodev DL_CUDA_LIB=$FAKE/libdl-fake-backend.so test_expect_code 2 "$TRAIN" -m mlp \
		--train "$D" -o run --device cuda 2>err && grep -q "no CUDA device (fake)" err &&
	FAKE_DL_MODE=nodev DL_CUDA_LIB=$FAKE/libdl-fake-backend.so test_expect_code 0 "$TRAIN" -m mlp \
		--train "$D" -o run2 2>err && ! grep -q note err
'

test_case 'a backend op defined with another signature does not compile' '
	printf "#include \"backend/cpu/cpu.h\"\nvoid cpu_gemm(dl_backend *be, int ta) { (void)be; (void)ta; }\n" >sig.c &&
	! ${CC:-cc} -std=c11 -D_GNU_SOURCE -fsyntax-only -I"$DL_ROOT/lib" sig.c 2>err &&
	grep -q "conflicting types for .cpu_gemm." err &&
	printf "#include \"backend/cpu/cpu.h\"\nvoid cpu_gemm(dl_backend *be, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);\n" >ok.c &&
	${CC:-cc} -std=c11 -D_GNU_SOURCE -fsyntax-only -I"$DL_ROOT/lib" ok.c
'

if [ ! -f "$REAL" ]; then
	test_skip 'the real libdl-cuda.so with a fake driver' "$REAL not built (no nvcc, or a SANITIZE build)"
elif [ "$GPU" = 1 ]; then
	test_skip 'the fake-driver cases' "this machine has a GPU"
else
	test_case 'driver too old for the CUDA runtime: --device cuda names both versions, exit 2' '
		LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} FAKE_CUDA_DRIVER=12020 \
			test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --device cuda 2>err &&
		[ "$(grep -c "^dl-train: " err)" -eq 1 ] &&
		grep -q "driver is too old for this CUDA runtime: it supports CUDA 12.2, libdl-cuda.so was built with CUDA [0-9]*\.[0-9]" err &&
		! grep -q "no CUDA device" err && [ ! -e run ]
	'
	test_case 'driver too old: auto says why once and trains on the CPU; --devices says it' '
		LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} FAKE_CUDA_DRIVER=12020 \
			test_expect_code 0 "$TRAIN" -m mlp --train "$D" -o run 2>err &&
		[ "$(grep -c "^dl-train: note: --device auto: .*too old for this CUDA runtime.*; using the CPU$" err)" -eq 1 ] &&
		grep -q "cpu with" err &&
		LD_LIBRARY_PATH=$FAKE FAKE_CUDA_DRIVER=12020 "$TRAIN" --devices >dev &&
		grep -q "^cuda	none (the NVIDIA driver is too old" dev
	'
	test_case 'a driver that sees no GPU: "no CUDA device", auto silent' '
		LD_LIBRARY_PATH=$FAKE FAKE_CUDA_DRIVER=13000 FAKE_CUDA_INIT=100 \
			test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --device cuda 2>err &&
		grep -q "no CUDA device (the driver sees no GPU)" err &&
		LD_LIBRARY_PATH=$FAKE FAKE_CUDA_DRIVER=99000 FAKE_CUDA_INIT=100 \
			test_expect_code 0 "$TRAIN" -m mlp --train "$D" -o run2 2>err && ! grep -q note err
	'
	test_case 'a driver that fails to initialise: named, and auto notes it' '
		LD_LIBRARY_PATH=$FAKE FAKE_CUDA_DRIVER=13000 FAKE_CUDA_INIT=999 \
			test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --device cuda 2>err &&
		grep -q "failed to initialise: cuInit: fake driver error (error 999)" err
	'
	if ! ldconfig -p 2>/dev/null | grep -q "libcuda\.so\.1 "; then
		test_case 'no driver at all: "no CUDA device (no NVIDIA driver...)", the ABI matched' '
			test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --device cuda 2>err &&
			grep -q "no CUDA device (no NVIDIA driver: libcuda.so.1 not found)" err
		'
	fi
fi

test_done
