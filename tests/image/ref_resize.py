#!/usr/bin/python3
"""Expected results of dl_image_resize / dl_image_convert from PIL.

    ref_resize.py OUTDIR

Writes random 8-bit images (seeded) and what PIL makes of them, one line
per case in OUTDIR/list.tsv:
    op  src.raw  w  h  c  out_w  out_h  expected.raw  tolerance
op: "resize" or "gray" (RGB -> L).  Cases:
  - shrinking by integer factors: PIL Image.reduce (a box average), tol 1
  - shrinking by other factors: an exact area average computed here in
    float64 (overlap-weight matrices), tol 1.  Not PIL's Image.BOX: PIL
    samples its box kernel at pixel centres, so an input pixel counts fully
    or not at all and fractional coverage is lost (differences up to ~30
    levels on noise)
  - enlarging: PIL resize with Image.BILINEAR, tol 1 (PIL's fixed-point
    weights against our float ones).  Bilinear is compared only for
    enlarging: PIL widens its kernel when shrinking, we area-average.
  - RGB -> gray: PIL convert("L"), tol 0
tests/unit/test_image_ref.c runs ours on each case and compares.
"""
import os
import sys

import numpy as np
from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(11)
rows = []


def case(op, src, exp, tol):
    n = len(rows)
    src = np.ascontiguousarray(src, dtype=np.uint8)
    exp = np.ascontiguousarray(exp, dtype=np.uint8)
    if src.ndim == 2:
        src = src[:, :, None]
    if exp.ndim == 2:
        exp = exp[:, :, None]
    src.tofile(os.path.join(out, "s%d.raw" % n))
    exp.tofile(os.path.join(out, "e%d.raw" % n))
    h, w, c = src.shape
    rows.append("%s\ts%d.raw\t%d\t%d\t%d\t%d\t%d\te%d.raw\t%d" % (op, n, w, h, c, exp.shape[1], exp.shape[0], n, tol))


def image(h, w, c, smooth):
    a = rng.integers(0, 256, (h, w, c)).astype(np.float64)
    if smooth:   # a photo-like image: noise plus gradients
        yy, xx = np.mgrid[0:h, 0:w]
        a = 0.3 * a + 0.7 * (127 + 120 * np.sin(xx / 7.0 + yy / 11.0))[:, :, None]
    a = np.clip(a, 0, 255).astype(np.uint8)
    return a[:, :, 0] if c == 1 else a


def area_matrix(n_in, n_out):
    """W[i, j] = |[j, j+1) & [i*s, (i+1)*s)| / s, s = n_in / n_out."""
    s = n_in / n_out
    w = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = i * s, (i + 1) * s
        for j in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
            w[i, j] = (min(j + 1, hi) - max(j, lo)) / s
    return w


def area(a, oh, ow):
    a3 = a[:, :, None] if a.ndim == 2 else a
    wy, wx = area_matrix(a3.shape[0], oh), area_matrix(a3.shape[1], ow)
    r = np.einsum("ij,jkc,lk->ilc", wy, a3.astype(np.float64), wx)
    r = np.clip(np.floor(r + 0.5), 0, 255).astype(np.uint8)
    return r[:, :, 0] if a.ndim == 2 else r


def pil(a):
    return Image.fromarray(a, mode="L" if a.ndim == 2 else "RGB")


for c in (1, 3):
    for (h, w, fy, fx) in [(64, 64, 2, 2), (60, 90, 3, 3), (64, 48, 4, 2), (35, 49, 5, 7), (32, 32, 32, 32)]:
        a = image(h, w, c, c == 3)
        case("resize", a, np.array(pil(a).reduce((fx, fy))), 1)
    for (h, w, oh, ow) in [(100, 77, 32, 32), (256, 200, 31, 45), (50, 50, 49, 17)]:
        a = image(h, w, c, True)
        case("resize", a, area(a, oh, ow), 1)
    for (h, w, oh, ow) in [(8, 8, 32, 32), (28, 28, 96, 96), (13, 17, 50, 41), (5, 9, 5, 20)]:
        a = image(h, w, c, False)
        case("resize", a, np.array(pil(a).resize((ow, oh), Image.BILINEAR)), 1)
a = image(31, 23, 3, False)
case("gray", a, np.array(pil(a).convert("L")), 0)

with open(os.path.join(out, "list.tsv"), "w") as f:
    f.write("\n".join(rows) + "\n")
print("ref_resize: %d cases" % len(rows))
