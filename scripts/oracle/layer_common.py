"""Shared pieces of the layer-wise oracles: the fixture reader, lowbit's grid, the objective."""
import torch
from safetensors.torch import load_file


def load_problems(path):
    """{name: (W [rows, cols] f64, H [cols, cols] f64)} from test/fixtures/layer-problems.safetensors."""
    t = load_file(path)
    names = sorted({k.rsplit(".", 1)[0] for k in t})
    return {n: (t[n + ".W"].double(), t[n + ".H"].double()) for n in names}


def fit_grid(x, bits):
    """Row-wise asymmetric grid of x [rows, n], as lowbit defines it (src/quant/grid.ts): the range
    widened to include 0, scale rounded to f16, integer zero point."""
    maxq = 2**bits - 1
    lo = torch.clamp(x.min(dim=1).values, max=0)
    hi = torch.clamp(x.max(dim=1).values, min=0)
    scale = ((hi - lo) / maxq).half().double()
    scale = torch.where(scale > 0, scale, torch.full_like(scale, 2.0**-24))
    scale = torch.where(hi == lo, torch.ones_like(scale), scale)
    zero = torch.clamp(torch.round(-lo / scale), 0, maxq)
    return scale, zero


def quantize(x, scale, zero, bits):
    maxq = 2**bits - 1
    return scale * (torch.clamp(torch.round(x / scale) + zero, 0, maxq) - zero)


def rel_objective(W, Q, H):
    """||W X - Q X||^2 / ||W X||^2 = tr(dW H dW^T) / tr(W H W^T)."""
    D = W - Q
    return (torch.sum((D @ H) * D) / torch.sum((W @ H) * W)).item()
