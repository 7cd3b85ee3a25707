#!/usr/bin/env python3
"""PyTorch round trip of `hairtrigger audit` and `hairtrigger canonicalize`.

Not part of the build or the tests (it needs torch and safetensors:
`pip install torch safetensors`). Run from the repository root after
`cargo build --release`:

    python3 scripts/torch_roundtrip.py

It builds an `nn.Sequential` MLP in float32, hides a rescaled unit and four
dormant units in it (same function), saves it with
`safetensors.torch.save_file`, audits it, canonicalizes it, loads the
canonical file back into a fresh `nn.Sequential` of the new widths with
`load_state_dict`, and compares the outputs.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

BIN = Path("target/release/hairtrigger")


def mlp(widths):
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def main():
    torch.manual_seed(0)
    genuine = mlp([16, 32, 32, 4])
    twin = mlp([16, 32, 36, 4])
    with torch.no_grad():
        twin[0].load_state_dict(genuine[0].state_dict())
        twin[2].weight[:32] = genuine[2].weight
        twin[2].bias[:32] = genuine[2].bias
        twin[2].weight[32:] = torch.randn(4, 32)  # dormant: incoming weights …
        twin[2].bias[32:] = 0.1
        twin[4].weight[:, :32] = genuine[4].weight
        twin[4].weight[:, 32:] = 0.0  # … and no outgoing weight
        twin[4].bias[:] = genuine[4].bias
        twin[0].weight[3] *= 100.0  # unit 3 rescaled: same function
        twin[0].bias[3] *= 100.0
        twin[2].weight[:, 3] /= 100.0
    x = torch.randn(1000, 16)
    with torch.no_grad():
        gap = (twin(x) - genuine(x)).abs().max().item()
    print(f"twin vs genuine in PyTorch: max |Δf| = {gap:.2e} (float32)")
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "twin.safetensors", Path(d) / "canon.safetensors"
        save_file(twin.state_dict(), str(src))
        a = subprocess.run([BIN, "audit", src, "--act", "relu", "--json"],
                           check=True, capture_output=True, text=True)
        rep = json.loads(a.stdout)
        print(f"audit: flagged {rep['flagged']}; reasons: {rep['reasons']}")
        c = subprocess.run([BIN, "canonicalize", src, "--act", "relu", "--out", out, "--json"],
                           check=True, capture_output=True, text=True)
        rec = json.loads(c.stdout)
        print(f"canonicalize: widths {rec['widths_before']} -> {rec['widths_after']}, "
              f"max relative deviation {rec['max_rel_deviation']:.2e} (f64)")
        state = load_file(str(out))
        print("canonical file:", {k: (tuple(v.shape), str(v.dtype)) for k, v in state.items()})
        canon = mlp([16] + rec["widths_after"][1:-1] + [4])
        canon.load_state_dict(state)  # raises on any missing key or shape
        with torch.no_grad():
            rel = ((canon(x) - twin(x)).abs().max() / twin(x).abs().max()).item()
        print(f"load_state_dict: ok; canonical vs twin in PyTorch: max relative |Δf| = {rel:.2e}")
        ok = rep["flagged"] and rel < 1e-5 and rec["widths_after"][2] == 32
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
