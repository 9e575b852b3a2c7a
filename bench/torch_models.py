"""PyTorch modules built from our model specs (models/*.spec), for the
bench-cpu peer of the larger built-in models (vgg16, resnet18, ...).

  build_spec_model(path_or_text) -> SpecModule (an nn.Module)

The spec is parsed by tests/torch/spec_torch.py (imported by path, the same
parser the forward-comparison tests use); each layer becomes the ordinary
torch.nn module (Conv2d, BatchNorm2d, Linear, MaxPool2d, Dropout, ...) in
PyTorch's default NCHW layout, so PyTorch runs its own usual kernels.
Layers with from= (residual adds, concat) read the named outputs.  Only the
architecture matches ours (layer kinds, shapes, parameter counts); weights
use PyTorch's default initialisation and flatten is NCHW order, which does
not change the cost.

  python3 bench/torch_models.py models/vgg16.spec   prints the parameter count
"""
import importlib.util
import os
import sys

import torch
from torch import nn

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)


def _spec_torch():
    path = os.path.join(_ROOT, "tests", "torch", "spec_torch.py")
    spec = importlib.util.spec_from_file_location("spec_torch", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def spec_path(name):
    """A built-in model name (models/NAME.spec) or a path to a .spec file."""
    if os.path.exists(name):
        return name
    p = os.path.join(_ROOT, "models", name + ".spec")
    if os.path.exists(p):
        return p
    raise ValueError(f"no model spec {name!r} (looked for {p})")


def _conv_pad(o, k):
    pad = o.get("pad", "valid")
    return k // 2 if pad == "same" else 0 if pad == "valid" else int(pad)


class SpecModule(nn.Module):
    def __init__(self, text):
        super().__init__()
        lines = _spec_torch().parse(text)
        if not lines or lines[0][1] != "input":
            raise ValueError("spec: first line must be 'input h= w= c='")
        h, w, c = (int(lines[0][2][k]) for k in "hwc")
        self.input_shape = (c, h, w)          # NCHW without N
        shapes = []                           # per layer output (c, h, w) or (features,)
        names = {}
        self.inputs = []                      # per layer: indices of its inputs (-1 = input)
        mods = []
        for no, kind, o in lines[1:]:
            if kind == "loss":
                continue
            idx = len(mods)
            if "from" in o:
                ins = [-1 if r == "input" else names[r] for r in o["from"].split(",")]
            else:
                ins = [idx - 1]
            if "name" in o:
                names[o["name"]] = idx
            s = [self.input_shape if j < 0 else shapes[j] for j in ins]
            m, out = self._layer(no, kind, o, s)
            mods.append(m)
            shapes.append(out)
            self.inputs.append(ins)
        self.layers = nn.ModuleList(mods)
        self.output_shape = shapes[-1]

    @staticmethod
    def _layer(no, kind, o, s):
        a = s[0]
        if kind == "conv2d":
            k = int(o["size"])
            st, pad = int(o.get("stride", 1)), _conv_pad(o, k)
            dil, g = int(o.get("dilation", 1)), int(o.get("groups", 1))
            f = int(o["filters"])
            m = nn.Conv2d(a[0], f, k, st, pad, dil, g, bias=o.get("bias", "1") != "0")
            ho = (a[1] + 2 * pad - dil * (k - 1) - 1) // st + 1
            wo = (a[2] + 2 * pad - dil * (k - 1) - 1) // st + 1
            return m, (f, ho, wo)
        if kind == "dense":
            n = 1
            for d in a:
                n *= d
            u = int(o["units"])
            return nn.Linear(n, u, bias=o.get("bias", "1") != "0"), (u,)
        if kind == "batchnorm":
            mom, eps = float(o.get("momentum", 0.1)), float(o.get("eps", 1e-5))
            bn = nn.BatchNorm2d if len(a) == 3 else nn.BatchNorm1d
            return bn(a[0], eps=eps, momentum=mom), a
        if kind in ("maxpool", "avgpool"):
            k = int(o.get("size", 2))
            st, pad = int(o.get("stride", k)), int(o.get("pad", 0))
            m = nn.MaxPool2d(k, st, pad) if kind == "maxpool" else nn.AvgPool2d(k, st, pad)
            return m, (a[0], (a[1] + 2 * pad - k) // st + 1, (a[2] + 2 * pad - k) // st + 1)
        if kind == "gap":
            return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), (a[0],)
        if kind == "flatten":
            n = 1
            for d in a:
                n *= d
            return nn.Flatten(), (n,)
        if kind == "dropout":
            return nn.Dropout(float(o.get("p", 0.5))), a
        simple = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}
        if kind in simple:
            return simple[kind](), a
        if kind == "leaky_relu":
            return nn.LeakyReLU(float(o.get("slope", 0.01))), a
        if kind == "add":
            return Add(), a
        if kind == "concat":
            return Concat(), (sum(x[0] for x in s),) + tuple(a[1:])
        raise ValueError(f"spec line {no}: no torch module for layer '{kind}'")

    def forward(self, x):
        outs = []
        for m, ins in zip(self.layers, self.inputs):
            xs = [x if j < 0 else outs[j] for j in ins]
            outs.append(m(*xs))
        return outs[-1]


class Add(nn.Module):
    def forward(self, *xs):
        y = xs[0]
        for t in xs[1:]:
            y = y + t
        return y


class Concat(nn.Module):
    def forward(self, *xs):
        return torch.cat(xs, dim=1)


def build_spec_model(name):
    """nn.Module for a built-in model name or .spec path."""
    with open(spec_path(name)) as f:
        return SpecModule(f.read())


def count_params(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(arg, count_params(build_spec_model(arg)))
