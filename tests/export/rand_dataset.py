#!/usr/bin/python3
"""Writes a small dl-tools dataset of random u8 images, for export tests.

  rand_dataset.py OUT.safetensors N H W C CLASSES [SEED]

CLASSES > 0: tensor `labels` I32 [N] uniform in [0, CLASSES); CLASSES = 0:
regression, tensor `targets` F32 [N, 1] (and `labels` all 0, which dl-train
reads too).
Also writes OUT's images alone as raw bytes to OUT.u8 (N*H*W*C bytes, HWC).
"""
import json
import struct
import sys

import numpy as np


def main(argv):
    if len(argv) not in (6, 7):
        print(__doc__)
        return 2
    out = argv[0]
    n, h, w, c, k = (int(a) for a in argv[1:6])
    r = np.random.default_rng(int(argv[6]) if len(argv) == 7 else 1)
    tensors = {"images": r.integers(0, 256, size=(n, h, w, c), dtype=np.uint8)}
    meta = {"dl.format": "dl-tools dataset 1"}
    if k > 0:
        tensors["labels"] = r.integers(0, k, size=n, dtype=np.int32)
        meta["dl.classes"] = json.dumps([f"c{i}" for i in range(k)])
    else:
        tensors["labels"] = np.zeros(n, np.int32)
        tensors["targets"] = r.uniform(-1, 1, size=(n, 1)).astype(np.float32)
        meta["dl.targets"] = json.dumps(["y"])
    header, off, blobs = {}, 0, []
    for name, t in tensors.items():
        dt = {np.uint8: "U8", np.int32: "I32", np.float32: "F32"}[t.dtype.type]
        b = t.tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    header["__metadata__"] = meta
    hb = json.dumps(header).encode()
    hb += b" " * (-len(hb) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))
    with open(out + ".u8", "wb") as f:
        f.write(tensors["images"].tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
