#!/usr/bin/python3
"""Loads a `dl-export --format safetensors` file into PyTorch and compares its
outputs with dl-eval's.

  check_safetensors.py EXPORT.safetensors DATA.safetensors LOGITS.safetensors

Plain chains (metadata dl.torch_layers present): the torch.nn.Sequential
is built from that JSON data by torch_layers.sequential (no eval) and
load_state_dict(strict=True) must accept the tensors as they are
(PyTorch's names and layouts).  Graph models (no dl.torch_layers): the
tensors "<layer>.<name>" are mapped back to our layouts (conv weights
[k, c, kh, kw] -> [k, kh, kw, c]) and run by tests/torch/spec_torch.SpecNet
from the dl.model spec.  Both in evaluation mode, on DATA's images
preprocessed as dl.input says.  Pass: max |torch - ours| <= 1e-4 *
max(1, max |ours|).  Exit 0 ok, 1 mismatch, 2 usage/format error.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
sys.path.insert(0, os.path.join(HERE, "..", "torch"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import stio  # noqa: E402
from spec_torch import SpecNet  # noqa: E402
import torch_layers  # noqa: E402  (tests/export/torch_layers.py)


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    torch.set_num_threads(1)
    tensors, meta = stio.load(argv[0])
    t, _ = stio.load(argv[1])
    ours = stio.load(argv[2])[0]["logits"].astype(np.float64)
    inp = json.loads(meta["dl.input"])
    img = t["images"].astype(np.float32)
    x = (img * np.float32(inp["scale"]) - np.array(inp["mean"], np.float32)) / np.array(inp["std"], np.float32)
    x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    if "dl.torch_layers" in meta:
        model = torch_layers.sequential(json.loads(meta["dl.torch_layers"]))
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()},
                              strict=True)
        model.eval()
        how = "torch.nn.Sequential + load_state_dict(strict=True)"
        with torch.no_grad():
            ref = model(x)
    else:
        net = SpecNet(meta["dl.model"])
        params, bufs, used = [], [], set()
        for i, (kind, _, _) in enumerate(net.layers):
            p, b = [], []
            for name in ("weight", "bias"):
                k = f"{i}.{name}"
                if k in tensors:
                    v = torch.from_numpy(np.array(tensors[k]))
                    if kind == "conv2d" and name == "weight":
                        v = v.permute(0, 2, 3, 1).contiguous()
                    p.append(v)
                    used.add(k)
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                k = f"{i}.{name}"
                if k in tensors:
                    if name != "num_batches_tracked":
                        b.append(torch.from_numpy(np.array(tensors[k])))
                    used.add(k)
            params.append(p)
            bufs.append(b)
        if used != set(tensors):
            print(f"check_safetensors: FAIL: tensors not of the form <layer>.<name>: "
                  f"{sorted(set(tensors) - used)[:5]}")
            return 1
        how = "spec_torch.SpecNet on '<layer>.<name>' tensors"
        with torch.no_grad():
            ref = net.run(x, params, bufs, training=False)
    ref = ref.reshape(ref.shape[0], -1).numpy().astype(np.float64)
    if ref.shape != ours.shape:
        print(f"check_safetensors: FAIL: torch gives {ref.shape}, ours {ours.shape}")
        return 1
    diff = float(np.abs(ref - ours).max())
    bound = 1e-4 * max(1.0, float(np.abs(ours).max()))
    ok = diff <= bound and np.all(np.isfinite(ref))
    print(f"check_safetensors: {'ok' if ok else 'FAIL'}: {how}: {ours.shape[0]} x {ours.shape[1]}, "
          f"max |torch - ours| {diff:.3g} (bound {bound:.3g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
