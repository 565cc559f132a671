"""PNG plots: loss curves of the fits, and the LR finder's loss against LR."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.io import pyplot, save_png


def smooth(values: Sequence[float], beta: float = 0.98) -> np.ndarray:
    """Debiased exponential moving average (what fast.ai plots), so noisy step losses read well."""
    out, avg = np.empty(len(values)), 0.0
    for i, v in enumerate(values):
        avg = beta * avg + (1 - beta) * v
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def plot_loss_curves(fits: dict[str, dict], path: Path) -> Path:
    """One panel per fit: smoothed train MSE per step, validation MSE per epoch, LR on a twin axis.

    `fits` maps a title to `{"step_loss": [...], "step_lr": [...], "epochs": history}`.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, len(fits), figsize=(6.5 * len(fits), 4.2), squeeze=False)
    for ax, (title, fit) in zip(axes[0], fits.items()):
        losses = fit["step_loss"]
        n_epochs = max(1, len(fit["epochs"]))
        steps_per_epoch = len(losses) / n_epochs
        ax.plot(np.arange(len(losses)), smooth(losses), label="train MSE (smoothed)")
        valid = [(e["epoch"], e["valid_loss"]) for e in fit["epochs"] if "valid_loss" in e]
        if valid:
            ax.plot([(ep + 1) * steps_per_epoch for ep, _ in valid], [v for _, v in valid], "o-",
                    label="validation MSE")
        ax.set(title=title, xlabel="step", ylabel="MSE of log Sales", yscale="log")
        ax.grid(alpha=0.3)
        ax2 = ax.twinx()
        ax2.plot(fit["step_lr"], color="gray", alpha=0.4, lw=1)
        ax2.set_ylabel("LR", color="gray")
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return save_png(fig, path)


def plot_lr_find(lrs: Sequence[float], losses: Sequence[float], suggestion: float, path: Path) -> Path:
    """The LR finder's smoothed loss against the learning rate (log scale), the suggestion marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(lrs, losses)
    ax.axvline(suggestion, color="red", ls="--", label=f"suggested peak LR {suggestion:.1e}")
    ax.set(xscale="log", xlabel="learning rate", ylabel="train MSE (smoothed)", title="LR finder")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_png(fig, path)
