#!/bin/bash
# CPU speed: the settings the tools make themselves (OpenMP's wait policy
# for oneDNN, lib/core/ompenv.c) and --precision bf16 on the CPU (bf16
# convolutions and dense layers on oneDNN, fp32 master weights).
. "$(dirname "$0")/lib.sh"
# LeakSanitizer cannot run under ptrace: under strace, no leak check (ASan builds)
NOLEAK="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
DEB=/usr/share/datasets/fashion-mnist
FIX=$TEST_TMP/fix
mkdir -p "$FIX"
D=$FIX/train256.st
"$DL_BIN/dl-prep" idx "$DEB/train-images-idx3-ubyte.gz" "$DEB/train-labels-idx1-ubyte.gz" --limit 256 \
	--classes fashion-mnist -o "$D" 2>"$FIX/prep.err"
# Does this CPU have bf16 (the backend's own check: cpuid and oneDNN's ISA)?
"$DL_BIN/dl-train" -m lenet --train "$D" -o "$FIX/probe" --steps 1 --batch 8 --device cpu -j 1 -q \
	--precision bf16 2>"$FIX/probe.err"
BF16=$?
# Is oneDNN built in (DL_GEMM=dnnl is refused without it)?
DL_GEMM=dnnl "$DL_BIN/dl-train" -m mlp --train "$D" -o "$FIX/probe2" --steps 1 --batch 8 --device cpu -j 1 -q \
	2>"$FIX/probe2.err"
DNNL=$?

test_case 'dl-train and dl-eval without OMP_WAIT_POLICY restart once with PASSIVE' '
	for t in dl-train dl-eval; do
		env -u OMP_WAIT_POLICY "$NOLEAK" strace -f -v -e trace=execve -o st.$t "$DL_BIN/$t" --help >/dev/null &&
		test "$(grep -c "execve(" st.$t)" -eq 2 &&
		grep "execve(\"/proc/self/exe\"" st.$t | grep -q "OMP_WAIT_POLICY=PASSIVE" || return 1
	done
'

test_case 'a policy the user set is kept: no restart' '
	env OMP_WAIT_POLICY=ACTIVE "$NOLEAK" strace -f -v -e trace=execve -o st "$DL_BIN/dl-train" --help >/dev/null &&
	test "$(grep -c "execve(" st)" -eq 1
'

test_case 'DL_OMP_REEXEC=0 turns the restart off' '
	env -u OMP_WAIT_POLICY DL_OMP_REEXEC=0 "$NOLEAK" strace -f -v -e trace=execve -o st "$DL_BIN/dl-eval" --help >/dev/null &&
	test "$(grep -c "execve(" st)" -eq 1
'

cat >"$FIX/res.spec" <<'EOF'
input h=28 w=28 c=1
conv2d filters=16 size=3 pad=1 bias=0
batchnorm
relu name=s
conv2d filters=16 size=3 pad=1 bias=0
batchnorm name=m
add from=m,s
relu
gap
dense units=10
EOF
test_case 'relu fusion (batchnorm + relu, add + relu): the same model bits as DL_FUSE=0, fp32 and bf16' '
	precs="fp32"
	[ "$BF16" -eq 0 ] && precs="fp32 bf16"
	for p in $precs; do
		for f in 0 1; do
			DL_FUSE=$f "$DL_BIN/dl-train" -m "$FIX/res.spec" --train "$D" -o $p.$f --epochs 2 --batch 32 \
				--seed 4 -j 2 --device cpu --precision $p -q || return 1
		done
		cmp $p.0/model.safetensors $p.1/model.safetensors || return 1
	done
'

cat >"$FIX/wide.spec" <<'EOF'
input h=28 w=28 c=1
conv2d filters=64 size=3 pad=1 bias=0
batchnorm
relu
conv2d filters=64 size=3 pad=1
relu
gap
dense units=10
EOF
test_case 'Winograd (DL_WINO): on by default, bit-identical twice, not the bits of DL_WINO=0 but close, a bad value is exit 2' '
	for r in a b; do
		"$DL_BIN/dl-train" -m "$FIX/wide.spec" --train "$D" -o wi.$r --epochs 1 --batch 32 --seed 5 -j 2 \
			--device cpu -q || return 1
	done
	DL_WINO=0 "$DL_BIN/dl-train" -m "$FIX/wide.spec" --train "$D" -o di --epochs 1 --batch 32 --seed 5 -j 2 \
		--device cpu -q &&
	cmp wi.a/model.safetensors wi.b/model.safetensors &&
	! cmp -s wi.a/model.safetensors di/model.safetensors &&
	l1=$(jq -r "select(.event==\"epoch\") | .loss" wi.a/log.jsonl) &&
	l2=$(jq -r "select(.event==\"epoch\") | .loss" di/log.jsonl) &&
	awk -v a="$l1" -v b="$l2" "BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 1e-3 * (a > 0 ? a : -a) + 1e-6) }" &&
	test_expect_code 2 env DL_WINO=2 "$DL_BIN/dl-train" -m "$FIX/wide.spec" --train "$D" -o x --steps 1 \
		--device cpu 2>err &&
	grep -q "DL_WINO must be 0 or 1" err && ! test -e x/model.safetensors
'

if [ "$BF16" -eq 0 ]; then
test_case 'bf16 links (conv -> batchnorm in bf16): bit-identical twice, not the bits of DL_BF16_LINK=0 but close, a bad value is exit 2' '
	for r in a b 0; do
		l=1
		[ $r = 0 ] && l=0
		DL_BF16_LINK=$l "$DL_BIN/dl-train" -m "$FIX/res.spec" --train "$D" -o lk.$r --epochs 2 --batch 32 \
			--seed 4 -j 2 --device cpu --precision bf16 -q || return 1
	done
	cmp lk.a/model.safetensors lk.b/model.safetensors &&
	! cmp -s lk.a/model.safetensors lk.0/model.safetensors &&
	l1=$(jq -r "select(.event==\"epoch\") | .loss" lk.a/log.jsonl | tail -1) &&
	l2=$(jq -r "select(.event==\"epoch\") | .loss" lk.0/log.jsonl | tail -1) &&
	awk -v a="$l1" -v b="$l2" "BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 0.05 * (b > 0 ? b : -b)) }" &&
	test_expect_code 2 env DL_BF16_LINK=on "$DL_BIN/dl-train" -m "$FIX/res.spec" --train "$D" -o x --steps 1 \
		--device cpu --precision bf16 2>err &&
	grep -q "DL_BF16_LINK must be 0 or 1" err && ! test -e x/model.safetensors
'
fi

test_case 'DL_FUSE: a bad value is refused (exit 2) naming the variable, no output' '
	test_expect_code 2 env DL_FUSE=yes "$DL_BIN/dl-train" -m "$FIX/res.spec" --train "$D" -o x --steps 1 \
		--device cpu 2>err &&
	grep -q "DL_FUSE must be 0 or 1" err && ! test -e x/model.safetensors
'

if [ "$BF16" -eq 0 ]; then
test_case '--precision bf16 on the CPU: lenet trains, bit-identical twice, differs from fp32, recorded' '
	for r in a b; do
		"$DL_BIN/dl-train" -m lenet --train "$D" -o bf.$r --epochs 2 --batch 32 --seed 3 -j 2 --device cpu \
			--precision bf16 -q || return 1
	done
	"$DL_BIN/dl-train" -m lenet --train "$D" -o fp --epochs 2 --batch 32 --seed 3 -j 2 --device cpu -q &&
	cmp bf.a/model.safetensors bf.b/model.safetensors &&
	! cmp -s bf.a/model.safetensors fp/model.safetensors &&
	grep -q "bf16" bf.a/log.jsonl
'
else
	test_skip '--precision bf16 on the CPU' "$(head -1 "$FIX/probe.err")"
fi

test_case 'DL_GEMM: a bad value is refused (exit 2) naming the variable' '
	test_expect_code 2 env DL_GEMM=fast "$DL_BIN/dl-train" -m mlp --train "$D" -o x --steps 1 --device cpu 2>err &&
	grep -q "DL_GEMM=fast: expected auto, blas or dnnl" err && ! test -e x/model.safetensors
'

if [ "$DNNL" -eq 0 ]; then
test_case 'DL_GEMM=blas|dnnl|auto: mlp and lenet train, each bit-identical twice, the kernels agree closely' '
	for m in mlp lenet; do
		for g in blas dnnl auto; do
			for r in a b; do
				DL_GEMM=$g "$DL_BIN/dl-train" -m $m --train "$D" -o $m.$g.$r --epochs 2 --batch 32 \
					--seed 3 -j 2 --device cpu -q || return 1
			done
			cmp $m.$g.a/model.safetensors $m.$g.b/model.safetensors || return 1
		done
		! cmp -s $m.blas.a/model.safetensors $m.dnnl.a/model.safetensors || return 1
		# the last epoch loss of each, within 1e-3 relative of OpenBLAS
		for g in blas dnnl auto; do
			grep "\"event\": *\"epoch\"" $m.$g.a/log.jsonl | tail -1 |
				sed "s/.*\"loss\": *\([0-9.e+-]*\).*/\1/" > loss.$m.$g
		done
		awk -v b="$(cat loss.$m.blas)" "{ d = \$1 - b; if (d < 0) d = -d; if (!(b > 0 && d <= 1e-3 * b)) exit 1 }" \
			loss.$m.dnnl loss.$m.auto || return 1
	done
'
else
	test_skip 'DL_GEMM=blas|dnnl|auto' "$(head -1 "$FIX/probe2.err")"
fi

test_case '--precision bf16 refused when oneDNN may not use bf16 (DNNL_MAX_CPU_ISA), tf32 refused on the CPU' '
	test_expect_code 2 env DNNL_MAX_CPU_ISA=AVX512_CORE "$DL_BIN/dl-train" -m lenet --train "$D" -o x \
		--steps 1 --device cpu --precision bf16 2>err &&
	grep -q "bf16" err && [ "$(grep -c "^dl-train: " err)" -eq 1 ] && ! test -e x/model.safetensors &&
	test_expect_code 2 "$DL_BIN/dl-train" -m lenet --train "$D" -o y --steps 1 --device cpu \
		--precision tf32 2>err2 && grep -q "GPU" err2
'

test_done
