"""The training loop, on tensors: AdamW + OneCycleLR, index-sliced batches, bf16 autocast."""
from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from models.mlp.config import MLPConfig

EpochCallback = Callable[[int, float], None]


@dataclass
class TensorData:
    """One table as tensors: categorical codes, normalised continuous values, log target."""

    cats: torch.Tensor                 # int64 [n, n_cat]
    conts: torch.Tensor                # float32 [n, n_cont]
    y_log: torch.Tensor | None = None  # float32 [n]

    def __len__(self) -> int:
        return len(self.cats)


@dataclass
class History:
    """What `fit_network` measured: one entry per epoch plus the loss of every step."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    step_lr: list[float] = field(default_factory=list)


def current_rss_mb() -> float:
    """Resident memory now (not the peak), to show that it stays flat from epoch to epoch."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):  # not Linux
        return math.nan
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Use `n` intra-op threads inside the block (set here, not at import: callers share the process)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def autocast(config: MLPConfig) -> contextlib.AbstractContextManager:
    """bf16 autocast for the Linear layers when enabled; fp32 master weights and loss either way."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.use_bf16)


def make_optimizer(model: nn.Module, config: MLPConfig, lr: float) -> torch.optim.AdamW:
    # fused: one kernel for the whole update instead of ~10 elementwise passes per parameter; it
    # matters because there are only ~0.8M parameters per ~2K-row step.
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=(config.beta1_range[1], config.beta2),
                             eps=config.eps, weight_decay=config.weight_decay, fused=True)


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    # Rows are split into equal chunks of at most ~batch_size, so there is never a tiny last batch
    # (a batch of 1 breaks BatchNorm, a batch of 5 makes a noisy step) and every row is used.
    return max(1, round(n_rows / batch_size))


@torch.inference_mode()
def predict_log(model: nn.Module, data: TensorData, batch_size: int) -> torch.Tensor:
    """Log-Sales predictions in eval mode, in fp32 (cheap next to training and a bit more exact)."""
    model.eval()
    out = [model(data.cats[i:i + batch_size], data.conts[i:i + batch_size])
           for i in range(0, len(data), batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def effective_batch_size(n_rows: int, config: MLPConfig) -> int:
    """`config.batch_size`, halved (down to 64) until the run has `config.min_steps` steps.

    A one-cycle schedule over a handful of steps never leaves its warm-up: 3 epochs of 6,000 rows
    at batch 2048 are 9 steps, and the network learns nothing. The real data (760K rows) keeps the
    configured batch.
    """
    batch = config.batch_size
    while batch > 64 and config.epochs * steps_per_epoch(n_rows, batch) < config.min_steps:
        batch = max(batch // 2, 64)
    return max(min(batch, config.batch_size), 2)


def rmspe_from_log(log_pred: torch.Tensor, y_log: torch.Tensor) -> float:
    """RMSPE of exp(log_pred) against exp(y_log), the competition metric (rows with Sales > 0)."""
    from competition.metric import rmspe

    y = np.exp(y_log.double().numpy())
    return float(rmspe(y, np.exp(log_pred.double().numpy())))


def fit_network(model: nn.Module, train: TensorData, config: MLPConfig, valid: TensorData | None = None,
                epoch_callback: EpochCallback | None = None, desc: str = "fit") -> History:
    """Train `model` in place for `config.epochs` one-cycle epochs and return the history.

    `epoch_callback(epoch, valid_rmspe)` runs after every epoch (epoch counts from 0; the RMSPE is
    NaN without `valid`). Exceptions it raises, such as `optuna.TrialPruned`, propagate.
    """
    assert train.y_log is not None
    n = len(train)
    batch_size = effective_batch_size(n, config)
    # Square-root scaling keeps the noise of the update roughly constant when the batch shrinks.
    lr = config.lr * math.sqrt(batch_size / config.batch_size)
    n_steps = steps_per_epoch(n, batch_size)
    opt = make_optimizer(model, config, lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=config.epochs * n_steps, pct_start=config.pct_start,
        div_factor=config.div_factor, final_div_factor=config.final_div_factor,
        anneal_strategy="cos", cycle_momentum=True,
        base_momentum=config.beta1_range[0], max_momentum=config.beta1_range[1])
    # A generator of our own for the row order: the permutation does not depend on how many
    # random numbers dropout drew, and the order is reproducible from the seed alone.
    gen = torch.Generator().manual_seed(config.seed)
    net = torch.compile(model, dynamic=False) if config.compile else model
    history = History()
    # Step losses stay tensors in a preallocated buffer: no .item() sync per step, no graph kept.
    step_loss = torch.zeros(config.epochs * n_steps)
    step = 0
    for epoch in range(config.epochs):
        model.train()
        t0 = time.perf_counter()
        batches = torch.tensor_split(torch.randperm(n, generator=gen), n_steps)
        bar = tqdm(total=n_steps, desc=f"{desc} epoch {epoch + 1}/{config.epochs}", unit="batch",
                   disable=not config.progress, mininterval=1.0, leave=True)
        for i, idx in enumerate(batches):
            with autocast(config):
                pred = net(train.cats[idx], train.conts[idx])
            loss = F.mse_loss(pred, train.y_log[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            history.step_lr.append(sched.get_last_lr()[0])
            sched.step()
            step_loss[step] = loss.detach()
            step += 1
            bar.update(1)
            if i % 50 == 49:
                bar.set_postfix(loss=f"{step_loss[step - 50:step].mean():.4f}", refresh=False)
        train_seconds = time.perf_counter() - t0
        epoch_loss = float(step_loss[step - n_steps:step].mean())
        entry = {"epoch": epoch, "train_loss": epoch_loss, "seconds": train_seconds,
                 "rows_per_s": n / train_seconds, "rss_mb": current_rss_mb()}
        valid_rmspe = math.nan
        if valid is not None and valid.y_log is not None and len(valid):
            log_pred = predict_log(model, valid, config.eval_batch_size)
            entry["valid_loss"] = float(F.mse_loss(log_pred, valid.y_log))
            valid_rmspe = rmspe_from_log(log_pred, valid.y_log)
            entry["valid_rmspe"] = valid_rmspe
        bar.set_postfix(loss=f"{epoch_loss:.4f}", valid_rmspe=f"{valid_rmspe:.4f}")
        bar.close()
        history.epochs.append(entry)
        if epoch_callback is not None:
            epoch_callback(epoch, valid_rmspe)
    history.step_loss = step_loss.tolist()
    model.eval()
    return history
