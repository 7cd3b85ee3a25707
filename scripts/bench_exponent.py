#!/usr/bin/env python3
"""Fit cost ∝ m^p to criterion's `breadth_cost/m/<m>` estimates (median time),
by least squares on log-log, and print p with the points.

Run after `cargo bench --bench sweep -- breadth_cost`:
    python3 scripts/bench_exponent.py [target/criterion/breadth_cost/m]
"""
import json
import math
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion/breadth_cost/m")
points = []
for d in sorted(root.iterdir(), key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0)):
    est = d / "new" / "estimates.json"
    if d.name.isdigit() and est.exists():
        points.append((int(d.name), json.loads(est.read_text())["median"]["point_estimate"] / 1e9))
if len(points) < 2:
    sys.exit(f"need at least two benchmarked widths under {root}")
xs = [math.log(m) for m, _ in points]
ys = [math.log(t) for _, t in points]
n = len(points)
mx, my = sum(xs) / n, sum(ys) / n
slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
for m, t in points:
    print(f"m = {m:>6}: {t:.4f} s per breadth point")
print(f"cost ∝ m^{slope:.2f} (least squares on log-log over {n} widths)")
