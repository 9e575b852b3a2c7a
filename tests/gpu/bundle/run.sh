#!/bin/bash
# The one device run (issue 16), from the bundle made by `make
# device-bundle` (see tests/gpu/README):
#
#   tar xJf device-bundle.tar.xz && device-bundle/run.sh OUT
#
# Writes to OUT (and prints a summary last), within about 8 minutes on one
# H100/H200:
#   info.txt      GPU, driver, CUDA runtime, cuDNN and cuBLAS (versions and
#                 the files loaded), PyTorch's view of the same
#   check-gpu.txt tests/gpu/run: every op and every model GPU vs CPU, and
#                 lenet on Fashion-MNIST on the GPU vs the CPU (2 epochs,
#                 same seed: accuracies side by side)
#   memcheck.txt  compute-sanitizer --tool memcheck on the op suite (if the
#                 machine has compute-sanitizer)
#   bench.txt     training images/s, ours and PyTorch's, for lenet (batch
#                 128), vgg16 (32x32, batch 128), resnet50 (64x64, batch
#                 128) in fp32, tf32 and bf16; bench.jsonl the raw lines
#   summary.txt   the lines above in short
# Steps have time limits (STEP_LIMIT_* below) so one hang cannot eat the
# lease; a step that times out says so and the script goes on.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: run.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
bin=$here/build/bin
sum=$OUT/summary.txt
: >"$sum"
say() { echo "$*" | tee -a "$sum"; }
t_start=$(date +%s)
elapsed() { echo $(($(date +%s) - t_start)); }

# cuDNN and cuBLAS: the pip packages of the image's python3 (nvidia/*/lib),
# handed to our loader (lib/backend/cuda_find.c searches them too).
libpath=$("$PY" - <<'PYEOF' 2>/dev/null
import glob, os, site, sys
dirs = []
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    dirs += sorted(glob.glob(os.path.join(sp, "nvidia", "*", "lib")))
print(":".join(dirs))
PYEOF
)
export DL_CUDA_LIBPATH=${libpath}${DL_CUDA_LIBPATH:+:$DL_CUDA_LIBPATH}
export DL_ROOT=$here OMP_WAIT_POLICY=PASSIVE

# ---- 1. the machine --------------------------------------------------------
{
	echo "date: $(date -u)"
	echo "host: $(uname -a)"
	nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true
	echo "--- dl-train --devices"
	"$bin/dl-train" --devices 2>&1
	echo "--- pytorch"
	"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), torch.cuda.get_device_name(0))' 2>&1
	echo "--- DL_CUDA_LIBPATH=$DL_CUDA_LIBPATH"
	command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>&1
} >"$OUT/info.txt" 2>&1
say "== device"
grep -E "^cuda|^torch|NVIDIA|name," "$OUT/info.txt" | tee -a "$sum"
if ! grep -q '^cuda:[0-9]' "$OUT/info.txt"; then
	say "run.sh: no usable GPU for our backend (see info.txt); the GPU steps will fail"
fi

# ---- 2. GPU vs CPU, op by op and model by model; lenet on Fashion-MNIST ---
say "== check-gpu (ops, models, lenet accuracy)  [t=$(elapsed)s]"
DL_FMNIST=$here/data/fashion-mnist/prep DL_GPU_MODEL_BATCH=${DL_GPU_MODEL_BATCH:-8} \
	timeout "${STEP_LIMIT_CHECK:-240}" "$here/tests/gpu/run" build >"$OUT/check-gpu.txt" 2>&1
echo "exit $?" >>"$OUT/check-gpu.txt"
grep -E "^(ok|not ok|FAIL|gpu suite: seed|unit:|[0-9]+ passed)|accuracy|relative error|peak device" \
	"$OUT/check-gpu.txt" | tail -40 | tee -a "$sum"
tail -1 "$OUT/check-gpu.txt" | tee -a "$sum"

# ---- 3. compute-sanitizer memcheck on the op suite ------------------------
say "== memcheck  [t=$(elapsed)s]"
cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if [ -x "$cs" ]; then
	timeout "${STEP_LIMIT_MEMCHECK:-90}" "$cs" --tool memcheck --error-exitcode 1 \
		"$here/build/tests/gpu-runner" gpu_ >"$OUT/memcheck.txt" 2>&1
	rc=$?
	echo "exit $rc" >>"$OUT/memcheck.txt"
	say "memcheck: exit $rc ($( [ $rc = 124 ] && echo "timed out" || grep -c "Invalid\|ERROR SUMMARY: [1-9]" "$OUT/memcheck.txt") error lines); $(grep "ERROR SUMMARY" "$OUT/memcheck.txt" | tail -1)"
else
	say "memcheck: compute-sanitizer not found: skipped"
fi

# ---- 4. images/s: ours and PyTorch's ----------------------------------------
say "== training images/s (batch 128; ours: dl-train --device cuda, epoch 2..3 of 10-step epochs; pytorch: 10 warm-up + 30 timed steps)  [t=$(elapsed)s]"
bd=$OUT/bench-data
mkdir -p "$bd"
"$PY" - "$bd" <<'PYEOF'
# random images (u8 NHWC) and labels (i32), written as safetensors with the
# standard library only (no numpy needed)
import array, json, os, random, struct, sys
d = sys.argv[1]
for name, h, w, c, k in (("lenet", 28, 28, 1, 10), ("vgg16", 32, 32, 3, 10), ("resnet50", 64, 64, 3, 200)):
    n = 128 * 10
    x = os.urandom(n * h * w * c)
    rnd = random.Random(1)
    y = array.array("i", [rnd.randrange(k) for _ in range(n)]).tobytes()
    hdr = {"images": {"dtype": "U8", "shape": [n, h, w, c], "data_offsets": [0, len(x)]},
           "labels": {"dtype": "I32", "shape": [n], "data_offsets": [len(x), len(x) + len(y)]},
           "__metadata__": {"dl.classes": json.dumps([f"c{i}" for i in range(k)])}}
    hb = json.dumps(hdr).encode()
    hb += b" " * (-len(hb) % 8)
    with open(os.path.join(d, name + ".safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + x + y)
PYEOF
ours_ips() { # LOG: images/s over epochs 2.. (epoch 1 holds cuDNN's choosing and warm-up)
	"$PY" - "$1" <<'PYEOF'
import json, sys
e = [json.loads(l) for l in open(sys.argv[1]) if '"epoch"' in l]
e = [r for r in e if r.get("event") == "epoch"][1:]
n = sum(r["step"] - p["step"] for p, r in zip([{"step": 10}] + e, e)) * 128
s = sum(r["seconds"] for r in e)
print(f"{n / s:.1f}" if s > 0 else "n/a")
PYEOF
}
printf "%-9s %-5s %12s %12s %7s\n" model prec ours pytorch ratio | tee -a "$sum" "$OUT/bench.txt"
for m in lenet vgg16 resnet50; do
	for p in fp32 tf32 bf16; do
		run=$OUT/runs/$m-$p
		rm -rf "$run"
		timeout "${STEP_LIMIT_BENCH:-60}" "$bin/dl-train" -q -m "$m" --train "$bd/$m.safetensors" \
			-o "$run" --device cuda --precision "$p" --epochs 3 --batch 128 --seed 1 \
			>"$OUT/runs-$m-$p.log" 2>&1
		rc=$?
		if [ $rc = 0 ]; then ours=$(ours_ips "$run/log.jsonl"); else ours="exit$rc"; fi
		tj=$(timeout "${STEP_LIMIT_BENCH:-60}" "$PY" "$here/bench/torch_gpu.py" -m "$here/models/$m.spec" \
			--batch 128 --precision "$p" 2>>"$OUT/torch-$m-$p.log")
		echo "{\"model\": \"$m\", \"precision\": \"$p\", \"ours\": \"$ours\", \"ours_exit\": $rc, \"torch\": ${tj:-null}}" >>"$OUT/bench.jsonl"
		tp=$(echo "$tj" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["images_per_s"])' 2>/dev/null || echo n/a)
		ratio=$(awk -v a="$ours" -v b="$tp" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')
		printf "%-9s %-5s %12s %12s %7s\n" "$m" "$p" "$ours" "$tp" "$ratio" | tee -a "$sum" "$OUT/bench.txt"
		[ $rc = 0 ] || say "  ours $m $p: $(grep -m1 "dl-train:" "$OUT/runs-$m-$p.log")"
	done
done
rm -rf "$bd" "$OUT/runs"
say "== done in $(elapsed)s; files in $OUT"
