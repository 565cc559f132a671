"""LR range test (Smith 2015, fast.ai's `lr_find`): raise the LR exponentially, watch the loss."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from models.mlp.plots import smooth
from models.mlp.regressor import MLPRegressor
from models.mlp.training import make_optimizer, on_device, resolve_device, torch_threads, train_step


@dataclass
class LRFindResult:
    lrs: list[float]
    losses: list[float]      # smoothed train loss at each LR
    suggestion: float        # a peak LR for the one-cycle schedule

    def __str__(self) -> str:
        i = int(np.argmin(self.losses))
        return (f"LR finder: minimum smoothed loss {self.losses[i]:.4f} at LR {self.lrs[i]:.1e}; "
                f"suggested peak LR {self.suggestion:.1e} (a tenth of the minimum, as fast.ai)")


def lr_find(reg: MLPRegressor, train_df: pd.DataFrame, start_lr: float = 1e-6, end_lr: float = 1.0,
            n_steps: int = 150) -> LRFindResult:
    """Run the range test on a fresh network of `reg`'s config; `reg` gets fitted preprocessing.

    Stops early once the smoothed loss exceeds 4x its minimum (the LR has diverged).
    """
    cfg = reg.config
    torch.manual_seed(cfg.seed)
    train = reg.prepare(train_df)
    assert train.y_log is not None
    gen = torch.Generator().manual_seed(cfg.seed)
    lrs, raw = [], []
    device = resolve_device(cfg)
    train = on_device(train, device)
    with torch_threads(cfg.n_threads()):
        model = reg._build_model(train.conts.shape[1]).to(device).train()
        opt = make_optimizer(model, cfg, start_lr)
        factor = (end_lr / start_lr) ** (1 / max(1, n_steps - 1))
        best = math.inf
        for step in range(n_steps):
            lr = start_lr * factor ** step
            for group in opt.param_groups:
                group["lr"] = lr
            # Sample with replacement: a range test needs many steps, not a pass over the data.
            idx = torch.randint(0, len(train), (cfg.batch_size,), generator=gen).to(device)
            loss = train_step(model, opt, train.cats[idx], train.conts[idx], train.y_log[idx], cfg,
                              None if train.y_aux is None else train.y_aux[idx])
            lrs.append(lr)
            raw.append(loss.item())
            smoothed = smooth(raw)[-1]
            best = min(best, smoothed)
            if not math.isfinite(smoothed) or smoothed > 4 * best:
                break
    losses = smooth(raw).tolist()
    suggestion = lrs[int(np.argmin(losses))] / 10
    return LRFindResult(lrs, losses, suggestion)
