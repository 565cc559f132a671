"""The network: fast.ai's `TabularModel` (v2, `lin_first=True`) in plain PyTorch."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn


def emb_size_rule(n_categories: int) -> int:
    """fast.ai's embedding width for a column with `n_categories` values (unknown included)."""
    return min(600, round(1.6 * n_categories ** 0.56))


class SparseDropout(nn.Module):
    """Dropout that draws only the dropped positions; the mask is exactly iid Bernoulli(p).

    Why: `nn.Dropout` draws one random number per activation, and on this CPU that cost a third
    as much as all the matmuls (p is 0.001..0.04, so 96-99.9% of the draws are wasted).
    How: draw K ~ Poisson(n * lam) positions uniformly with replacement, lam = -ln(1 - p). Then
    the number of hits of each position is an independent Poisson(lam), so each is dropped
    independently with probability 1 - exp(-lam) = p. Kept values are scaled by 1 / (1 - p).
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        n = x.numel()
        k = int(torch.poisson(torch.tensor([-n * math.log1p(-self.p)])).item())
        mask = torch.full_like(x, 1.0 / (1.0 - self.p))
        mask.view(-1)[torch.randint(0, n, (k,))] = 0
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class TabularModel(nn.Module):
    """Embeddings + continuous BatchNorm -> [Linear -> ReLU -> BatchNorm -> Dropout]* -> sigmoid range.

    `forward(x_cat int64 [n, n_cat], x_cont float32 [n, n_cont]) -> float32 [n]` (log Sales).
    """

    def __init__(self, cardinalities: Sequence[int], emb_dims: Sequence[int], n_cont: int,
                 layers: Sequence[int], ps: Sequence[float], emb_drop: float,
                 y_range: tuple[float, float]) -> None:
        super().__init__()
        if len(cardinalities) != len(emb_dims):
            raise ValueError("one embedding width per categorical column is needed")
        self.embeds = nn.ModuleList(nn.Embedding(n, d) for n, d in zip(cardinalities, emb_dims))
        for emb in self.embeds:
            # fast.ai's Embedding init: small weights so that no column dominates at the start.
            nn.init.trunc_normal_(emb.weight, std=0.01)
        self.emb_drop = SparseDropout(emb_drop)
        self.n_cont = n_cont
        self.bn_cont = nn.BatchNorm1d(n_cont) if n_cont else None
        blocks: list[nn.Module] = []
        n_in = sum(emb_dims) + n_cont
        for n_out, p in zip(layers, ps):
            # No bias: the BatchNorm that follows has its own shift (fast.ai's LinBnDrop).
            blocks += [nn.Linear(n_in, n_out, bias=False), nn.ReLU(inplace=True), nn.BatchNorm1d(n_out)]
            if p > 0:
                blocks.append(SparseDropout(p))
            n_in = n_out
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(n_in, 1)
        self.register_buffer("y_range", torch.tensor(y_range, dtype=torch.float32))

    def forward(self, x_cat: torch.Tensor, x_cont: torch.Tensor) -> torch.Tensor:
        parts = [emb(x_cat[:, i]) for i, emb in enumerate(self.embeds)]
        x = self.emb_drop(torch.cat(parts, dim=1)) if parts else x_cont.new_empty(len(x_cont), 0)
        if self.bn_cont is not None:
            x = torch.cat([x, self.bn_cont(x_cont)], dim=1)
        x = self.body(x)
        # The head runs in fp32 even under bf16 autocast: bf16 keeps 8 mantissa bits, so a log-Sales
        # output near 9 would be quantised in steps of 0.03 (3% error, a third of the target RMSPE).
        with torch.autocast("cpu", enabled=False):
            x = self.head(x.float()).squeeze(1)
            lo, hi = self.y_range[0], self.y_range[1]
            return torch.sigmoid(x) * (hi - lo) + lo

    def dense_flops_per_row(self) -> int:
        """Matmul FLOPs of one training row (forward + both backward products of every Linear)."""
        macs = sum(m.in_features * m.out_features for m in self.modules() if isinstance(m, nn.Linear))
        return 3 * 2 * macs

    def summary(self) -> str:
        """A layer table with output shapes and parameter counts (batch dimension shown as `bs`)."""
        rows = [("layer", "output shape", "params")]
        for i, emb in enumerate(self.embeds):
            rows.append((f"embeds.{i}: Embedding({emb.num_embeddings}, {emb.embedding_dim})",
                         f"[bs, {emb.embedding_dim}]", f"{emb.weight.numel():,}"))
        width = sum(e.embedding_dim for e in self.embeds)
        rows.append((f"emb_drop: SparseDropout(p={self.emb_drop.p})", f"[bs, {width}]", "0"))
        if self.bn_cont is not None:
            rows.append((f"bn_cont: BatchNorm1d({self.n_cont})", f"[bs, {self.n_cont}]",
                         f"{sum(p.numel() for p in self.bn_cont.parameters()):,}"))
            rows.append(("cat(embeddings, continuous)", f"[bs, {width + self.n_cont}]", "0"))
        for name, mod in self.body.named_children():
            if isinstance(mod, nn.Linear):
                width = mod.out_features
            n_params = sum(p.numel() for p in mod.parameters())
            rows.append((f"body.{name}: {mod}", f"[bs, {width}]", f"{n_params:,}"))
        rows.append((f"head: {self.head}", "[bs, 1]", f"{sum(p.numel() for p in self.head.parameters()):,}"))
        lo, hi = (float(v) for v in self.y_range)
        rows.append((f"sigmoid range ({lo:.3f}, {hi:.3f})", "[bs]", "0"))
        total = sum(p.numel() for p in self.parameters())
        w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
        lines = [f"{a:<{w0}}  {b:<{w1}}  {c:>12}" for a, b, c in rows]
        lines.append(f"total parameters: {total:,}; dense matmul FLOPs per training row: "
                     f"{self.dense_flops_per_row() / 1e6:.2f} M")
        return "\n".join(lines)
