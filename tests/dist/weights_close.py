#!/usr/bin/python3
"""Do two checkpoints hold the same weights up to float rounding?

  weights_close.py A.safetensors B.safetensors [--rtol 1e-5] [--skip SUBSTR]

For every tensor of B (parameters, batch-norm buffers, optimizer state),
A must have it with the same shape, and max |a - b| <= rtol * max |b| (a
per-tensor relative error; all zero tensors must be equal).  Prints the
worst tensor and its error; exit 0 when all are within rtol, 1 otherwise.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import numpy as np  # noqa: E402

import stio  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--rtol", type=float, default=1e-5)
    p.add_argument("--skip", action="append", default=[])
    o = p.parse_args()
    ta, _ = stio.load(o.a)
    tb, _ = stio.load(o.b)
    worst, worst_name, bad = 0.0, "", 0
    for name, b in tb.items():
        if any(s in name for s in o.skip):
            continue
        a = ta.get(name)
        if a is None or a.shape != b.shape:
            print(f"{name}: missing or shape differs in {o.a}")
            bad += 1
            continue
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        scale = float(np.max(np.abs(b64))) if b64.size else 0.0
        diff = float(np.max(np.abs(a64 - b64))) if b64.size else 0.0
        rel = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
        if not np.isfinite(rel) or rel > worst:
            worst, worst_name = rel, name
        if not rel <= o.rtol:
            bad += 1
    print(f"worst relative difference {worst:.3g} in {worst_name or '-'} "
          f"({len(tb)} tensors, rtol {o.rtol:g}, {bad} over)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
