#!/usr/bin/python3
"""Checks a dl-export safetensors file against PyTorch.

  check_export.py MODEL EXPORT.safetensors TEST.safetensors LOGITS.safetensors

MODEL is perceptron|mlp|lenet.  Builds the equivalent torch.nn.Sequential,
load_state_dict(strict=True) from EXPORT (must succeed), runs it on the images
of TEST (NCHW, /255) and compares its logits with LOGITS (F32 [N,10], written
by `dl-eval CKPT TEST --logits LOGITS`):
  max |torch - ours| <= 1e-4 * max(1, max |logit|)   and   argmax equal everywhere.
Exit 0 on success, 1 on mismatch (with a diff report), 2 on usage/format errors.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import stio  # noqa: E402
from torch_train import build_model, to_tensors  # noqa: E402


def fail(msg, code=1):
    print(f"check_export: FAIL: {msg}")
    sys.exit(code)


def main(argv):
    if len(argv) != 4:
        print(__doc__)
        return 2
    model_name, export_path, test_path, logits_path = argv
    torch.set_num_threads(1)

    try:
        tensors, meta = stio.load(export_path)
    except (OSError, stio.FormatError) as e:
        fail(f"cannot read export: {e}", 2)
    print(f"export {export_path}: {len(tensors)} tensors: "
          + ", ".join(f"{k} {t.dtype} {list(t.shape)}" for k, t in sorted(tensors.items())))
    print(f"export metadata dl.input: {meta.get('dl.input', '(missing)')}")
    for k, t in tensors.items():
        if t.dtype != np.float32:
            fail(f"tensor {k!r} has dtype {t.dtype}, expected float32 (F32)")

    model = build_model(model_name)
    want = {k: list(v.shape) for k, v in model.state_dict().items()}
    got = {k: list(v.shape) for k, v in tensors.items()}
    if want != got:
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        shape = sorted(k for k in set(want) & set(got) if want[k] != got[k])
        print(f"state_dict names/shapes differ: missing {missing}, unexpected {extra}")
        for k in shape:
            print(f"  {k}: torch wants {want[k]}, export has {got[k]}")
    try:
        model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    except RuntimeError as e:
        fail(f"load_state_dict(strict=True) failed: {e}")
    print("load_state_dict(strict=True): ok")
    model.eval()

    try:
        images, labels, _ = stio.load_dataset(test_path)
        lt, _ = stio.load(logits_path)
    except (OSError, stio.FormatError) as e:
        fail(f"cannot read test data or logits: {e}", 2)
    x, y = to_tensors(images, labels)
    if len(lt) != 1 and "logits" not in lt:
        fail(f"logits file has tensors {sorted(lt)}; expected one tensor (or 'logits')", 2)
    name = "logits" if "logits" in lt else next(iter(lt))
    ours = lt[name]
    n = x.shape[0]
    if ours.dtype != np.float32 or list(ours.shape) != [n, 10]:
        fail(f"logits tensor {name!r} is {ours.dtype} {list(ours.shape)}, expected float32 [{n}, 10]")

    with torch.no_grad():
        ref = model(x).numpy().astype(np.float64)
    ours64 = ours.astype(np.float64)
    if not np.all(np.isfinite(ours64)):
        fail(f"dl-eval logits contain NaN/Inf ({int((~np.isfinite(ours64)).sum())} values)")
    diff = np.abs(ref - ours64)
    maxdiff = float(diff.max())
    scale = max(1.0, float(np.abs(ref).max()))
    tol = 1e-4 * scale
    a_ref = ref.argmax(1)
    a_our = ours64.argmax(1)
    mism = np.nonzero(a_ref != a_our)[0]
    acc_ref = float((a_ref == y.numpy()).mean())
    acc_our = float((a_our == y.numpy()).mean())
    summary = {"model": model_name, "n": int(n), "max_abs_diff": maxdiff, "tolerance": tol,
               "max_abs_logit": scale, "argmax_mismatches": int(mism.size),
               "torch_accuracy": acc_ref, "ours_accuracy": acc_our}
    print(json.dumps(summary))
    ok = True
    if maxdiff > tol:
        ok = False
        i, j = np.unravel_index(int(diff.argmax()), diff.shape)
        print(f"logits differ: max |torch - ours| = {maxdiff:.3g} > tolerance {tol:.3g} "
              f"at sample {i}, class {j} (torch {ref[i, j]:.6g}, ours {ours64[i, j]:.6g})")
        print(f"  samples over tolerance: {int((diff.max(1) > tol).sum())} of {n}; "
              f"mean |diff| {float(diff.mean()):.3g}")
        np.set_printoptions(linewidth=200)
        for k in [k for k in np.argsort(-diff.max(1))[:3] if diff[k].max() > tol]:
            print(f"  sample {k}: torch {np.array2string(ref[k], precision=4)}")
            print(f"  sample {k}: ours  {np.array2string(ours64[k], precision=4)}")
    if mism.size:
        ok = False
        print(f"argmax differs on {mism.size} of {n} samples; first: "
              + ", ".join(f"#{k}: torch {a_ref[k]} ours {a_our[k]}" for k in mism[:5]))
    if not ok:
        fail(f"{model_name}: export and dl-eval disagree")
    print(f"check_export: {model_name}: ok (max diff {maxdiff:.3g} <= {tol:.3g}, argmax equal on {n})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
