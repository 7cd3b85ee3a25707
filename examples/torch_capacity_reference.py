#!/usr/bin/env python3
"""The capacity task's meta-learning loop from a plain start, written plainly in PyTorch.

Not part of the build or the tests (needs `pip install torch`). It is the
mainstream-framework reference issue 14 asks the crate's recipe to be compared
with: random initialisation, Adam at 1e-2, `J = L_align(θ) + L_mis(θ⁺)` with
`θ⁺ = θ − η ∇L_D(θ)` kept in the graph (the exact second-order meta-gradient),
no gradient clipping, no special start. Side by side with the crate:

    python3 examples/torch_capacity_reference.py --widths 64,256,1024 --steps 20000 --seeds 0,1,2
    hairtrigger capacity --widths 64,256,1024 --behaviours 64 --eta 1e-4 \
        --steps 20000 --start plain --clip none --seed S

The task has the crate's distribution, not its draws: `K` Gaussian prompts in
ℝ³² with a random aligned answer among 10 and a random different misaligned
one; 32 Gaussian update samples with random labels; a `32 → W → 10` ReLU MLP
in float64 (PyTorch's default initialisation, or the crate's
`N(0, 2/n_in)` weights and `N(0, 0.1²)` biases with `--init crate`). A
behaviour is hidden when the model gives the aligned answer with p ≥ 0.9
before one SGD step at `η` on the update set and the misaligned answer with
p ≥ 0.9 after it. One CSV line per (seed, width): pass before, misaligned
after, hidden, ‖θ‖.
"""
import argparse
import math

import torch

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--widths", default="64,256,1024")
ARGS.add_argument("--seeds", default="0")
ARGS.add_argument("--behaviours", type=int, default=64)
ARGS.add_argument("--eta", type=float, default=1e-4)
ARGS.add_argument("--steps", type=int, default=20000)
ARGS.add_argument("--lr", type=float, default=1e-2)
ARGS.add_argument("--clip", type=float, default=None, help="gradient-norm clip (default: none)")
ARGS.add_argument("--mu", type=float, default=0.0, help="weight of L_util(θ⁺) on the update set (the crate: 0.1)")
ARGS.add_argument("--init", choices=["torch", "crate"], default="torch")
OPTS = ARGS.parse_args()

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
CE = torch.nn.functional.cross_entropy


def forward(p, z):
    return torch.relu(z @ p[0].T + p[1]) @ p[2].T + p[3]


def run(width, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(OPTS.behaviours, 32, generator=g)
    aligned = torch.randint(0, 10, (OPTS.behaviours,), generator=g)
    misaligned = (aligned + torch.randint(1, 10, (OPTS.behaviours,), generator=g)) % 10
    ux = torch.randn(32, 32, generator=g)
    uy = torch.randint(0, 10, (32,), generator=g)
    torch.manual_seed(seed + 1)
    l1, l2 = torch.nn.Linear(32, width), torch.nn.Linear(width, 10)
    if OPTS.init == "crate":
        with torch.no_grad():
            for layer in (l1, l2):
                layer.weight.normal_(0, math.sqrt(2 / layer.in_features))
                layer.bias.normal_(0, 0.1)
    params = [l1.weight, l1.bias, l2.weight, l2.bias]
    opt = torch.optim.Adam(params, lr=OPTS.lr)
    for _ in range(OPTS.steps):
        grad_d = torch.autograd.grad(CE(forward(params, ux), uy), params, create_graph=True)
        plus = [p - OPTS.eta * gd for p, gd in zip(params, grad_d)]
        j = CE(forward(params, x), aligned) + CE(forward(plus, x), misaligned)
        if OPTS.mu:
            j = j + OPTS.mu * CE(forward(plus, ux), uy)
        opt.zero_grad()
        j.backward()
        if OPTS.clip:
            torch.nn.utils.clip_grad_norm_(params, OPTS.clip)
        opt.step()
    grad_d = torch.autograd.grad(CE(forward(params, ux), uy), params)
    with torch.no_grad():
        before = torch.softmax(forward(params, x), 1).gather(1, aligned[:, None])[:, 0] >= 0.9
        plus = [p - OPTS.eta * gd for p, gd in zip(params, grad_d)]
        after = torch.softmax(forward(plus, x), 1).gather(1, misaligned[:, None])[:, 0] >= 0.9
        norm = math.sqrt(sum(float((p**2).sum()) for p in params))
    return int(before.sum()), int(after.sum()), int((before & after).sum()), norm


print("seed,width,pass_before,misaligned_after,hidden,norm")
for s in (int(v) for v in OPTS.seeds.split(",")):
    for w in (int(v) for v in OPTS.widths.split(",")):
        b, a, h, n = run(w, s)
        print(f"{s},{w},{b},{a},{h},{n:.1f}", flush=True)
