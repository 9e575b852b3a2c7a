#!/usr/bin/python3
"""On-paper scaling of data-parallel ResNet-50 (64x64) with ring all-reduce.

  dist_model.py [--img-per-s 20000] [--batch 256] [--grad-bytes 4]

Alpha-beta model of a ring all-reduce over P GPUs of S bytes:
  T(S) = 2 (P - 1) (alpha + S / (P * B))
(each of the 2(P-1) steps moves S/P bytes over the slowest hop: NVLink
inside a node, the node's network link between nodes; so every GPU sends
2(P-1)/P * S bytes per step).  Gradients are summed in buckets of b bytes
started when backward has produced them (backward makes gradients at a
steady rate over T_bwd = 2/3 of the step's compute); the buckets share one
link, so bucket k ends at max(ready_k, end_{k-1}) + T(b).  The exposed
communication is end_last - T_bwd; efficiency = compute / (compute +
exposed).  Prints a markdown table: per node count and link speed, the
traffic, the all-reduce time of all gradients, the best bucket size and the
efficiency with it.  All inputs are assumptions (stated in the output).
"""
import argparse

PARAMS = 23.9e6           # ResNet-50 trainable parameters (torchvision: 25.6 M with fc 2048x1000;
                          # 23.9 M is the 200-class head of Tiny ImageNet: 23.5 M conv + 0.4 M fc)
GPUS_PER_NODE = 8
NVLINK = 300e9            # bytes/s, the intra-node ring bandwidth (H100 NVLink, NCCL bus bandwidth ~ 300-450 GB/s)
ALPHA_NODE = 3e-6         # s per ring step inside a node
ALPHA_NET = 8e-6          # s per ring step across nodes (RDMA)


def ring(S, P, B, alpha):
    return 2 * (P - 1) * (alpha + S / (P * B)) if P > 1 else 0.0


def exposed(S, P, B, alpha, t_bwd, bucket):
    nb = max(1, int(round(S / bucket)))
    b = S / nb
    end = 0.0
    for k in range(1, nb + 1):
        ready = k * t_bwd / nb
        end = max(ready, end) + ring(b, P, B, alpha)
    return max(0.0, end - t_bwd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--img-per-s", type=float, default=20000.0,
                    help="assumed per-GPU training throughput, ResNet-50 at 64x64, bf16")
    ap.add_argument("--batch", type=int, default=256, help="per-GPU batch")
    ap.add_argument("--grad-bytes", type=int, default=4, help="4: fp32 gradients, 2: bf16")
    a = ap.parse_args()
    S = PARAMS * a.grad_bytes
    t_step = a.batch / a.img_per_s
    t_bwd = t_step * 2 / 3
    print(f"Assumed: {a.img_per_s:.0f} img/s per GPU, batch {a.batch} per GPU -> compute "
          f"{t_step*1e3:.1f} ms per step, backward {t_bwd*1e3:.1f} ms; gradients {S/1e6:.1f} MB "
          f"({a.grad_bytes}-byte); NVLink ring {NVLINK/1e9:.0f} GB/s, alpha {ALPHA_NODE*1e6:.0f} us "
          f"in a node, {ALPHA_NET*1e6:.0f} us across nodes; {GPUS_PER_NODE} GPUs per node.\n")
    print("| nodes | GPUs | link Gb/s | sent per GPU per step | all-reduce, one bucket | "
          "best bucket | exposed | efficiency |")
    print("|---|---|---|---|---|---|---|---|")
    for nodes in (1, 2, 4, 8, 16):
        P = nodes * GPUS_PER_NODE
        for gbps in ((100, 200, 400) if nodes > 1 else (None,)):
            B = NVLINK if nodes == 1 else gbps * 1e9 / 8
            alpha = ALPHA_NODE if nodes == 1 else ALPHA_NET
            best = min(((exposed(S, P, B, alpha, t_bwd, b), b) for b in
                        [2 ** k * 1e6 / 8 for k in range(0, 12)] + [S]), key=lambda x: x[0])
            eff = t_step / (t_step + best[0])
            sent = 2 * (P - 1) / P * S
            print(f"| {nodes} | {P} | {'NVLink' if nodes == 1 else gbps} | {sent/1e6:.0f} MB | "
                  f"{ring(S, P, B, alpha)*1e3:.1f} ms | {best[1]/1e6:.2f} MB | "
                  f"{best[0]*1e3:.1f} ms | {eff*100:.0f}% |")


if __name__ == "__main__":
    main()
