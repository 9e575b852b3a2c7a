#!/usr/bin/python3
"""Checks layers and losses of dl-tools against PyTorch (float64 reference).

  check_layers.py FILE.safetensors

FILE is written by the unit test torch_reference_layers_losses
(tests/unit/test_layers2.c).  Metadata "cases" lists the case names.

Layer case NAME: NAME/x [N,H,W,C] input (NHWC), NAME/y output, NAME/dy the
output gradient, NAME/dx our input gradient, NAME/p<i> parameters in
PyTorch layout and NAME/g<i> our gradients of them; metadata NAME/torch is
the torch.nn module (Python text, `nn` = torch.nn) whose parameters() are
p0, p1, ... in order.

Loss case loss_xent_s01 / loss_mse / loss_huber_05: NAME/z logits or
predictions [N,K], NAME/t regression targets, NAME/labels, NAME/dz our
gradient of the batch-mean loss and NAME/stats our sums (dl_loss_apply).

Every comparison: max |ours - torch| <= 1e-4 * max(1, max |torch|)
(VERBOSE=1 prints each one).
Exit 0 when all agree, 1 on any mismatch (each one reported), 2 on usage
or format errors.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402,F401  (used by the module texts)

import stio  # noqa: E402

RTOL = 1e-4
failures = []


def compare(case, what, ours, ref):
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if ours.shape != ref.shape:
        failures.append(f"{case}: {what}: shape {ours.shape}, torch {ref.shape}")
        return
    err = float(np.max(np.abs(ours - ref))) if ours.size else 0.0
    scale = max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
    ok = err <= RTOL * scale
    if not ok or os.environ.get("VERBOSE"):
        print(f"  {case:18s} {what:8s} max err {err:.3e} (limit {RTOL * scale:.1e}) {'ok' if ok else 'FAIL'}")
    if not ok:
        failures.append(f"{case}: {what}: max |ours - torch| = {err:.3e} > {RTOL * scale:.1e}")


def nchw(a):
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).double()


def to_nhwc(t):
    a = t.detach().numpy()
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a.reshape(a.shape[0], 1, 1, -1)


def layer_case(name, T, meta):
    mod = eval(meta[f"{name}/torch"]).double()
    params = list(mod.parameters())
    with torch.no_grad():
        for i, p in enumerate(params):
            p.copy_(torch.from_numpy(T[f"{name}/p{i}"]).double())
    x = nchw(T[f"{name}/x"]).requires_grad_(True)
    y = mod(x)
    compare(name, "y", T[f"{name}/y"], to_nhwc(y))
    dy = T[f"{name}/dy"]
    dy_t = nchw(dy) if y.dim() == 4 else torch.from_numpy(dy.reshape(dy.shape[0], -1)).double()
    y.backward(dy_t)
    compare(name, "dx", T[f"{name}/dx"], to_nhwc(x.grad))
    for i, p in enumerate(params):
        compare(name, f"g{i}", T[f"{name}/g{i}"], p.grad.numpy())


def loss_case(name, T):
    z = torch.from_numpy(T[f"{name}/z"]).double().requires_grad_(True)
    n, k = z.shape
    st = T[f"{name}/stats"].astype(np.float64)
    if name.startswith("loss_xent"):
        lab = torch.from_numpy(T[f"{name}/labels"].astype(np.int64))
        loss = F.cross_entropy(z, lab, label_smoothing=0.1)
        compare(name, "loss", st[0] / n, loss.item())
        compare(name, "correct", st[1], float((z.argmax(1) == lab).sum()))
    else:
        t = torch.from_numpy(T[f"{name}/t"]).double()
        if name == "loss_mse":
            loss = F.mse_loss(z, t)
        else:
            e = (z - t).abs().detach()
            below, above = int((e < 0.5).sum()), int((e > 0.5).sum())
            if below < 3 or above < 3:
                failures.append(f"{name}: errors not on both sides of delta ({below} below, {above} above)")
            loss = F.huber_loss(z, t, delta=0.5)
        compare(name, "loss", st[0] / (n * k), loss.item())
        e = (z - t).detach()
        compare(name, "sum|e|", st[1], float(e.abs().sum()))
        compare(name, "sum e^2", st[2], float((e * e).sum()))
    loss.backward()
    compare(name, "dz", T[f"{name}/dz"], z.grad.numpy())


def main(argv):
    if len(argv) != 1:
        print(__doc__)
        return 2
    torch.set_num_threads(1)
    try:
        T, meta = stio.load(argv[0])
        cases = meta["cases"].split()
    except (OSError, ValueError, KeyError) as e:
        print(f"check_layers: {argv[0]}: {e}")
        return 2
    print(f"check_layers: torch {torch.__version__}, {len(cases)} cases")
    for name in cases:
        if name.startswith("loss_"):
            loss_case(name, T)
        else:
            layer_case(name, T, meta)
    for f in failures:
        print(f"check_layers: FAIL: {f}")
    print(f"check_layers: {len(cases)} cases, {len(failures)} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
