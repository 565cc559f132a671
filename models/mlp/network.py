"""The network: fast.ai's `TabularModel` (v2, `lin_first=True`) in plain PyTorch."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def emb_size_rule(n_categories: int) -> int:
    """fast.ai's embedding width for a column with `n_categories` values (unknown included)."""
    return min(600, round(1.6 * n_categories ** 0.56))


class _DropPositions(torch.autograd.Function):
    """Zero the flat positions `idx` of `x` in place; the gradient is zeroed at the same places."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        ctx.mark_dirty(x)
        ctx.save_for_backward(idx)
        x.view(-1).index_fill_(0, idx, 0)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (idx,) = ctx.saved_tensors
        grad = grad.clone(memory_format=torch.contiguous_format)
        grad.view(-1).index_fill_(0, idx, 0)
        return grad, None


class SparseDropout(nn.Module):
    """Dropout that draws only the dropped positions and touches only them while training.

    Why: `nn.Dropout` draws one random number per activation and multiplies every activation by
    a mask, forward and backward; with fast.ai's small p almost all of that work changes
    nothing, and on a small CPU it costs a large share of the matmuls' time (docs/RESULTS.md,
    "Measurements the code relies on").
    How: draw K ~ Poisson(n * lam) positions uniformly with replacement, lam = -ln(1 - p); the
    number of hits of each position is then an independent Poisson(lam), so each activation is
    dropped independently with probability 1 - exp(-lam) = p, exactly as iid Bernoulli(p).
    The dropped positions are zeroed in place. Like the original dropout paper (and unlike the
    "inverted" `nn.Dropout`) kept values are not scaled up while training; instead the layer
    multiplies by 1 - p in eval mode, so the expected activation is the same in both modes and
    training draws and multiplies no full-size mask (the backward copies the gradient once).
    The input is modified in place: it must not be needed by another layer's backward (in this
    network it is the output of the embedding lookup or of a BatchNorm, which save their inputs
    only; autograd would raise if that ever changed).
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0:
            return x
        if not self.training:
            return x * (1.0 - self.p)
        n = x.numel()
        k = int(torch.poisson(torch.tensor([-n * math.log1p(-self.p)])).item())
        idx = torch.randint(0, n, (k,)) if x.device.type == "cpu" else torch.randint(0, n, (k,), device=x.device)
        if not x.requires_grad:  # no graph to record (e.g. a forward pass under no_grad)
            return x.view(-1).index_fill_(0, idx, 0).view_as(x)
        return _DropPositions.apply(x, idx)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class EmbeddingTables(nn.Module):
    """One embedding table per categorical column, stored in one flat parameter.

    `forward(x_cat int [n, n_cat]) -> float [n, sum(dims)]`, the same values and gradients as
    concatenating `nn.Embedding(card_j, dim_j)(x_cat[:, j])` over the columns (tested).
    Why: one `nn.Embedding` per column plus `torch.cat` cost a noticeable share of a CPU step,
    mostly in `nn.Embedding`'s backward, which sorts the indices on every call whatever the
    table size. Here one flat index, one `index_select` and (backward) one `index_add_` do the
    same work in about half the time, and the optimizer updates one tensor instead of one per
    column. int32 codes make the index arithmetic cheaper than int64 (both are accepted).
    Timings: docs/RESULTS.md, "Measurements the code relies on".
    """

    def __init__(self, cardinalities: Sequence[int], dims: Sequence[int]) -> None:
        super().__init__()
        if len(cardinalities) != len(dims):
            raise ValueError("one embedding width per categorical column is needed")
        self.cardinalities = [int(n) for n in cardinalities]
        self.dims = [int(d) for d in dims]
        sizes = [n * d for n, d in zip(self.cardinalities, self.dims)]
        self.starts = [sum(sizes[:j]) for j in range(len(sizes))]
        self.width = sum(self.dims)
        self.weight = nn.Parameter(torch.empty(sum(sizes)))
        # fast.ai's Embedding init: small weights so that no column dominates at the start.
        nn.init.trunc_normal_(self.weight, std=0.01)
        dims_t = torch.tensor(self.dims, dtype=torch.int32)
        column = torch.repeat_interleave(torch.arange(len(self.dims)), dims_t)  # output position -> column
        within = torch.cat([torch.arange(d, dtype=torch.int32) for d in self.dims] or
                           [torch.zeros(0, dtype=torch.int32)])
        starts = torch.tensor(self.starts, dtype=torch.int32)
        # Output position i of a row reads flat entry starts[col] + code * dim[col] + (i - first(col)).
        self.register_buffer("column", column, persistent=False)
        self.register_buffer("stride", dims_t[column], persistent=False)
        self.register_buffer("base", starts[column] + within, persistent=False)

    def table(self, j: int) -> torch.Tensor:
        """The [cardinality, dim] table of column j (a view of the flat parameter)."""
        start, n, d = self.starts[j], self.cardinalities[j], self.dims[j]
        return self.weight[start:start + n * d].view(n, d)

    def forward(self, x_cat: torch.Tensor) -> torch.Tensor:
        idx = x_cat[:, self.column] * self.stride + self.base
        return self.weight.index_select(0, idx.view(-1)).view(len(x_cat), self.width)

    def extra_repr(self) -> str:
        return ", ".join(f"({n}, {d})" for n, d in zip(self.cardinalities, self.dims))


class TabularModel(nn.Module):
    """Embeddings + continuous BatchNorm -> [Linear -> ReLU -> BatchNorm -> Dropout]* -> sigmoid range.

    `forward(x_cat int64 [n, n_cat], x_cont float32 [n, n_cont]) -> float32 [n]` (log Sales), or
    `[n, n_out]` with `n_out > 1` (log Sales first, then auxiliary targets in the same range).
    """

    def __init__(self, cardinalities: Sequence[int], emb_dims: Sequence[int], n_cont: int,
                 layers: Sequence[int], ps: Sequence[float], emb_drop: float,
                 y_range: tuple[float, float], n_out: int = 1) -> None:
        super().__init__()
        if len(cardinalities) != len(emb_dims):
            raise ValueError("one embedding width per categorical column is needed")
        self.embeds = EmbeddingTables(cardinalities, emb_dims)
        self.emb_drop = SparseDropout(emb_drop)
        self.n_cont = n_cont
        self.bn_cont = nn.BatchNorm1d(n_cont) if n_cont else None
        blocks: list[nn.Module] = []
        n_in = sum(emb_dims) + n_cont
        for width, p in zip(layers, ps):
            # No bias: the BatchNorm that follows has its own shift (fast.ai's LinBnDrop).
            blocks += [nn.Linear(n_in, width, bias=False), nn.ReLU(inplace=True), nn.BatchNorm1d(width)]
            if p > 0:
                blocks.append(SparseDropout(p))
            n_in = width
        self.body = nn.Sequential(*blocks)
        self.n_out = n_out
        self.head = nn.Linear(n_in, n_out)
        self.register_buffer("y_range", torch.tensor(y_range, dtype=torch.float32))

    def forward(self, x_cat: torch.Tensor, x_cont: torch.Tensor) -> torch.Tensor:
        x = self.emb_drop(self.embeds(x_cat)) if self.embeds.width else x_cont.new_empty(len(x_cont), 0)
        if self.bn_cont is not None:
            x = torch.cat([x, self.bn_cont(x_cont)], dim=1)
        x = self.body(x)
        # The head runs in fp32 even under bf16 autocast: bf16 keeps 8 mantissa bits, so a log-Sales
        # output near 9 would be quantised in steps of 0.03 (3% error, a third of the target RMSPE).
        with torch.autocast(x.device.type, enabled=False):
            x = self.head(x.float())
            x = x.squeeze(1) if self.n_out == 1 else x
            lo, hi = self.y_range[0], self.y_range[1]
            return torch.sigmoid(x) * (hi - lo) + lo

    def dense_flops_per_row(self) -> int:
        """Matmul FLOPs of one training row (forward + both backward products of every Linear)."""
        macs = sum(m.in_features * m.out_features for m in self.modules() if isinstance(m, nn.Linear))
        return 3 * 2 * macs

    def summary(self) -> str:
        """A layer table with output shapes and parameter counts (batch dimension shown as `bs`)."""
        rows = [("layer", "output shape", "params")]
        for i, (n, d) in enumerate(zip(self.embeds.cardinalities, self.embeds.dims)):
            rows.append((f"embeds.{i}: Embedding({n}, {d})", f"[bs, {d}]", f"{n * d:,}"))
        width = self.embeds.width
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
        head_params = sum(p.numel() for p in self.head.parameters())
        rows.append((f"head: {self.head}", f"[bs, {self.n_out}]", f"{head_params:,}"))
        lo, hi = (float(v) for v in self.y_range)
        rows.append((f"sigmoid range ({lo:.3f}, {hi:.3f})", "[bs]", "0"))
        total = sum(p.numel() for p in self.parameters())
        w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
        lines = [f"{a:<{w0}}  {b:<{w1}}  {c:>12}" for a, b, c in rows]
        lines.append(f"total parameters: {total:,}; dense matmul FLOPs per training row: "
                     f"{self.dense_flops_per_row() / 1e6:.2f} M")
        return "\n".join(lines)
