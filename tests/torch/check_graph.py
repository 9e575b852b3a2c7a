#!/usr/bin/python3
"""Compares our forward passes with PyTorch on a file written by
tests/unit/test_model_torch.c:

  check_graph.py CASE.safetensors

The file holds metadata `spec`, `seed`, `step`; tensors x [n,h,w,c],
p.L.J / b.L.J (layer L's parameter / buffer J, our layout, before any
step), and our results: y_eval (evaluation mode), y_train (training mode,
one step), rb.L.J (buffers after it), y_eval2 (evaluation mode with those
buffers).  Runs the same with spec_torch.SpecNet and checks
max |ours - torch| <= 1e-4 * max(1, max |torch|) for each.  Exit 0 ok,
1 mismatch, 2 usage.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import stio  # noqa: E402
from spec_torch import SpecNet  # noqa: E402


class TorchvisionNet:
    """A built-in model run by its torchvision equivalent (summary_totals):
    our parameters and buffers are copied into it in order (conv weights
    permuted to [k, c, kh, kw]); run() then has SpecNet's signature."""

    def __init__(self, name, spec_net):
        from summary_totals import MODELS
        self.model = MODELS[name][0]()
        self.spec = spec_net

    def run(self, x, params, buffers, training, run_seed=0, step=0):
        ours = [p for layer in params for p in layer]
        theirs = list(self.model.parameters())
        assert len(ours) == len(theirs), (len(ours), len(theirs))
        with torch.no_grad():
            for a, b in zip(ours, theirs):
                b.copy_(a.permute(0, 3, 1, 2) if a.dim() == 4 else a)
            bufs = [b for layer in buffers for b in layer]
            mine = [b for n, b in self.model.named_buffers() if "running_" in n]
            assert len(bufs) == len(mine)
            for a, b in zip(bufs, mine):
                b.copy_(a)
            self.model.train(training)
            y = self.model(x)
            for a, b in zip(bufs, mine):   # running stats back, as SpecNet does
                a.copy_(b)
        return y


def per_layer(t, prefix, nlayers):
    out = [[] for _ in range(nlayers)]
    for k in sorted(t):
        if k.startswith(prefix):
            li, j = (int(v) for v in k[len(prefix):].split("."))
            while len(out[li]) <= j:
                out[li].append(None)
            out[li][j] = torch.from_numpy(t[k].copy())
    return out


def close(name, ours, ref):
    ref = ref.detach().numpy().reshape(-1)
    ours = ours.reshape(-1)
    err = float(np.max(np.abs(ours - ref))) if ref.size else 0.0
    tol = 1e-4 * max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
    print(f"check_graph: {name}: max |ours - torch| = {err:.3g} (tolerance {tol:.3g})")
    return err <= tol


def main(argv):
    if len(argv) != 1:
        print(__doc__)
        return 2
    torch.set_num_threads(1)
    t, meta = stio.load(argv[0])
    net = SpecNet(meta["spec"])
    L = len(net.layers)
    if "torchvision" in meta:
        net = TorchvisionNet(meta["torchvision"], net)
    params = per_layer(t, "p.", L)
    bufs = per_layer(t, "b.", L)
    x = torch.from_numpy(t["x"].copy()).permute(0, 3, 1, 2)
    seed, step = int(meta["seed"]), int(meta["step"])
    ok = close("eval", t["y_eval"], net.run(x, params, bufs, False))
    ok &= close("train", t["y_train"], net.run(x, params, bufs, True, seed, step))
    after = per_layer(t, "rb.", L)
    for li in range(L):
        for j, b in enumerate(bufs[li]):
            ok &= close(f"layer {li} buffer {j} after a step", after[li][j].numpy(), b)
    ok &= close("eval after a step", t["y_eval2"], net.run(x, params, bufs, False))
    print("check_graph: " + ("ok" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
