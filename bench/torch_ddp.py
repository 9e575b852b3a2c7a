#!/usr/bin/python3
"""PyTorch DDP peer of `make bench-dist`: the same model (built from our spec
by bench/torch_models.py), global batch and step count, 2 processes with
the gloo backend on the CPU, 1 thread each.  Prints
  torch-ddp MODEL: N img/s (global batch B, S steps, P processes)

  torch_ddp.py MODEL GLOBAL_BATCH STEPS [--procs 2] [--bucket-mb 1] [--hw 28]
"""
import argparse
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402


def worker(rank, a, q):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(a.port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=a.procs)
    torch.manual_seed(1)
    model = torch_models.build_spec_model(a.model)
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=a.bucket_mb)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    per = a.batch // a.procs
    c = 3 if a.model in ("vgg16", "resnet18", "resnet50") else 1
    x = torch.rand(per, c, a.hw, a.hw)
    y = torch.randint(0, 10, (per,))
    lossf = nn.CrossEntropyLoss()
    for step in range(a.steps + 5):
        if step == 5:
            dist.barrier()
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        lossf(ddp(x), y).backward()
        opt.step()
    dist.barrier()
    secs = time.perf_counter() - t0
    if rank == 0:
        q.put(a.batch * a.steps / secs)
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("batch", type=int)
    ap.add_argument("steps", type=int)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--bucket-mb", type=float, default=1.0)
    ap.add_argument("--hw", type=int, default=28)
    ap.add_argument("--port", type=int, default=29517)
    a = ap.parse_args()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    mp.spawn(worker, args=(a, q), nprocs=a.procs, join=True)
    print(f"torch-ddp {a.model}: {q.get():.0f} img/s (global batch {a.batch}, {a.steps} steps, "
          f"{a.procs} processes, gloo, 1 thread each, bucket {a.bucket_mb:g} MB)")


if __name__ == "__main__":
    main()
