"""Independent GPTQ (Frantar et al. 2022, Algorithm 1) in PyTorch, f64, for lowbit's layer oracle.

    python3 scripts/oracle/gptq_oracle.py test/fixtures/layer-problems.safetensors $OUT/oracle-gptq.json

For each layer problem (W, H exported by scripts/make-layer-fixture.ts) and configuration, runs
GPTQ as the paper states it: damp H by 1% of its mean diagonal, U = upper Cholesky factor of H^-1,
quantize column by column with error feedback w_k -= (w_j - q_j) / U_jj * U_jk (the paper's lazy
blocking is an exact reordering of the same updates and is not needed here), group grids fitted on
the updated weights when a group starts, act-order = columns by decreasing H_jj. Writes the relative
layer objective of GPTQ and of RTN for each case.
"""
import json
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from layer_common import fit_grid, load_problems, quantize, rel_objective  # noqa: E402


def gptq(W, H, bits, group, act_order, damp=0.01):
    rows, cols = W.shape
    W = W.clone()
    H = H.clone()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    perm = torch.argsort(torch.diag(H), descending=True, stable=True) if act_order else torch.arange(cols)
    W, H = W[:, perm], H[perm][:, perm]
    H += damp * torch.mean(torch.diag(H)) * torch.eye(cols, dtype=H.dtype)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    Q = torch.zeros_like(W)
    gs = cols if group <= 0 else group
    scale, zero = fit_grid(W, bits)  # per-channel grid (used when gs == cols)
    for j in range(cols):
        if gs < cols and j % gs == 0:
            scale, zero = fit_grid(W[:, j : j + gs], bits)
        q = quantize(W[:, j], scale, zero, bits)
        Q[:, j] = q
        err = (W[:, j] - q) / U[j, j]
        W[:, j + 1 :] -= torch.outer(err, U[j, j + 1 :])
    return Q[:, torch.argsort(perm)]


def rtn(W, bits, group):
    cols = W.shape[1]
    gs = cols if group <= 0 else group
    Q = torch.empty_like(W)
    for j in range(0, cols, gs):
        s, z = fit_grid(W[:, j : j + gs], bits)
        Q[:, j : j + gs] = quantize(W[:, j : j + gs], s[:, None], z[:, None], bits)
    return Q


def main():
    problems = load_problems(sys.argv[1])
    results = []
    for name, (W, H) in problems.items():
        for bits in (3, 4):
            for group in (128, 0):
                for act_order in (False, True):
                    Q = gptq(W, H, bits, group, act_order)
                    results.append({
                        "layer": name, "bits": bits, "groupSize": group, "actOrder": act_order,
                        "gptq": rel_objective(W, Q, H), "rtn": rel_objective(W, rtn(W, bits, group), H),
                    })
                    print(results[-1])
    json.dump({"producer": "scripts/oracle/gptq_oracle.py", "damp": 0.01, "results": results}, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
