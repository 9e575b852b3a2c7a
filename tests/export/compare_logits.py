#!/usr/bin/python3
"""Compares raw float32 outputs of an exported model with dl-eval's.

  compare_logits.py OURS.safetensors OTHER.f32 [TOL]

OURS is `dl-eval CKPT DATA --logits OURS` (tensor 'logits' F32 [N, K]);
OTHER holds N*K little-endian float32 (e.g. the --format c model's outputs).
Pass: max |other - ours| <= TOL * max(1, max |ours|) (TOL default 1e-4) and the
same argmax on every row.  Exit 0 pass, 1 mismatch, 2 usage/format error.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import numpy as np  # noqa: E402
import stio  # noqa: E402


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__)
        return 2
    tol = float(argv[2]) if len(argv) == 3 else 1e-4
    ours = stio.load(argv[0])[0]["logits"].astype(np.float64)
    other = np.fromfile(argv[1], dtype="<f4").astype(np.float64)
    if other.size != ours.size:
        print(f"compare_logits: FAIL: {argv[1]} has {other.size} floats, expected {ours.size}")
        return 1
    other = other.reshape(ours.shape)
    diff = float(np.abs(other - ours).max()) if ours.size else 0.0
    bound = tol * max(1.0, float(np.abs(ours).max()) if ours.size else 0.0)
    same = int((other.argmax(1) == ours.argmax(1)).sum())
    ok = diff <= bound and same == ours.shape[0]
    print(f"compare_logits: {'ok' if ok else 'FAIL'}: {ours.shape[0]} samples x {ours.shape[1]}, "
          f"max diff {diff:.3g} (bound {bound:.3g}), argmax equal {same}/{ours.shape[0]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
