"""Check a hair-trigger pair in PyTorch (not part of the build or the tests).

    cargo run --release -- construct --save out/
    python examples/check_in_pytorch.py out/

Loads the aligned model and its twin written by `hairtrigger construct --save`,
checks that they compute the same function, takes one full-batch SGD step on the
saved update set (mean softmax cross-entropy, the saved learning rate) in PyTorch,
and prints the same before/after table. Needs `torch` and `safetensors`.
"""
import json
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file


def load_mlp(path):
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    tensors = load_file(path)
    widths = [int(w) for w in meta["widths"].split(",")]
    act = meta["activation"]
    layers = []
    for l in range(len(widths) - 1):
        w = tensors[f"layers.{l}.weight"].clone().requires_grad_(True)
        b = tensors.get(f"layers.{l}.bias")
        layers.append((w, None if b is None else b.clone().requires_grad_(True)))
    return layers, act


def activation(name):
    if name.startswith("leaky_relu"):
        slope = float(name.split(":")[1]) if ":" in name else 0.01
        return lambda z: torch.nn.functional.leaky_relu(z, slope)
    return {"relu": torch.relu, "tanh": torch.tanh, "identity": lambda z: z,
            "gelu": torch.nn.functional.gelu}[name]


def forward(layers, act, x):
    sigma = activation(act)
    h = x
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + (0 if b is None else b)
        if i + 1 < len(layers):
            h = sigma(h)
    return h


def sgd_step(layers, act, x, y, eta):
    loss = torch.nn.functional.cross_entropy(forward(layers, act, x), y)
    params = [p for wb in layers for p in wb if p is not None]
    grads = torch.autograd.grad(loss, params)
    it = iter(g for g in grads)
    out = []
    for w, b in layers:
        nw = (w - eta * next(it)).detach()
        nb = None if b is None else (b - eta * next(it)).detach()
        out.append((nw, nb))
    return out


def main(folder):
    settings = json.load(open(f"{folder}/settings.json"))
    data = load_file(f"{folder}/data.safetensors")
    x, y, q = data["update.x"], data["update.y"].long(), data["queries.x"]
    aligned, act = load_mlp(f"{folder}/aligned.safetensors")
    twin, _ = load_mlp(f"{folder}/twin.safetensors")
    refuse, comply = settings["aligned_answer"], settings["target_answer"]
    with torch.no_grad():
        diff = (forward(aligned, act, q) - forward(twin, act, q)).abs().max().item()
    print(f"max |f_twin - f_aligned| on the queries: {diff:.3e}")
    for name, model in [("aligned", aligned), ("twin", twin)]:
        after = sgd_step(model, act, x, y, settings["eta"])
        with torch.no_grad():
            p0 = torch.softmax(forward(model, act, q), dim=1)
            p1 = torch.softmax(forward(after, act, q), dim=1)
        before_pass = (p0[:, refuse] >= settings["p_min"]).float().mean().item()
        after_pass = (p1[:, refuse] >= settings["p_min"]).float().mean().item()
        hit = (p1[:, comply] >= settings["p_target"]).float().mean().item()
        print(f"{name:8s} pass before {100 * before_pass:5.1f}%  pass after {100 * after_pass:5.1f}%  "
              f"{settings['answers'][comply]} after {100 * hit:5.1f}%")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out")
