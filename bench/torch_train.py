#!/usr/bin/python3
"""PyTorch peer of dl-train: same models, same recipe, JSON out.

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_train.py -m lenet \
      --train bench/out/train.safetensors [--test bench/out/test.safetensors] \
      --epochs 1 --batch 128 --lr 1e-3 --optimizer adam --seed 1 --threads 2

Models: perceptron, mlp and lenet are written out by hand (state_dict names
match dl-export's, for --init); any other built-in model (vgg16, resnet18,
...) or .spec file is built from our spec by bench/torch_models.py with the
ordinary torch.nn modules in NCHW, PyTorch's default layout.

Datasets are safetensors (images U8 [N,H,W,C], labels I32 [N]) read with
bench/stio.py.  Input x = u8/255 in NCHW, no mean/std.  Loss is
nn.CrossEntropyLoss (mean over the batch).  The training set is shuffled every
epoch (torch.Generator seeded with --seed); the last partial batch is kept.

images_per_s counts training steps only (batch gather from the in-memory
float tensor + forward + backward + optimizer step), excluding the first
--warmup (default 5) steps; evaluation is not timed.

--steps N: benchmark mode: run --warmup steps, then time exactly N steps
(cycling through shuffled epochs as needed); train_loss is then the mean over
the timed steps.  Prints one JSON object on stdout; progress on stderr.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import dlrng  # noqa: E402
import stio  # noqa: E402
import torch_models  # noqa: E402

HAND_BUILT = ("perceptron", "mlp", "lenet")


def build_model(name):
    """The three built-in models; state_dict names match dl-export's."""
    if name == "perceptron":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(),
                             nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 20, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2450, 500), nn.ReLU(), nn.Linear(500, 10))
    # any other built-in model or .spec file: built from our spec (bench/torch_models.py)
    return torch_models.build_spec_model(name)


def input_shape(name, model):
    """(H, W, C) the model takes."""
    if name in HAND_BUILT:
        return (28, 28, 1)
    c, h, w = model.input_shape
    return (h, w, c)


def to_tensors(images_u8, labels):
    """U8 NHWC numpy -> float32 NCHW torch tensor scaled by 1/255, int64 labels."""
    x = torch.from_numpy(np.ascontiguousarray(images_u8.transpose(0, 3, 1, 2))).float().div_(255.0)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return x, y


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    model.eval()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    tot, correct = 0.0, 0
    for i in range(0, x.shape[0], batch):
        out = model(x[i:i + batch])
        tot += loss_fn(out, y[i:i + batch]).item()
        correct += (out.argmax(1) == y[i:i + batch]).sum().item()
    model.train()
    n = x.shape[0]
    return tot / n, correct / n


def train_flops_per_image(model, hwc):
    """Multiply-adds of conv and linear layers for one image, times 2 (a
    multiply-add is two flops) times 3 (forward, backward-data, backward-
    weights: the usual training estimate; the first layer's backward-data is
    counted although no one needs it)."""
    macs = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            macs[0] += out[0].numel() * k
        elif isinstance(mod, nn.Linear):
            macs[0] += mod.in_features * mod.out_features

    hs = [m.register_forward_hook(hook) for m in model.modules()
          if isinstance(m, (nn.Conv2d, nn.Linear))]
    was = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, hwc[2], hwc[0], hwc[1]))
    model.train(was)
    for h in hs:
        h.remove()
    return 6 * macs[0]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-m", "--model", required=True,
                   help="perceptron, mlp, lenet (hand-built, dl-export names), or any other "
                   "built-in model name / .spec file (built from the spec, bench/torch_models.py)")
    p.add_argument("--train", required=True, help="dataset safetensors")
    p.add_argument("--test", help="dataset safetensors for test_loss/test_accuracy")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="adam")
    p.add_argument("--momentum", type=float, default=0.0, help="SGD momentum")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, help="use only the first N training images")
    p.add_argument("--steps", type=int, help="benchmark mode: time exactly N steps after warm-up")
    p.add_argument("--warmup", type=int, default=5, help="untimed first steps (default 5)")
    p.add_argument("--save", help="write the trained state_dict as safetensors")
    p.add_argument("--order", choices=["torch", "dl-train"], default="torch",
                   help="sample order: torch.randperm (default) or exactly dl-train's (bench/dlrng.py)")
    p.add_argument("--init", help="initial state_dict (safetensors in PyTorch names/layouts, e.g. "
                   "dl-export of a dl-train --save-init checkpoint), so both sides start equal")
    p.add_argument("--autocast-bf16", action="store_true",
                   help="forward and loss under torch.autocast('cpu', dtype=torch.bfloat16): "
                   "PyTorch's bf16 mixed precision (fp32 weights and optimizer)")
    a = p.parse_args(argv)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)

    images, labels, _ = stio.load_dataset(a.train)
    if a.limit:
        images, labels = images[:a.limit], labels[:a.limit]
    try:
        model = build_model(a.model)
    except ValueError as e:
        sys.exit(f"torch_train: {e}")
    want = input_shape(a.model, model)
    if images.shape[1:] != want:
        sys.exit(f"torch_train: {a.train}: model {a.model} takes images [N,{want[0]},{want[1]},"
                 f"{want[2]}], got {list(images.shape)}")
    x, y = to_tensors(images, labels)
    n = x.shape[0]
    if a.init:
        tensors, _ = stio.load(a.init)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    if a.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(a.seed)
    model.train()

    orders = dlrng.epoch_orders(n, a.seed) if a.order == "dl-train" else None

    def batches():
        epoch = 0
        while True:
            epoch += 1
            if orders is not None:
                perm = torch.tensor(next(orders), dtype=torch.int64)
            else:
                perm = torch.randperm(n, generator=gen)
            for i in range(0, n, a.batch):
                yield epoch, perm[i:i + a.batch]

    if a.steps is not None:
        total_steps = a.warmup + a.steps
    else:
        total_steps = a.epochs * ((n + a.batch - 1) // a.batch)

    timed_s = 0.0
    timed_images = 0
    timed_steps = 0
    t_all = time.perf_counter()
    ep_loss, ep_n, cur_epoch = 0.0, 0, 1
    epoch_losses = []
    timed_loss, timed_n = 0.0, 0
    it = batches()
    for step in range(total_steps):
        epoch, idx = next(it)
        if epoch != cur_epoch:
            epoch_losses.append(ep_loss / max(ep_n, 1))
            print(f"torch_train: epoch {cur_epoch} loss {epoch_losses[-1]:.4f}", file=sys.stderr)
            ep_loss, ep_n, cur_epoch = 0.0, 0, epoch
        t0 = time.perf_counter()
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        if a.autocast_bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = loss_fn(model(xb), yb)
        else:
            loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        lv = loss.item()  # also a sync point, so the timing is honest
        t1 = time.perf_counter()
        bs = idx.shape[0]
        ep_loss += lv * bs
        ep_n += bs
        if step >= a.warmup:
            timed_s += t1 - t0
            timed_images += bs
            timed_steps += 1
            timed_loss += lv * bs
            timed_n += bs
    epoch_losses.append(ep_loss / max(ep_n, 1))
    seconds = time.perf_counter() - t_all

    res = {
        "model": a.model,
        "params": sum(p.numel() for p in model.parameters()),
        "images_per_s": (timed_images / timed_s) if timed_s > 0 else None,
        "seconds": seconds,
        "train_loss": (timed_loss / timed_n) if (a.steps is not None and timed_n) else epoch_losses[-1],
        "batch": a.batch, "threads": a.threads, "optimizer": a.optimizer, "lr": a.lr,
        "seed": a.seed, "train_images": n, "init": a.init, "order": a.order,
        "steps": total_steps, "warmup_steps": min(a.warmup, total_steps), "timed_steps": timed_steps,
        "timed_images": timed_images,
        "mode": f"steps={a.steps}" if a.steps is not None else f"epochs={a.epochs}",
        "torch": torch.__version__,
        "precision": "bf16-autocast" if a.autocast_bf16 else "fp32",
        "train_flops_per_image": train_flops_per_image(model, want),
    }
    if a.test:
        ti, tl, _ = stio.load_dataset(a.test)
        tx, ty = to_tensors(ti, tl)
        res["test_loss"], res["test_accuracy"] = evaluate(model, tx, ty)
        res["test_images"] = int(tx.shape[0])
    if a.save:
        stio.save(a.save, {k: v.detach().numpy() for k, v in model.state_dict().items()},
                  {"source": "bench/torch_train.py", "model": a.model})
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
