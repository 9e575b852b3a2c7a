#!/bin/bash
# The device bundle (make device-bundle, tests/gpu/README) is
# self-contained: every library its tools, GPU runner and CUDA backend
# need resolves inside it (RPATH $ORIGIN) under an empty environment,
# except glibc and the CUDA stack; its tools run from it; and the check
# catches a binary that would reach for the system's libraries.  The data
# and the xz packing are left to make device-bundle (time).
. "$(dirname "$0")/lib.sh"
BUILD=${DL_BUILD:-$DL_ROOT/build}
B=$TEST_TMP/bundle
if [ ! -f "$BUILD/lib/libdl-cuda.so" ] || ! command -v patchelf >/dev/null; then
	test_skip 'the device bundle' "needs $BUILD/lib/libdl-cuda.so (nvcc) and patchelf"
	test_done
	exit
fi
NO_DATA=1 "$DL_ROOT/scripts/device-bundle" "$BUILD" "$B" >"$TEST_TMP/make.log" 2>&1

test_case 'the bundle was made' '
	[ -x "$B/build/bin/dl-train" ] && [ -x "$B/build/tests/gpu-runner" ] &&
	[ -f "$B/build/lib/libdl-cuda.so" ] && [ -x "$B/run.sh" ] && [ -x "$B/tests/gpu/run" ] &&
	[ -f "$B/models/resnet50.spec" ] && [ -f "$B/bench/torch_gpu.py" ] || { cat "$TEST_TMP/make.log"; exit 1; }
'

test_case 'every library resolves inside the bundle (but glibc and the CUDA stack)' '
	"$DL_ROOT/tests/gpu/bundle/check-self-contained" "$B" >out 2>&1 || { cat out; exit 1; }
	grep -q "self-contained: [1-9][0-9]* files, 0 problems" out &&
	ls "$B/build/lib" | grep -q "^libopenblas" && ! ls "$B/build/lib" | grep -qE "^libc\.so|^libcudnn|^libcublas|^libnccl"
'

test_case 'the bundled tools run from it, with no LD_LIBRARY_PATH, and find its CUDA backend' '
	env -i PATH=/usr/bin:/bin "$B/build/bin/dl-train" --devices >dev 2>&1 &&
	grep -q "^cpu	" dev && ! grep -q "no CUDA backend" dev &&
	env -i PATH=/usr/bin:/bin "$B/build/bin/dl-train" -m resnet50 --summary >sum 2>&1 &&
	grep -q "trainable params" sum
'

test_case 'the check fails for a binary that reaches outside the bundle' '
	mkdir -p b2/build/bin && cp "$B/build/bin/dl-eval" b2/build/bin/ &&
	patchelf --remove-rpath b2/build/bin/dl-eval &&
	! "$DL_ROOT/tests/gpu/bundle/check-self-contained" b2 >out 2>&1 &&
	grep -q "not ok: .*dl-eval: lib.* => /.*(outside the bundle)" out
'

test_done
