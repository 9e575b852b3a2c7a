#!/usr/bin/python3
"""Small synthetic datasets for the dl-train CLI tests (no downloads).

  make_train_fixture.py OUT.safetensors [--n N] [--hw S] [--seed S] [--regression]

Classification: 2 classes of S x S x 1 images, class 0 bright in the top
half, class 1 in the bottom (so a horizontal flip keeps the class), with noise; dl.classes, dl.mean, dl.std set.
--regression: the same images with `targets` F32 [N, 1] = the brightness
difference bottom minus top (a learnable steering-like value), no labels.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import numpy as np  # noqa: E402

import stio  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--hw", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--regression", action="store_true")
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    s = a.hw
    lab = rng.integers(0, 2, size=a.n).astype(np.int32)
    img = rng.integers(40, 120, size=(a.n, s, s, 1))
    top = (np.arange(s) < s // 2)[None, :, None, None]
    bright = np.where(lab[:, None, None, None] == 0, top, ~top)
    img = (img + 20 * bright).clip(0, 255).astype(np.uint8)
    x = img.astype(np.float64) / 255.0
    meta = {"dl.format": "dl-tools dataset 1", "dl.source": "tests/torch/make_train_fixture.py",
            "dl.mean": json.dumps([float(x.mean())]), "dl.std": json.dumps([float(x.std())])}
    tensors = {"images": img}
    if a.regression:
        t = x[:, s // 2:].mean(axis=(1, 2, 3)) - x[:, :s // 2].mean(axis=(1, 2, 3))
        tensors["targets"] = t.astype(np.float32).reshape(a.n, 1)
        meta["dl.targets"] = json.dumps(["steer"])
    else:
        tensors["labels"] = lab
        meta["dl.classes"] = json.dumps(["left", "right"])
    stio.save(a.out, tensors, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
