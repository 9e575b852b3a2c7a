"""Our model spec text run by PyTorch, for the forward comparisons.

SpecNet(spec_text) parses the spec as lib/nn/model.c does (name=, from=,
one layer per line, `#` comments, the optional last `loss` line) and runs
each layer with torch.nn.functional in NCHW.  Parameters come in our
layouts (conv [k, kh, kw, c/groups], dense [out, in] with `in` in NHWC
order), so flatten produces NHWC order (permute before reshape) and dense
weights are used unchanged.  Dropout in training mode applies our mask:
the counter hash of lib/backend/backend.h (splitmix64), seeded with
hash(run_seed ^ layer_index, step), over the NHWC element index.
"""
import numpy as np
import torch
import torch.nn.functional as F

M64 = (1 << 64) - 1


def hash_u64(seed, i):
    """dl_hash_u64 over numpy uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (i + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hash_scalar(seed, i):
    return int(hash_u64(np.uint64(seed), np.uint64(i)))


def parse(text):
    lines = []
    for no, raw in enumerate(text.split("\n"), 1):
        s = raw.split("#", 1)[0].strip()
        if not s:
            continue
        tok = s.split()
        opts = dict(t.split("=", 1) for t in tok[1:])
        lines.append((no, tok[0], opts))
    return lines


class SpecNet:
    def __init__(self, text):
        lines = parse(text)
        assert lines[0][1] == "input"
        self.input = tuple(int(lines[0][2][k]) for k in "hwc")
        self.layers = []   # (kind, opts, [input indices])
        names = {}
        for no, kind, opts in lines[1:]:
            if kind == "loss":
                continue
            idx = len(self.layers)
            if "from" in opts:
                ins = [-1 if r == "input" else names[r] for r in opts["from"].split(",")]
            else:
                ins = [idx - 1]
            if "name" in opts:
                names[opts["name"]] = idx
            self.layers.append((kind, opts, ins))

    def run(self, x, params, buffers, training, run_seed=0, step=0):
        """x NCHW tensor; params/buffers: per layer lists of tensors (ours).
        Updates the buffers in place when training (as PyTorch does)."""
        outs = []
        for i, (kind, o, ins) in enumerate(self.layers):
            xs = [x if j < 0 else outs[j] for j in ins]
            a = xs[0]
            p = params[i]
            if kind == "conv2d":
                k = int(o["size"])
                pad = o.get("pad", "valid")
                pad = int(o.get("dilation", 1)) * (k // 2) if pad == "same" else 0 if pad == "valid" else int(pad)
                w = p[0].permute(0, 3, 1, 2)
                y = F.conv2d(a, w, p[1] if len(p) > 1 else None, stride=int(o.get("stride", 1)),
                             padding=pad, dilation=int(o.get("dilation", 1)),
                             groups=int(o.get("groups", 1)))
            elif kind == "dense":
                y = a.reshape(a.shape[0], -1) @ p[0].t()
                if len(p) > 1:
                    y = y + p[1]
            elif kind == "relu":
                y = F.relu(a)
            elif kind == "maxpool":
                k = int(o.get("size", 2))
                y = F.max_pool2d(a, k, int(o.get("stride", k)))
            elif kind == "avgpool":
                k = int(o.get("size", 2))
                y = F.avg_pool2d(a, k, int(o.get("stride", k)), int(o.get("pad", 0)))
            elif kind == "gap":
                y = a.mean(dim=(2, 3))
            elif kind in ("tanh", "sigmoid"):
                y = getattr(torch, kind)(a)
            elif kind == "gelu":
                y = F.gelu(a)
            elif kind == "hardswish":
                y = F.hardswish(a)
            elif kind == "leaky_relu":
                y = F.leaky_relu(a, float(o.get("slope", 0.01)))
            elif kind == "flatten":
                y = a.permute(0, 2, 3, 1).reshape(a.shape[0], -1) if a.dim() == 4 else a
            elif kind == "batchnorm":
                b = buffers[i]
                y = F.batch_norm(a if a.dim() == 4 else a.reshape(a.shape[0], -1), b[0], b[1],
                                 p[0], p[1], training, float(o.get("momentum", 0.1)),
                                 float(o.get("eps", 1e-5)))
            elif kind == "dropout":
                pr = float(o.get("p", 0.5))
                if training and pr > 0:
                    nhwc = a.permute(0, 2, 3, 1) if a.dim() == 4 else a
                    seed = hash_scalar(np.uint64(run_seed) ^ np.uint64(i), step)
                    idx = np.arange(nhwc.numel(), dtype=np.uint64)
                    u = (hash_u64(np.uint64(seed), idx) >> np.uint64(40)).astype(np.float32)
                    u = u * np.float32(1.0 / 16777216.0)
                    keep = torch.from_numpy(u >= np.float32(pr)).reshape(nhwc.shape)
                    scale = np.float32(1.0) / (np.float32(1.0) - np.float32(pr))
                    y = torch.where(keep, nhwc * float(scale), torch.zeros_like(nhwc))
                    y = y.permute(0, 3, 1, 2) if a.dim() == 4 else y
                else:
                    y = a
            elif kind == "add":
                y = xs[0]
                for t in xs[1:]:
                    y = y + t
            elif kind == "concat":
                y = torch.cat(xs, dim=1)
            else:
                raise ValueError(f"spec_torch: no torch equivalent for layer '{kind}'")
            outs.append(y)
        return outs[-1].reshape(outs[-1].shape[0], -1)
