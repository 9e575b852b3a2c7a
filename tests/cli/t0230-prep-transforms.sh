#!/bin/bash
# dl-prep transforms and selection: --size (resize), --center-crop,
# --channels 1|3, --shuffle --seed, the stratified --val-fraction split,
# --limit, --per-class, per-channel mean/std, and byte-identical output
# whatever -j.  Expected values come from numpy/PIL (independent of lib/image).
. "$(dirname "$0")/lib.sh"

PREP=$DL_BIN/dl-prep
PY=/usr/bin/python3
export OMP_WAIT_POLICY=PASSIVE NO_COLOR=1
FX=$TEST_TMP/fx
$PY "$DL_ROOT/tests/fixtures/mkdatasets.py" folder "$FX/folder" >"$TEST_TMP/gen.log" 2>&1 ||
	echo failed >"$TEST_TMP/gen-failed"
IM=$FX/folder/src/images
E=$FX/folder/expect
CHK="$PY $DL_ROOT/tests/fixtures/checkds.py"
# py SCRIPT: runs python with the dataset reader (load) imported
py() { PYTHONPATH="$DL_ROOT/tests/fixtures" $PY -c "from checkds import load; import numpy as np, json, sys
$1"; }

test_case 'fixture generator ran' '[ ! -e "$TEST_TMP/gen-failed" ]'

test_case '--center-crop --size 6x6 on 8x6 images: the middle 6 columns, exact' '
	"$PREP" folder "$IM" --center-crop --size 6x6 -o d.st 2>/dev/null &&
	py "t,_ = load(\"d.st\"); e = np.load(\"$E/images.npy\")[:, :, 1:7]
assert t[\"images\"].shape == e.shape and (t[\"images\"] == e).all(), \"crop differs\""
'

test_case '--size 3x4 halves 6x8: 2x2 block means (within 1 level)' '
	"$PREP" folder "$IM" --size 3x4 -o d.st 2>/dev/null &&
	py "t,_ = load(\"d.st\"); e = np.load(\"$E/images.npy\").astype(float)
m = e.reshape(9, 3, 2, 4, 2, 3).mean(axis=(2, 4))
d = np.abs(t[\"images\"].astype(float) - m).max()
assert t[\"images\"].shape == (9, 3, 4, 3), t[\"images\"].shape
assert d <= 1.0, d"
'

test_case '--channels 1: RGB to gray as PIL (within 1 level); --channels 3 on gray replicates' '
	"$PREP" folder "$IM" --channels 1 -o g.st 2>/dev/null &&
	py "from PIL import Image
t,_ = load(\"g.st\"); e = np.load(\"$E/images.npy\")
L = np.stack([np.asarray(Image.fromarray(a).convert(\"L\")) for a in e])[..., None]
assert t[\"images\"].shape == L.shape, t[\"images\"].shape
assert np.abs(t[\"images\"].astype(int) - L).max() <= 1" &&
	mkdir -p gray/a && py "from PIL import Image
Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4) * 20).save(\"gray/a/0.png\")" &&
	"$PREP" folder gray --channels 3 -o c.st 2>/dev/null &&
	py "t,_ = load(\"c.st\"); a = t[\"images\"]; g = (np.arange(12).reshape(3, 4) * 20)
assert a.shape == (1, 3, 4, 3) and all((a[0, :, :, k] == g).all() for k in range(3))"
'

test_case 'dl.mean / dl.std are the per-channel statistics of pixel/255' '
	"$PREP" folder "$IM" -o d.st 2>/dev/null &&
	py "t,m = load(\"d.st\"); x = t[\"images\"].reshape(-1, 3) / 255.0
assert np.allclose(json.loads(m[\"dl.mean\"]), x.mean(0), atol=2e-6)
assert np.allclose(json.loads(m[\"dl.std\"]), x.std(0), atol=2e-6)"
'

test_case '--shuffle --seed: same samples (labels follow images), other order; same seed = same bytes' '
	"$PREP" folder "$IM" -o a.st 2>/dev/null &&
	"$PREP" folder "$IM" --shuffle --seed 3 -o s1.st 2>/dev/null &&
	"$PREP" folder "$IM" --shuffle --seed 3 -o s2.st 2>/dev/null &&
	"$PREP" folder "$IM" --shuffle --seed 4 -o s3.st 2>/dev/null &&
	cmp s1.st s2.st && ! cmp -s s1.st s3.st &&
	py "a,_ = load(\"a.st\"); s,_ = load(\"s1.st\")
key = lambda t: sorted((im.tobytes(), int(l)) for im, l in zip(t[\"images\"], t[\"labels\"]))
assert key(a) == key(s), \"not the same samples\"
assert not (a[\"labels\"] == s[\"labels\"]).all() or not (a[\"images\"] == s[\"images\"]).all()"
'

test_case 'the split is stratified: --val-fraction 0.34 of 3x3 takes one image of each class' '
	"$PREP" folder "$IM" --val-fraction 0.34 --val-out v.st -o t.st 2>/dev/null &&
	"$PREP" info v.st | grep -q "^class histogram: 0:1 1:1 2:1$" &&
	"$PREP" info t.st | grep -q "^class histogram: 0:2 1:2 2:2$" &&
	py "a,_ = load(\"v.st\"); b,_ = load(\"t.st\"); e = np.load(\"$E/images.npy\")
got = sorted(x.tobytes() for x in np.concatenate([a[\"images\"], b[\"images\"]]))
assert got == sorted(x.tobytes() for x in e), \"split lost or duplicated samples\""
'

test_case '--limit N and --per-class N (first in source order)' '
	"$PREP" folder "$IM" --limit 4 -o l.st 2>/dev/null &&
	py "np.save(\"l4.npy\", np.load(\"$E/images.npy\")[:4]); np.save(\"p1.npy\", np.load(\"$E/images.npy\")[::3])" &&
	$CHK l.st images=l4.npy &&
	"$PREP" info l.st | grep -q "^class histogram: 0:3 1:1 2:0$" &&
	"$PREP" folder "$IM" --per-class 1 -o p.st 2>/dev/null &&
	$CHK p.st images=p1.npy
'

test_case 'output is byte-identical for -j1, -j2 and -j4 (300 images, resize, split, shuffle)' '
	py "from PIL import Image
import os
r = np.random.RandomState(5)
for i in range(300):
    d = \"many/c%d\" % (i % 7); os.makedirs(d, exist_ok=True)
    Image.fromarray(r.randint(0, 256, (12 + i % 5, 10 + i % 3, 3), dtype=np.uint8)).save(\"%s/%03d.png\" % (d, i))" &&
	for j in 1 2 4; do
		"$PREP" folder many --size 8x8 --shuffle --val-fraction 0.2 --val-out v$j.st -j $j -o t$j.st 2>/dev/null || exit 1
	done &&
	cmp t1.st t2.st && cmp t1.st t4.st && cmp v1.st v2.st && cmp v1.st v4.st &&
	"$PREP" info t1.st | grep -Eq "images +U8 +\[240, 8, 8, 3\]"
'

test_done
