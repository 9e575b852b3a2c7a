"""Minimal safetensors reader/writer (json + numpy) for the PyTorch peers.

torch 1.13 (Debian) has no safetensors module, so bench/torch_train.py and
tests/torch/check_export.py use this instead.  Layout: u64 little-endian
header length N, N bytes of JSON header
  {"name": {"dtype": ..., "shape": [...], "data_offsets": [b, e]},
   "__metadata__": {"key": "string", ...}}
then the data; offsets are relative to the start of the data.

Also: read_idx() for the Fashion-MNIST IDX (.gz) files, and
  python3 bench/stio.py idx IMAGES.gz LABELS.gz -o OUT.safetensors [--limit N]
  python3 bench/stio.py show FILE.safetensors
so fixtures can be made without the C tools.
"""
import gzip
import json
import struct
import sys

import numpy as np

DTYPES = {
    "U8": np.uint8, "I8": np.int8, "I16": np.int16, "U16": np.uint16,
    "I32": np.int32, "U32": np.uint32, "I64": np.int64, "U64": np.uint64,
    "F16": np.float16, "F32": np.float32, "F64": np.float64, "BOOL": np.bool_,
}
NAMES = {np.dtype(v).newbyteorder("<"): k for k, v in DTYPES.items()}

MAX_HEADER = 100 * 1024 * 1024


class FormatError(ValueError):
    pass


def load(path):
    """Returns (tensors: dict name -> numpy array (copy, little-endian), metadata: dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise FormatError(f"{path}: file too short for a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER or 8 + n > len(raw):
        raise FormatError(f"{path}: header length {n} out of bounds (file is {len(raw)} bytes)")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"{path}: bad JSON header: {e}")
    if not isinstance(header, dict):
        raise FormatError(f"{path}: header is not a JSON object")
    data = memoryview(raw)[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        dt = info.get("dtype")
        if dt not in DTYPES:
            raise FormatError(f"{path}: tensor {name!r}: unsupported dtype {dt!r}")
        shape = [int(s) for s in info["shape"]]
        b, e = (int(x) for x in info["data_offsets"])
        npdt = np.dtype(DTYPES[dt]).newbyteorder("<")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not (0 <= b <= e <= len(data)) or e - b != count * npdt.itemsize:
            raise FormatError(f"{path}: tensor {name!r}: offsets [{b},{e}] do not fit shape {shape} "
                              f"{dt} in {len(data)} data bytes")
        arr = np.frombuffer(data[b:e], dtype=npdt).reshape(shape)
        out[name] = arr.astype(npdt.newbyteorder("="), copy=True)
    return out, meta


def save(path, tensors, metadata=None):
    """tensors: dict name -> numpy array; metadata: dict str -> str."""
    header = {}
    blobs = []
    off = 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        le = arr.dtype.newbyteorder("<")
        if le not in NAMES:
            raise FormatError(f"tensor {name!r}: dtype {arr.dtype} not supported")
        b = arr.astype(le, copy=False).tobytes()
        header[name] = {"dtype": NAMES[le], "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)  # keep data 8-byte aligned, as upstream does
    tmp = f"{path}.tmp.py"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    import os
    os.replace(tmp, path)


def read_idx(path):
    """Reads an IDX file (optionally .gz) into a numpy array."""
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        raw = f.read()
    zero, dt, nd = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dt != 0x08:
        raise FormatError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def idx_dataset(images_gz, labels_gz, limit=None):
    x = read_idx(images_gz)
    y = read_idx(labels_gz).astype(np.int32)
    if limit:
        x, y = x[:limit], y[:limit]
    return x.reshape(x.shape[0], x.shape[1], x.shape[2], 1), y


def load_dataset(path):
    """Returns (images U8 [N,H,W,C], labels I32 [N], metadata)."""
    t, meta = load(path)
    if "images" not in t or "labels" not in t:
        raise FormatError(f"{path}: dataset needs 'images' and 'labels' tensors (has {sorted(t)})")
    x, y = t["images"], t["labels"]
    if x.dtype != np.uint8 or x.ndim != 4:
        raise FormatError(f"{path}: images must be U8 [N,H,W,C], got {x.dtype} {list(x.shape)}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise FormatError(f"{path}: labels shape {list(y.shape)} does not match {x.shape[0]} images")
    return x, y.astype(np.int64), meta


def _main(argv):
    import argparse
    p = argparse.ArgumentParser(prog="stio.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("idx", help="IDX gz pair -> dataset safetensors (fixtures)")
    a.add_argument("images")
    a.add_argument("labels")
    a.add_argument("-o", required=True)
    a.add_argument("--limit", type=int)
    s = sub.add_parser("show", help="print header of a safetensors file")
    s.add_argument("file")
    args = p.parse_args(argv)
    if args.cmd == "idx":
        x, y = idx_dataset(args.images, args.labels, args.limit)
        save(args.o, {"images": x, "labels": y}, {"source": "stio.py idx", "classes": "10"})
    else:
        t, meta = load(args.file)
        for k, v in t.items():
            print(f"{k}\t{NAMES[v.dtype.newbyteorder('<')]}\t{list(v.shape)}")
        for k, v in meta.items():
            print(f"meta {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
