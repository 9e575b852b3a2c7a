#!/usr/bin/env python3
"""PyTorch training throughput on the GPU for the device bundle's run.sh:
the same models (built from our specs by bench/torch_models.py), the same
batch and input shape, random data, Adam lr 1e-3, in one precision:

  fp32  torch.backends.{cuda.matmul,cudnn}.allow_tf32 = False
  tf32  allow_tf32 = True (tensor cores round the operands to 10 bits)
  bf16  torch.autocast("cuda", dtype=torch.bfloat16) around forward + loss

  python3 bench/torch_gpu.py -m lenet --batch 128 --precision tf32 \\
      [--warmup 10] [--steps 30]

cudnn.benchmark is on (PyTorch's usual setting for fixed shapes; ours
chooses by cudnnFind too).  Each timed step: forward, loss, backward,
optimizer step on data already on the GPU; the clock is read after a
synchronize.  Prints one JSON line.
"""
import argparse
import json
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-m", "--model", required=True)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="fp32")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--steps", type=int, default=30)
    a = p.parse_args()
    tf32 = a.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(1)
    dev = torch.device("cuda")
    model = torch_models.build_spec_model(a.model).to(dev)
    c, h, w = model.input_shape
    k = model.output_shape[0]
    reg = False
    with open(torch_models.spec_path(a.model)) as f:
        reg = any(l.startswith("loss kind=mse") or l.startswith("loss kind=huber") for l in f)
    x = torch.rand(a.batch, c, h, w, device=dev)
    y = torch.rand(a.batch, k, device=dev) if reg else torch.randint(0, k, (a.batch,), device=dev)
    lossf = nn.MSELoss() if reg else nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = lossf(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(json.dumps({"model": a.model, "precision": a.precision, "batch": a.batch,
                      "steps": a.steps, "seconds": round(dt, 4),
                      "images_per_s": round(a.batch * a.steps / dt, 1),
                      "loss": float(loss), "params": torch_models.count_params(model),
                      "torch": torch.__version__, "device": torch.cuda.get_device_name(0)}))


if __name__ == "__main__":
    main()
