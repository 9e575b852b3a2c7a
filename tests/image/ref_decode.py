#!/usr/bin/python3
"""Expected pixels for the image decoders, from an independent decoder (PIL).

    ref_decode.py OUTDIR

Collects real images shipped by Debian packages under /usr/share (one PNG
of each colour type / bit depth / interlace / tRNS kind found, JPEGs if
any), generates the kinds no package ships (said in the `what` column),
and writes for each: OUTDIR/N.raw, the pixels our decoder must give
(8-bit HWC, the reduction documented in lib/image/png.c, jpeg.c, pnm.c),
and one line in OUTDIR/list.tsv:
    path  w  h  c  N.raw  tolerance  what
tests/unit/test_image_ref.c decodes each path and compares.

At least 4 shipped PNG kinds are required (else exit 1: the test fails).
Packages that CI always has provide 5: imagemagick-6.q16 (RGB and RGBA
16-bit icons), libpng-dev (interlaced RGBA pngtest.png), git (gitweb's
2-bit and 8-bit palette images); other packages add more when installed.
"""
import os
import subprocess
import sys

import warnings

import numpy as np
from PIL import Image

warnings.simplefilter("ignore")   # PIL's note on palette tRNS
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rows = []


def add(path, arr, tol, what):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    h, w, c = arr.shape
    n = len(rows)
    arr.tofile(os.path.join(out, "%d.raw" % n))
    rows.append("%s\t%d\t%d\t%d\t%d.raw\t%d\t%s" % (path, w, h, c, n, tol, what))


def png_expected(path):
    """PIL's reading, reduced as lib/image/png.c documents."""
    with open(path, "rb") as f:
        head = f.read(29)
    depth, ctype = head[24], head[25]
    im = Image.open(path)
    im.load()
    if ctype in (0, 4):   # gray, gray+alpha
        if depth == 16:
            a = np.array(im)
            if a.ndim == 3:
                a = a[:, :, 0]
            return (a.astype(np.uint32) >> 8).astype(np.uint8), depth, ctype
        return np.array(im.convert("L")), depth, ctype
    return np.array(im.convert("RGB")), depth, ctype


def png_kind(path):
    with open(path, "rb") as f:
        d = f.read(29)
    if d[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    with open(path, "rb") as f:
        data = f.read()
    trns = b"tRNS" in data[: data.find(b"IDAT")] if b"IDAT" in data else False
    w, h = int.from_bytes(d[16:20], "big"), int.from_bytes(d[20:24], "big")
    if w * h > 1 << 20:   # keep the test quick (also under ASan)
        return None
    return (d[25], d[24], d[28], trns)   # color type, depth, interlace, tRNS


# ---- PNGs shipped by Debian packages ---------------------------------------
found = {}
for root, dirs, files in sorted(os.walk("/usr/share")):
    dirs.sort()
    for fn in sorted(files):
        if not fn.endswith(".png"):
            continue
        p = os.path.join(root, fn)
        try:
            if os.path.islink(p) or os.path.getsize(p) > 300000:
                continue
            k = png_kind(p)
        except OSError:
            continue
        if k and k not in found:
            found[k] = p
shipped = 0
for k, p in sorted(found.items()):
    try:
        a, depth, ctype = png_expected(p)
    except Exception as e:   # PIL cannot read it: not a fair reference
        print("ref_decode: skipping %s: PIL: %s" % (p, e), file=sys.stderr)
        continue
    add(p, a, 0, "shipped PNG color type %d, %d-bit%s%s" %
        (k[0], k[1], ", interlaced" if k[2] else "", ", tRNS" if k[3] else ""))
    shipped += 1
if shipped < 4:
    sys.exit("ref_decode: only %d shipped PNG kinds found under /usr/share" % shipped)

# ---- PNG kinds generated here (PIL and ImageMagick write them) ---------------
rng = np.random.default_rng(7)
grad = np.add.outer(np.arange(37) * 1700, np.arange(53) * 500).astype(np.uint16)
g = os.path.join(out, "gen-gray16.png")
Image.fromarray(grad, mode="I;16").save(g)
add(g, (grad >> 8).astype(np.uint8), 0, "generated PNG gray 16-bit (PIL)")
rgb = rng.integers(0, 256, (29, 41, 3), dtype=np.uint8)
src = os.path.join(out, "gen-src.png")
Image.fromarray(rgb).save(src)
gens = [
    ("gen-pal-interlaced.png", ["-colors", "16", "-interlace", "PNG", "PNG8:%s"]),
    ("gen-gray-interlaced.png", ["-colorspace", "Gray", "-interlace", "PNG", "%s"]),
    ("gen-rgb-interlaced.png", ["-interlace", "PNG", "PNG24:%s"]),
    ("gen-gray2bit.png", ["-colorspace", "Gray", "-depth", "2", "%s"]),
]
for name, args in gens:
    p = os.path.join(out, name)
    args = [a % p if "%s" in a else a for a in args]
    subprocess.run(["convert", src] + args, check=True)
    a, depth, ctype = png_expected(p)
    add(p, a, 0, "generated PNG (ImageMagick) %s color type %d %d-bit" % (name, ctype, depth))
im = Image.fromarray(rgb[:, :, 0], mode="L")
p = os.path.join(out, "gen-gray-trns.png")
im.save(p, transparency=17)
add(p, rgb[:, :, 0], 0, "generated PNG gray with tRNS (PIL)")
p = os.path.join(out, "gen-rgb-trns.png")
Image.fromarray(rgb).save(p, transparency=(1, 2, 3))
add(p, rgb, 0, "generated PNG RGB with tRNS (PIL)")

# ---- JPEGs: shipped ones if any, and generated kinds -------------------------
jpgs = []
for root, dirs, files in sorted(os.walk("/usr/share")):
    dirs.sort()
    jpgs += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith((".jpg", ".jpeg"))]
for p in jpgs[:4]:
    im = Image.open(p)
    if im.mode not in ("L", "RGB"):
        continue
    add(p, np.array(im), 0, "shipped JPEG %s %dx%d" % (im.mode, im.size[0], im.size[1]))
photo = next((p for k, p in sorted(found.items()) if k[0] == 2 and k[1] == 8), src)
jgens = [
    ("gen-baseline420.jpg", []),
    ("gen-444.jpg", ["-sampling-factor", "1x1"]),
    ("gen-progressive.jpg", ["-interlace", "Plane"]),
    ("gen-gray.jpg", ["-colorspace", "Gray"]),
    ("gen-gray-progressive.jpg", ["-colorspace", "Gray", "-interlace", "Plane"]),
]
for name, args in jgens:
    p = os.path.join(out, name)
    subprocess.run(["convert", photo, "-quality", "85"] + args + [p], check=True)
    im = Image.open(p)
    add(p, np.array(im), 0, "generated JPEG (ImageMagick from %s) %s" % (photo, name))

# ---- PPM / PGM ---------------------------------------------------------------
p = os.path.join(out, "gen.ppm")
Image.fromarray(rgb).save(p)
add(p, rgb, 0, "generated P6 maxval 255 (PIL)")
p = os.path.join(out, "gen.pgm")
Image.fromarray(rgb[:, :, 1], mode="L").save(p)
add(p, rgb[:, :, 1], 0, "generated P5 maxval 255 (PIL)")


def pnm(name, magic, maxval, arr, comment=b""):
    h, w = arr.shape[:2]
    raw = arr.astype(">u2").tobytes() if maxval > 255 else arr.astype(np.uint8).tobytes()
    p = os.path.join(out, name)
    with open(p, "wb") as f:
        f.write(b"%s\n%s%d %d\n%d\n" % (magic, comment, w, h, maxval) + raw)
    # ours: round(v * 255 / maxval), halves up
    exp = (arr.astype(np.int64) * 255 * 2 + maxval) // (2 * maxval)
    pil = np.array(Image.open(p).convert("RGB" if magic == b"P6" else "L")) if maxval < 256 or magic == b"P6" else None
    if pil is not None and np.abs(pil.astype(int) - exp).max() > 1:
        sys.exit("ref_decode: %s: PIL and the formula differ by more than 1" % name)
    add(p, exp, 0, "generated %s maxval %d (by hand, checked against PIL within 1)" % (magic.decode(), maxval))


pnm("gen-max100.ppm", b"P6", 100, rng.integers(0, 101, (13, 17, 3)), b"# a comment\n")
pnm("gen-max1000.pgm", b"P5", 1000, rng.integers(0, 1001, (11, 19)))
pnm("gen-max65535.ppm", b"P6", 65535, rng.integers(0, 65536, (9, 7, 3)))
pnm("gen-max15.pgm", b"P5", 15, rng.integers(0, 16, (5, 6)))

with open(os.path.join(out, "list.tsv"), "w") as f:
    f.write("\n".join(rows) + "\n")
print("ref_decode: %d images (%d shipped PNG kinds, %d shipped JPEGs)" % (len(rows), shipped, min(len(jpgs), 4)))
