"""PIL peer for bench/bench-prep: the same files, read into memory first,
then per file Image.open(BytesIO).convert("RGB").resize((S, S), Image.BOX)
(BOX: PIL's area-style filter, closest to our area averaging), one thread.
Best of REPEATS passes.  Also makes the image folder (gen mode).

    bench_prep_pil.py gen DIR N_PNG N_JPEG     (64..256 px a side, seeded)
    bench_prep_pil.py run LIST SIZE REPEATS
"""
import io
import os
import sys
import time

import numpy as np
from PIL import Image


def gen(d, npng, njpg):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(npng + njpg):
        w, h = rng.integers(64, 257, 2)
        yy, xx = np.mgrid[0:h, 0:w]
        base = 127 + 100 * np.sin(xx / rng.uniform(4, 20) + yy / rng.uniform(4, 20))
        a = base[:, :, None] + rng.normal(0, 20, (h, w, 3)) + rng.uniform(-40, 40, 3)
        im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
        if i < npng:
            im.save(os.path.join(d, "img%05d.png" % i))
        else:
            im.save(os.path.join(d, "img%05d.jpg" % i), quality=90)


def run(lst, size, reps):
    blobs = []
    for p in open(lst).read().split("\n"):
        if p:
            with open(p, "rb") as f:
                blobs.append(f.read())
    best = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        for b in blobs:
            Image.open(io.BytesIO(b)).convert("RGB").resize((size, size), Image.BOX)
        best = min(best, time.perf_counter() - t0)
    print("images %d seconds %.4f images_per_s %.1f" % (len(blobs), best, len(blobs) / best))


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
