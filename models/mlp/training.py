"""The training loop, on tensors: AdamW + OneCycleLR, index-sliced batches, bf16 autocast, on the CPU
or a CUDA device (``MLPConfig.device``)."""
from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from competition.metric import rmspe
from models.mlp.config import MLPConfig

EpochCallback = Callable[[int, float], None]


@dataclass
class TensorData:
    """One table as tensors: categorical codes, normalised continuous values, log target."""

    cats: torch.Tensor                 # int32 (or int64) [n, n_cat]
    conts: torch.Tensor                # float32 [n, n_cont]
    y_log: torch.Tensor | None = None  # float32 [n]
    y_aux: torch.Tensor | None = None  # float32 [n]: log Customers, for a network with a second output

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


def resolve_device(config: MLPConfig) -> torch.device:
    """The device of ``config.device``: "auto" is CUDA when torch sees one, else the CPU."""
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"MLPConfig.device={config.device!r}, but torch sees no CUDA device here: use device='auto' "
                         "(the GPU when there is one) or 'cpu'")
    return device


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 matmuls in hardware: a GPU that supports them, a CPU with AVX-512
    BF16 or AMX (oneDNN's check). Elsewhere torch emulates bf16, and an epoch takes 23x as
    long as in fp32 (an AVX2 CPU, docs/RESULTS.md)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def bf16_enabled(config: MLPConfig, device: torch.device) -> bool:
    """``config.use_bf16``, or where it is None (the default), whether ``device`` has native bf16."""
    return native_bf16(device) if config.use_bf16 is None else config.use_bf16


def autocast(config: MLPConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast for the Linear layers when enabled; fp32 master weights and loss either way."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16_enabled(config, device))


def on_device(data: TensorData, device: torch.device) -> TensorData:
    """``data`` on ``device`` (itself when it is there already): one copy per fit, not per batch."""
    if data.cats.device == device:
        return data
    return TensorData(data.cats.to(device), data.conts.to(device),
                      None if data.y_log is None else data.y_log.to(device),
                      None if data.y_aux is None else data.y_aux.to(device))


def make_optimizer(model: nn.Module, config: MLPConfig, lr: float) -> torch.optim.AdamW:
    # fused: one kernel for the whole update instead of ~10 elementwise passes per parameter; it
    # matters because there are only ~0.8M parameters per ~2K-row step.
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=(config.beta1_range[1], config.beta2),
                             eps=config.eps, weight_decay=config.weight_decay, fused=True)


def one_cycle(opt: torch.optim.Optimizer, lr: float, total_steps: int, config: MLPConfig
              ) -> torch.optim.lr_scheduler.LRScheduler:
    """fast.ai's one-cycle schedule; a constant LR for runs of fewer than 3 steps.

    `OneCycleLR` divides by (pct_start * total_steps - 1) and by what is left of the cycle, so a
    warm-up or an annealing phase shorter than one step raises ZeroDivisionError. The warm-up
    fraction is therefore kept in [2 / total_steps, 1 - 1 / total_steps].
    """
    if total_steps < 3:
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    pct = min(max(config.pct_start, 2.0 / total_steps), 1.0 - 1.0 / total_steps)
    return torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=total_steps, pct_start=pct,
        div_factor=config.div_factor, final_div_factor=config.final_div_factor,
        anneal_strategy="cos", cycle_momentum=True,
        base_momentum=config.beta1_range[0], max_momentum=config.beta1_range[1])


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    # Rows are split into equal chunks of at most ~batch_size, so there is never a tiny last batch
    # (a batch of 1 breaks BatchNorm, a batch of 5 makes a noisy step) and every row is used.
    return max(1, round(n_rows / batch_size))


def train_step(net: nn.Module, opt: torch.optim.Optimizer, cats: torch.Tensor, conts: torch.Tensor,
               y_log: torch.Tensor, config: MLPConfig, y_aux: torch.Tensor | None = None) -> torch.Tensor:
    """One optimizer step on one batch (bf16 autocast forward, fp32 MSE); returns the loss, detached.
    With a second output (``y_aux``) the loss adds ``config.customers_weight`` times its MSE."""
    with autocast(config, cats.device):
        pred = net(cats, conts)
    if pred.dim() == 2:
        if y_aux is None:
            raise ValueError("the network has a second output (MLPConfig.customers_weight > 0) but the batch has no "
                             "auxiliary target: build the tensors from rows with Customers (MLPRegressor.tensors)")
        loss = F.mse_loss(pred[:, 0], y_log) + config.customers_weight * F.mse_loss(pred[:, 1], y_aux)
    else:
        loss = F.mse_loss(pred, y_log)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


@torch.inference_mode()
def predict_log(model: nn.Module, data: TensorData, config: MLPConfig) -> torch.Tensor:
    """Log-Sales predictions in eval mode, under the same autocast as training.

    bf16 halves the time of an evaluation and leaves the RMSPE unchanged to the fourth decimal
    (docs/RESULTS.md, "Measurements the code relies on"); the network trained under bf16 anyway,
    and its output layer stays fp32.
    """
    model.eval()
    bs = config.eval_batch_size
    device = model_device(model)
    with autocast(config, device):
        out = [model(data.cats[i:i + bs].to(device), data.conts[i:i + bs].to(device))
               for i in range(0, len(data), bs)]
    if not out:
        return torch.empty(0)
    out = torch.cat(out).float().cpu()
    return out[:, 0] if out.dim() == 2 else out


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
    y = np.exp(y_log.double().numpy())
    return float(rmspe(y, np.exp(log_pred.double().numpy())))


def fit_network(model: nn.Module, train: TensorData, config: MLPConfig, valid: TensorData | None = None,
                epoch_callback: EpochCallback | None = None, desc: str = "fit",
                rows: torch.Tensor | None = None) -> History:
    """Train `model` in place for `config.epochs` one-cycle epochs and return the history.

    `epoch_callback(epoch, valid_rmspe)` runs after every epoch (epoch counts from 0; the RMSPE is
    NaN without `valid`). Exceptions it raises, such as `optuna.TrialPruned`, propagate.
    `rows` (int64 indices into `train`) makes up an epoch instead of every row once: a row listed
    twice is seen twice per epoch, without a second copy of the table in memory.
    """
    assert train.y_log is not None
    if rows is not None and len(rows) and not (0 <= int(rows.min()) and int(rows.max()) < len(train)):
        raise IndexError(f"rows must index the {len(train):,} training rows, got {int(rows.min())}..{int(rows.max())}")
    n = len(train) if rows is None else len(rows)
    device = model_device(model)
    # The whole table moves to the device once (a few hundred MB at most); batches are then slices.
    train = on_device(train, device)
    if rows is not None:
        rows = rows.to(device)
    batch_size = effective_batch_size(n, config)
    # Square-root scaling keeps the noise of the update roughly constant when the batch shrinks.
    lr = config.lr * math.sqrt(batch_size / config.batch_size)
    n_steps = steps_per_epoch(n, batch_size)
    opt = make_optimizer(model, config, lr)
    sched = one_cycle(opt, lr, config.epochs * n_steps, config)
    # A generator of our own for the row order: the permutation does not depend on how many
    # random numbers dropout drew, and the order is reproducible from the seed alone.
    gen = torch.Generator().manual_seed(config.seed)
    history = History()
    # Step losses stay tensors in a preallocated buffer: no .item() sync per step, no graph kept.
    step_loss = torch.zeros(config.epochs * n_steps, device=device)
    step = 0
    for epoch in range(config.epochs):
        model.train()
        t0 = time.perf_counter()
        # Shuffle the whole table once per epoch; batches are then contiguous slices (views),
        # cheaper than gathering 1K scattered rows from three tensors at every step.
        perm = torch.randperm(n, generator=gen).to(device)
        if rows is not None:
            perm = rows[perm]
        cats, conts, y_log = train.cats[perm], train.conts[perm], train.y_log[perm]
        y_aux = None if train.y_aux is None else train.y_aux[perm]
        bounds = [len(b) for b in torch.tensor_split(torch.arange(n), n_steps)]
        bar = tqdm(total=n_steps, desc=f"{desc} epoch {epoch + 1}/{config.epochs}", unit="batch",
                   disable=not config.progress, mininterval=1.0, leave=True)
        start = 0
        for i, size in enumerate(bounds):
            sl = slice(start, start + size)
            start += size
            step_loss[step] = train_step(model, opt, cats[sl], conts[sl], y_log[sl], config,
                                         None if y_aux is None else y_aux[sl])
            history.step_lr.append(sched.get_last_lr()[0])
            sched.step()
            step += 1
            bar.update(1)
            if i % 50 == 49:
                bar.set_postfix(loss=f"{step_loss[step - 50:step].mean():.4f}", refresh=False)
        del cats, conts, y_log, y_aux  # memory stays flat: one shuffled copy at a time
        train_seconds = time.perf_counter() - t0
        epoch_loss = float(step_loss[step - n_steps:step].mean())
        entry = {"epoch": epoch, "train_loss": epoch_loss, "seconds": train_seconds,
                 "rows_per_s": n / train_seconds, "rss_mb": current_rss_mb()}
        valid_rmspe = math.nan
        if valid is not None and valid.y_log is not None and len(valid):
            log_pred = predict_log(model, valid, config)
            entry["valid_loss"] = float(F.mse_loss(log_pred, valid.y_log.cpu()))
            valid_rmspe = rmspe_from_log(log_pred, valid.y_log)
            entry["valid_rmspe"] = valid_rmspe
        bar.set_postfix(loss=f"{epoch_loss:.4f}", valid_rmspe=f"{valid_rmspe:.4f}")
        bar.close()
        history.epochs.append(entry)
        if epoch_callback is not None:
            epoch_callback(epoch, valid_rmspe)
    history.step_loss = step_loss.cpu().tolist()
    model.eval()
    return history
