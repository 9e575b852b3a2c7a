#!/bin/bash
# make install DESTDIR=... PREFIX=/usr puts the tools, man pages, model
# specs, pipelines and (when built) the CUDA backend where the installed
# tools find them; the installed tools run the tiny Fashion-MNIST pipeline
# from the installed pipeline file; make uninstall removes every file.
. "$(dirname "$0")/lib.sh"
BUILD=${DL_BUILD:-$DL_ROOT/build}
SAN=
[ "$(basename "$BUILD")" = build-san ] && SAN=SANITIZE=1
D=$TEST_TMP/dest
mk() { make -s --no-print-directory -C "$DL_ROOT" $SAN DESTDIR="$D" PREFIX=/usr "$@"; }

test_case 'make install DESTDIR PREFIX=/usr: tools, man pages, specs, pipelines' '
	mk install >out 2>&1 || { cat out; exit 1; }
	for t in dl-fetch dl-prep dl-train dl-eval dl-export; do [ -x "$D/usr/bin/$t" ] || exit 1; done &&
	[ -f "$D/usr/share/man/man1/dl-train.1" ] && [ -f "$D/usr/share/man/man7/dl-tools.7" ] &&
	[ -f "$D/usr/share/man/man5/dl-model.5" ] &&
	[ -f "$D/usr/share/dl-tools/models/lenet.spec" ] &&
	[ -f "$D/usr/share/dl-tools/pipelines/fashion-mnist.mk" ] &&
	[ -f "$D/usr/share/dl-tools/pipelines/common.mk" ] && [ -x "$D/usr/share/dl-tools/pipelines/step" ] &&
	[ -x "$D/usr/share/dl-tools/pipelines/launch" ] &&
	[ -f "$D/usr/share/man/man7/dl-pipelines.7" ] &&
	"$D/usr/bin/dl-train" --help >/dev/null
'

test_case 'the installed tools find the installed CUDA backend (when built)' '
	"$D/usr/bin/dl-train" --devices >dev 2>&1 &&
	if [ -f "$BUILD/lib/libdl-cuda.so" ]; then
		[ -f "$D/usr/lib/dl-tools/libdl-cuda.so" ] && ! grep -q "no CUDA backend" dev
	else
		grep -q "no CUDA backend" dev
	fi
'

test_case 'the installed tools run the tiny pipeline from the installed .mk' '
	make -s -f "$D/usr/share/dl-tools/pipelines/fashion-mnist.mk" tiny BIN="$D/usr/bin" \
		DATA="$TEST_TMP/data" RUN="$TEST_TMP/run-tiny" >out 2>err || { cat err; exit 1; }
	grep -q "^test accuracy: 0\.[7-9]" out && [ -s "$TEST_TMP/run-tiny/model-torch.safetensors" ]
'

test_case 'make uninstall removes every installed file' '
	mk uninstall >out 2>&1 || { cat out; exit 1; }
	[ -z "$(find "$D" -type f)" ]
'

test_done
