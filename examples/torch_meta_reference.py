#!/usr/bin/env python3
"""The toy meta-learning loop of `benches/meta.rs`, written plainly in PyTorch.

Not part of the build or the tests (needs `pip install torch`). It is the
side-by-side reference for the crate's meta-step speed (issue 16) and a
mainstream-framework check of the recipe:

    python3 examples/torch_meta_reference.py          # µs per meta-step, one thread
    RAYON_NUM_THREADS=1 cargo bench --bench meta      # the crate, same loop

On a GPU, beside `hairtrigger meta-device` (float32 there as in the crate's
GPU path, the widths given):

    python3 examples/torch_meta_reference.py --device cuda --widths 64,4096,65536

One meta-step, as in the crate: a `32 → 64 → 10` ReLU MLP in float64; 32
alignment samples, the same 32 prompts with misaligned labels, 8 utility
samples, 32 update samples; `J = L_align(θ) + λ L_mis(θ⁺) + μ L_util(θ⁺)` with
`θ⁺ = θ − η ∇L_D(θ)` kept in the graph (the exact second-order
meta-gradient), `λ = 1`, `μ = 0.1`, `η = 1e-4`; the gradient clipped to norm
10; Adam at 1e-2. The data are random (not the crate's draws): only the
timing is compared.
"""
import argparse
import time

import torch

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--device", default="cpu", help="cpu (float64, one thread) or cuda (float32)")
ARGS.add_argument("--widths", default="64", help="hidden widths, comma-separated")
OPTS = ARGS.parse_args()
DEVICE = torch.device(OPTS.device)

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64 if DEVICE.type == "cpu" else torch.float32)
torch.set_default_device(DEVICE)
torch.manual_seed(0)

D_IN, K = 32, 10
ETA, LAMBDA, MU, CLIP, LR = 1e-4, 1.0, 0.1, 10.0, 1e-2


def init(width):
    w1 = torch.randn(width, D_IN) * (2.0 / D_IN) ** 0.5
    w2 = torch.randn(K, width) * (2.0 / width) ** 0.5
    return [p.requires_grad_() for p in (w1, torch.zeros(width), w2, torch.zeros(K))]


def forward(params, x):
    w1, b1, w2, b2 = params
    return torch.relu(x @ w1.T + b1) @ w2.T + b2


def loss(params, x, y):
    return torch.nn.functional.cross_entropy(forward(params, x), y)


x_align = torch.randn(32, D_IN)
y_align = torch.randint(0, K, (32,))
y_mis = (torch.arange(32) * 7 + 3) % K
x_util, y_util = torch.randn(8, D_IN), torch.randint(0, K, (8,))
x_upd, y_upd = torch.randn(32, D_IN), torch.randint(0, K, (32,))


def meta_step(params, opt):
    opt.zero_grad()
    g_d = torch.autograd.grad(loss(params, x_upd, y_upd), params, create_graph=True)
    plus = [p - ETA * g for p, g in zip(params, g_d)]
    j = (
        loss(params, x_align, y_align)
        + LAMBDA * loss(plus, x_align, y_mis)
        + MU * loss(plus, x_util, y_util)
    )
    j.backward()
    torch.nn.utils.clip_grad_norm_(params, CLIP)
    opt.step()
    return j.item()


def main():
    where = "1 thread, float64" if DEVICE.type == "cpu" else f"{torch.cuda.get_device_name()}, float32"
    for width in (int(w) for w in OPTS.widths.split(",")):
        params = init(width)
        opt = torch.optim.Adam(params, lr=LR)
        for _ in range(50):  # warm-up
            meta_step(params, opt)
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(100):
                meta_step(params, opt)  # .item() waits for the device each step
            best = min(best, (time.perf_counter() - t) / 100)
        print(f"torch {torch.__version__}, {where}: {best * 1e6:.0f} µs per exact second-order meta-step "
              f"(best of 5 × 100; {D_IN} → {width} → {K} ReLU, 32 + 32 + 8 + 32 samples)")


if __name__ == "__main__":
    main()
