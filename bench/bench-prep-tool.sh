#!/bin/bash
# dl-prep decode throughput: a folder of N images (PNG 64x64 and JPEG 64x64,
# made by PIL), converted to 32x32 with -j1 and -j<all cores>, from the
# folder and from a tar.gz.  Prints images/s per run and the load average
# (other jobs share the machine: label figures accordingly).
#   bench/bench-prep-tool.sh [BUILD] [N]   (make bench-prep-tool)
set -eu
BUILD=${1:-build}; N=${2:-2000}
cd "$(dirname "$0")/.."
PREP=$PWD/$BUILD/bin/dl-prep
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 - "$T" "$N" <<'PY'
import os, sys
import numpy as np
from PIL import Image
d, n = sys.argv[1], int(sys.argv[2])
r = np.random.RandomState(1)
for fmt, ext in (("PNG", "png"), ("JPEG", "jpg")):
    for i in range(n):
        c = os.path.join(d, ext, "c%d" % (i % 10)); os.makedirs(c, exist_ok=True)
        # smooth-ish content so sizes resemble photos more than noise
        base = r.randint(0, 256, (8, 8, 3)).astype(np.uint8)
        Image.fromarray(base).resize((64, 64), Image.BILINEAR).save(os.path.join(c, "%05d.%s" % (i, ext)), fmt)
PY
(cd "$T" && tar czf png.tgz png && tar czf jpg.tgz jpg)
cores=$(nproc)
echo "bench-prep-tool: $N images 64x64 -> 32x32, $(uname -m), $cores cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for src in png jpg png.tgz jpg.tgz; do
	for j in 1 "$cores"; do
		s=$(date +%s.%N)
		"$PREP" folder "$T/$src" --size 32x32 -j "$j" -o "$T/out.st" 2>/dev/null
		e=$(date +%s.%N)
		awk -v s="$s" -v e="$e" -v n="$N" -v src="$src" -v j="$j" \
			'BEGIN { printf "  %-8s -j%-3s %7.3f s  %8.0f images/s\n", src, j, e - s, n / (e - s) }'
	done
done
