"""Interpretation plots: the most-confused breed pairs and the highest-loss validation photos."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from core.io import pyplot
from pets.heatmap import save_figure


def most_confused(probs: np.ndarray, labels: np.ndarray, classes: Sequence[str], *, min_count: int = 1
                  ) -> list[tuple[str, str, int]]:
    """(actual, predicted, count) for every wrong pair seen at least ``min_count`` times,
    most frequent first (fast.ai's ``ClassificationInterpretation.most_confused``)."""
    pred = probs.argmax(1)
    pairs = Counter((int(a), int(p)) for a, p in zip(labels, pred) if a != p)
    rows = [(classes[a], classes[p], n) for (a, p), n in pairs.items() if n >= min_count]
    return sorted(rows, key=lambda r: (-r[2], r[0], r[1]))


def plot_most_confused(rows: list[tuple[str, str, int]], path: str | Path, top: int = 15) -> Path:
    plt = pyplot()
    rows = rows[:top]
    fig, ax = plt.subplots(figsize=(7, 0.4 * max(len(rows), 2) + 1))
    if rows:
        names = [f"{a} -> {p}" for a, p, _ in rows][::-1]
        ax.barh(names, [n for *_, n in rows][::-1], color="tab:red")
        ax.set_xlabel("validation photos (actual -> predicted)")
    else:
        ax.text(0.5, 0.5, "no confusions on the validation photos", ha="center", va="center")
        ax.axis("off")
    ax.set_title("most-confused breed pairs")
    return save_figure(fig, path, dpi=90)


def top_losses(probs: np.ndarray, labels: np.ndarray, k: int = 9) -> np.ndarray:
    """Indices of the ``k`` photos with the highest cross-entropy, highest first."""
    losses = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-8, 1.0))
    return np.argsort(-losses, kind="stable")[:k]


def plot_top_losses(clf: "PetsClassifier", photos: "PetPhotos", probs: np.ndarray,  # noqa: F821
                    path: str | Path, heatmap_dir: str | Path | None = None, k: int = 9) -> Path:
    """A grid of the ``k`` worst validation photos with their Grad-CAM for the predicted class
    (predicted / actual / loss / probability of the actual breed in the title). With
    ``heatmap_dir``, each also gets a full two-map overlay PNG there."""
    from pets.augment import denormalize
    from pets.heatmap import activation_map, grad_cam, save_overlay

    plt = pyplot()
    size = clf.config.sizes[-1]
    idx = top_losses(probs, photos.labels, k)
    cols = 3
    rows = max(1, int(np.ceil(len(idx) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.5 * rows), squeeze=False)
    aug = clf.augmenter(size)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, idx):
        photo = torch.from_numpy(np.array(photos.images[i].resize(
            _short(photos.images[i].size, size)))).permute(2, 0, 1).contiguous()
        x = aug([photo], train=False).to(clf.device)
        cam, pred = grad_cam(clf.model, x)
        image = denormalize(x[0].cpu(), aug.mean, aug.std).permute(1, 2, 0).clamp(0, 1).numpy()
        actual = int(photos.labels[i])
        loss = -np.log(max(probs[i, actual], 1e-8))
        ax.imshow(image)
        ax.imshow(cam, alpha=0.5, cmap="magma", vmin=0, vmax=1)
        ax.set_title(f"{clf.classes_[pred]} / {clf.classes_[actual]}\nloss {loss:.2f}, "
                     f"p(actual) {probs[i, actual]:.2f}", fontsize=8)
        if heatmap_dir is not None:
            avg, _ = activation_map(clf.model, x)
            save_overlay(image, {"average activation": avg, f"Grad-CAM: {clf.classes_[pred]}": cam},
                         Path(heatmap_dir) / f"{photos.paths[i].stem}_heatmap.png",
                         f"predicted {clf.classes_[pred]}, actual {clf.classes_[actual]}")
    fig.suptitle("top losses: predicted / actual (Grad-CAM of the prediction)")
    return save_figure(fig, path, dpi=80)


def _short(wh: tuple[int, int], size: int) -> tuple[int, int]:
    w, h = wh
    s = size / min(w, h)
    return max(1, round(w * s)), max(1, round(h * s))
