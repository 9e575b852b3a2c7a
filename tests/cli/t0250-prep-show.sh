#!/bin/bash
# dl-prep show: the contact sheet decodes (PIL), has the documented size,
# is not blank, tile 0 holds image 0 scaled up (nearest), labels are drawn;
# --random is seeded; targets-only datasets; errors (exit 2/3/4, one line,
# no output file).  Datasets are made here with numpy (bench/stio.py).
. "$(dirname "$0")/lib.sh"

PREP=$DL_BIN/dl-prep
PY=/usr/bin/python3
export NO_COLOR=1 OMP_WAIT_POLICY=PASSIVE PYTHONPATH=$DL_ROOT/bench

# mkds OUT N H W C KIND: a random dataset; KIND labels|targets|both
mkds() {
	"$PY" - "$@" <<'PYEOF'
import json, sys
import numpy as np
import stio
out, n, h, w, c, kind = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
rng = np.random.default_rng(n * 1000 + h)
t = {"images": rng.integers(0, 256, (n, h, w, c), dtype=np.uint8)}
meta = {"dl.format": "dl-tools dataset 1"}
if kind in ("labels", "both"):
    t["labels"] = (np.arange(n) % 3).astype(np.int32)
    meta["dl.classes"] = json.dumps(["zero", "one", "Two/2"])
if kind in ("targets", "both"):
    t["targets"] = rng.normal(size=(n, 1)).astype(np.float32)
stio.save(out, t, meta)
PYEOF
}

# check_sheet PNG DATASET N S COLS BAND [first index]: size, not blank,
# tile 0 == image INDEX scaled S times, label band has text pixels
check_sheet() {
	"$PY" - "$@" <<'PYEOF'
import sys
import numpy as np
from PIL import Image
import stio
png, ds, n, s, cols, band = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
first = int(sys.argv[7]) if len(sys.argv) > 7 else 0
t, meta = stio.load(ds)
imgs = t["images"]
N, H, W, C = imgs.shape
im = Image.open(png)
a = np.array(im)
if a.ndim == 2:
    a = a[:, :, None]
rows = -(-n // cols)
tw, th = W * s, H * s
want = (2 + rows * (th + band + 2), 2 + cols * (tw + 2), C)
assert a.shape == want, "sheet %s, expected %s" % (a.shape, want)
assert im.mode == ("L" if C == 1 else "RGB"), im.mode
assert a.std() > 10, "blank sheet"
tile0 = a[2:2 + th, 2:2 + tw]
exp = np.kron(imgs[first], np.ones((s, s, 1), dtype=np.uint8))
assert np.array_equal(tile0, exp), "tile 0 is not image %d scaled x%d" % (first, s)
lab = a[2 + th:2 + th + band, 2:2 + tw]
assert (lab == 255).sum() >= 10, "no label text under tile 0"
# the last tile is there too, and the cell after it is background
k = n - 1
x, y = 2 + (k % cols) * (tw + 2), 2 + (k // cols) * (th + band + 2)
assert a[y:y + th, x:x + tw].std() > 10, "last tile empty"
print("sheet ok:", a.shape)
PYEOF
}

test_case 'dl-prep show --help exits 0 and names its options' '
	"$PREP" show --help >out &&
	grep -q -- "--random" out && grep -q -- "-o, --output" out
'

test_case 'gray 28x28 dataset: 16 tiles x3, 4 columns, tile 0 = image 0' '
	mkds ds.st 40 28 28 1 labels &&
	"$PREP" show ds.st -n 16 -o grid.png 2>err &&
	grep -q "16 images, 84x84 tiles (x3)" err &&
	check_sheet grid.png ds.st 16 3 4 18
'

test_case 'RGB 32x20 dataset with --scale 2 --cols 5, -n more than N' '
	mkds ds.st 7 20 32 3 both &&
	"$PREP" show ds.st -n 50 --scale 2 --cols 5 -o grid.png 2>err &&
	grep -q "7 images" err &&
	check_sheet grid.png ds.st 7 2 5 18
'

test_case 'the label under tile 0 is the class name, drawn at text scale 2 when it fits' '
	mkds ds.st 3 64 64 1 labels &&
	"$PREP" show ds.st -n 1 -o one.png &&
	check_sheet one.png ds.st 1 1 1 18 &&
	"$PY" -c "
import numpy as np; from PIL import Image
a = np.array(Image.open(\"one.png\"))
band = a[66:66 + 18, 2:66]
cols = np.where((band == 255).any(axis=0))[0]
# ZERO at scale 2: 4 glyphs, (4 * 6 - 1) * 2 = 46 pixels wide
assert cols.min() == 0 and cols.max() == 45, (cols.min(), cols.max())
"
'

test_case 'targets-only dataset: the target value is the label' '
	mkds ds.st 5 16 16 3 targets &&
	"$PREP" show ds.st -n 4 -o t.png &&
	check_sheet t.png ds.st 4 4 2 11
'

test_case '--random --seed: same seed same bytes, another seed differs, tiles are dataset images' '
	mkds ds.st 200 12 12 1 labels &&
	"$PREP" show ds.st -n 9 --random --seed 5 -o a.png &&
	"$PREP" show ds.st -n 9 --random --seed 5 -o b.png &&
	"$PREP" show ds.st -n 9 --random --seed 6 -o c.png &&
	cmp a.png b.png && ! cmp -s a.png c.png &&
	"$PY" -c "
import numpy as np; from PIL import Image; import stio
imgs = stio.load(\"ds.st\")[0][\"images\"]
a = np.array(Image.open(\"a.png\"))
t0 = a[2:2 + 72:6, 2:2 + 72:6]
hits = [i for i in range(len(imgs)) if np.array_equal(imgs[i][:, :, 0], t0)]
assert len(hits) == 1 and hits[0] != 0, hits
"
'

test_case 'usage errors exit 2: no -o, no FILE, -n 0' '
	mkds ds.st 3 8 8 1 labels &&
	test_expect_code 2 "$PREP" show ds.st 2>e1 &&
	grep -q "^dl-prep: show: -o PNG is required" e1 &&
	test_expect_code 2 "$PREP" show -o x.png 2>e2 &&
	test_expect_code 2 "$PREP" show ds.st -n 0 -o x.png 2>e3 &&
	[ ! -e x.png ]
'

test_case 'bad dataset exits 3 naming the file, missing file exits 4, no output left' '
	printf "not a tensor file at all" >bad.st &&
	test_expect_code 3 "$PREP" show bad.st -o x.png 2>e1 &&
	test_one_line e1 && grep -q "bad.st" e1 &&
	mkds four.st 3 8 8 2 labels 2>/dev/null; "$PY" -c "
import numpy as np, stio
stio.save(\"two.st\", {\"images\": np.zeros((2, 4, 4, 2), np.uint8)}, {})
" && test_expect_code 3 "$PREP" show two.st -o x.png 2>e2 &&
	test_one_line e2 && grep -q "two.st: images" e2 &&
	test_expect_code 4 "$PREP" show nosuch.st -o x.png 2>e3 &&
	test_one_line e3 && grep -q "nosuch.st" e3 &&
	[ ! -e x.png ] && ! compgen -G "x.png.tmp.*" >/dev/null
'

test_case 'an unwritable output exits 4' '
	mkds ds.st 3 8 8 1 labels &&
	test_expect_code 4 "$PREP" show ds.st -o no/such/dir/x.png 2>e &&
	test_one_line e
'

test_done
