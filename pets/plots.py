"""Every figure of pets/, as PNG files: most-confused pairs, top losses with Grad-CAM, heatmap
overlays, augmentation grids and the hand-made convolution."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.errors import DataError
from core.io import pyplot, save_png
from core.seed import DEFAULT_SEED
from pets.augment import Augmenter, denormalize
from pets.classifier import PetsClassifier
from pets.config import AugmentParams
from pets.data import PetPhotos, load_rgb, to_uint8_tensor
from pets.heatmap import activation_map, grad_cam, hand_convolution
from pets.tensors import as_tensors

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def save_figure(fig: Figure, path: str | Path, dpi: int = 90) -> Path:
    """Lay out, save as PNG (atomically, creating the folder) and close ``fig``; returns the path."""
    fig.tight_layout()
    return save_png(fig, path, dpi=dpi)


def most_confused(probs: np.ndarray, labels: np.ndarray, classes: Sequence[str], *, min_count: int = 1
                  ) -> list[tuple[str, str, int]]:
    """(actual, predicted, count) for every wrong pair seen at least ``min_count`` times,
    most frequent first (fast.ai's ``ClassificationInterpretation.most_confused``)."""
    pred = probs.argmax(1)
    pairs = Counter((int(actual), int(predicted)) for actual, predicted in zip(labels, pred, strict=True)
                    if actual != predicted)
    rows = [(classes[actual], classes[predicted], count) for (actual, predicted), count in pairs.items()
            if count >= min_count]
    return sorted(rows, key=lambda row: (-row[2], row[0], row[1]))


def plot_most_confused(rows: list[tuple[str, str, int]], path: str | Path, top: int = 15) -> Path:
    """A bar per (actual -> predicted) pair of :func:`most_confused`'s rows, the ``top`` most frequent."""
    plt = pyplot()
    rows = rows[:top]
    fig, ax = plt.subplots(figsize=(7, 0.4 * max(len(rows), 2) + 1))
    if rows:
        names = [f"{actual} -> {predicted}" for actual, predicted, _ in rows][::-1]
        ax.barh(names, [count for *_, count in rows][::-1], color="tab:red")
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


def plot_top_losses(clf: PetsClassifier, photos: PetPhotos, probs: np.ndarray,
                    path: str | Path, heatmap_dir: str | Path | None = None, k: int = 9) -> Path:
    """A grid of the ``k`` worst validation photos with their Grad-CAM for the predicted class
    (predicted / actual / loss / probability of the actual breed in the title). With
    ``heatmap_dir``, each also gets a full two-map overlay PNG there."""
    plt = pyplot()
    size = clf.config.sizes[-1]
    idx = top_losses(probs, photos.labels, k)
    cols = 3
    rows = max(1, int(np.ceil(len(idx) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.5 * rows), squeeze=False)
    aug = clf.augmenter(size)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, idx, strict=False):  # the last row may have empty cells
        photo = as_tensors([photos.images[i]], size)[0]
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


def save_overlay(image: np.ndarray, maps: dict[str, np.ndarray], path: str | Path,
                 title: str = "") -> Path:
    """One panel per map: the photo (H, W, 3 in [0, 1]) with the map over it in 'magma'."""
    plt = pyplot()

    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(3.2 * (len(maps) + 1), 3.4))
    axes[0].imshow(image)
    axes[0].set_title("photo", fontsize=9)
    for ax, (name, cam) in zip(axes[1:], maps.items(), strict=True):
        ax.imshow(image)
        ax.imshow(cam, alpha=0.6, cmap="magma", vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=90)


def heatmap_for_image(clf: PetsClassifier, image_path: str | Path, out_dir: str | Path,
                      class_name: str | None = None) -> Path:
    """Both maps for one photo file, for the predicted class or ``class_name``; returns the PNG."""
    size = clf.config.sizes[-1]
    try:
        photo = to_uint8_tensor(load_rgb(image_path, size))
    except FileNotFoundError as err:
        raise DataError("image not found", file=image_path, fix="pass IMAGE=path/to/photo.jpg") from err
    except Exception as err:
        raise DataError(f"cannot read the image ({type(err).__name__}: {err})", file=image_path,
                        fix="pass a JPEG or PNG photo") from err
    target = None
    if class_name:
        if class_name not in clf.classes_:
            raise DataError(f"unknown class {class_name!r}",
                            fix=f"use one of the model's classes, e.g. {', '.join(clf.classes_[:5])}, ...")
        target = clf.classes_.index(class_name)
    aug = clf.augmenter(size)
    x = aug([photo], train=False).to(clf.device)
    model = clf.model
    avg, pred = activation_map(model, x)
    cam, class_idx = grad_cam(model, x, target)
    with torch.no_grad():
        prob = float(model(x).softmax(1)[0, class_idx])
    image = denormalize(x[0].cpu(), aug.mean, aug.std).permute(1, 2, 0).clamp(0, 1).numpy()
    title = (f"predicted {clf.classes_[pred]}; Grad-CAM for {clf.classes_[class_idx]} (p={prob:.2f})")
    suffix = f"_{clf.classes_[class_idx]}" if class_name else ""
    return save_overlay(image, {"average activation": avg, f"Grad-CAM: {clf.classes_[class_idx]}": cam},
                        Path(out_dir) / f"{Path(image_path).stem}{suffix}_heatmap.png", title)


def save_hand_convolution(image: torch.Tensor, path: str | Path) -> Path:
    """The photo and its edge response side by side, as a PNG."""
    plt = pyplot()

    out = hand_convolution(image)[0].numpy()
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.6))
    axes[0].imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
    axes[0].set_title("photo")
    axes[1].imshow(out, cmap="gray")
    axes[1].set_title("F.conv2d with the hand-made 3x3 edge kernel")
    for ax in axes:
        ax.axis("off")
    return save_figure(fig, path, dpi=90)


def save_augment_grid(photo: torch.Tensor, path: str | Path, *, padding_mode: str, size: int = 224,
                      seed: int = DEFAULT_SEED, params: AugmentParams | None = None) -> Path:
    """Nine augmented copies of one (3, H, W) uint8 photo in a 3x3 grid. The same seed draws the
    same nine transforms for both padding modes, so the two grids differ only in the padding."""
    plt = pyplot()

    aug = Augmenter(size, params, seed=seed, padding_mode=padding_mode, do_normalize=False)
    fig, axes = plt.subplots(3, 3, figsize=(8, 8))
    for ax in axes.flat:
        ax.imshow(aug.transform(photo, train=True).permute(1, 2, 0).clamp(0, 1).numpy())
        ax.axis("off")
    fig.suptitle(f"get_transforms(max_rotate=20, max_zoom=1.3, max_lighting=0.4, max_warp=0.4): "
                 f"padding_mode={padding_mode!r}", fontsize=9)
    return save_figure(fig, path, dpi=80)
