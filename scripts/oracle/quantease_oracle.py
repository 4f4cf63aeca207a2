"""Independent QuantEase (Behdin et al. 2023, arXiv 2309.01885) in PyTorch, f64, for lowbit's oracle.

    python3 scripts/oracle/quantease_oracle.py test/fixtures/layer-problems.safetensors $OUT/oracle-quantease.json

Cyclic coordinate descent on f(Q) = tr((W - Q) H (W - Q)^T) with Q on per-group grids, one column
at a time over all rows (the paper's closed-form coordinate update):
    beta_j = ((W H)_j - sum_{k != j} Q_k H_kj) / H_jj,   Q_j = quant(beta_j)
Schedule of the authors' release: Q starts at W; columns in act-order (decreasing H_jj); grids
fitted on the original W's groups (in that order); on sweeps s (0-based) with s % 3 == 1, s <= 25
and s not the last, the update is left unquantized (relaxed); dead inputs are just rounded.
Writes the relative objective after the final sweep, for each configuration.
"""
import json
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from layer_common import fit_grid, load_problems, quantize, rel_objective  # noqa: E402


def quantease(W, H, bits, group, sweeps=30, relax_every=3, act_order=True):
    rows, cols = W.shape
    perm = torch.argsort(torch.diag(H), descending=True, stable=True) if act_order else torch.arange(cols)
    Wp, Hp = W[:, perm], H[perm][:, perm]
    gs = cols if group <= 0 else group
    grids = [fit_grid(Wp[:, j : j + gs], bits) for j in range(0, cols, gs)]
    Q = Wp.clone()
    WH = Wp @ Hp
    for s in range(sweeps):
        relaxed = relax_every > 0 and s % relax_every == 1 and s <= 25 and s != sweeps - 1
        for j in range(cols):
            scale, zero = grids[j // gs]
            if Hp[j, j] == 0:
                Q[:, j] = quantize(Q[:, j], scale, zero, bits)
                continue
            beta = (WH[:, j] - Q @ Hp[:, j] + Q[:, j] * Hp[j, j]) / Hp[j, j]
            Q[:, j] = beta if relaxed else quantize(beta, scale, zero, bits)
    return Q[:, torch.argsort(perm)]


CONFIGS = [
    {"bits": 3, "groupSize": 128, "sweeps": 30, "relaxEvery": 3, "actOrder": True},
    {"bits": 4, "groupSize": 128, "sweeps": 30, "relaxEvery": 3, "actOrder": True},
    {"bits": 3, "groupSize": 0, "sweeps": 30, "relaxEvery": 3, "actOrder": True},
    {"bits": 4, "groupSize": 0, "sweeps": 30, "relaxEvery": 3, "actOrder": True},
    {"bits": 3, "groupSize": 128, "sweeps": 10, "relaxEvery": 0, "actOrder": False},
]


def main():
    problems = load_problems(sys.argv[1])
    results = []
    for name, (W, H) in problems.items():
        for c in CONFIGS:
            Q = quantease(W, H, c["bits"], c["groupSize"], c["sweeps"], c["relaxEvery"], c["actOrder"])
            results.append({"layer": name, **c, "quantease": rel_objective(W, Q, H)})
            print(results[-1])
    json.dump({"producer": "scripts/oracle/quantease_oracle.py", "results": results}, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
