"""LightGBM's plots."""
from __future__ import annotations

from pathlib import Path

from core.io import pyplot, save_png
from models.lgbm.estimator import LGBMSalesRegressor


def save_importance_plot(model: LGBMSalesRegressor, path: Path, top: int = 30) -> None:
    """Horizontal bar chart of gain importance (share of total gain), written atomically."""
    plt = pyplot()

    imp = model.feature_importance("gain")
    share = (imp / max(imp.sum(), 1e-12)).head(top)[::-1]
    fig, ax = plt.subplots(figsize=(7, max(3, 0.28 * len(share) + 1)))
    ax.barh(share.index, share.values, color="tab:green")
    ax.set_xlabel("share of total split gain")
    ax.set_title(f"LightGBM feature importance (top {len(share)}, {model.rounds_} trees)")
    fig.tight_layout()
    save_png(fig, path)
