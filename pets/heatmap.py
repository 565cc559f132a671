"""Where the network looks: hooks, the lesson's average-activation map, Grad-CAM, overlays, and
the lesson's hand-made convolution.

Both maps read the output of ``model.body`` (the last conv block). The hooks live only inside
:func:`hook_output`, a context manager that always removes them, so a heatmap never leaves a
model slower or holding on to activations.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import DataError
from core.io import pyplot, save_png


@dataclass
class HookedOutput:
    """What the hooks caught: the module's output and, after ``backward``, its gradient."""

    activations: torch.Tensor | None = None
    gradients: torch.Tensor | None = None


def save_figure(fig: "matplotlib.figure.Figure", path: str | Path, dpi: int = 90) -> Path:  # noqa: F821
    """Lay out, save as PNG (atomically, creating the folder) and close ``fig``; returns the path."""
    fig.tight_layout()
    return save_png(fig, path, dpi=dpi)


@contextmanager
def hook_output(module: nn.Module, *, gradients: bool = True) -> Iterator[HookedOutput]:
    """Catch ``module``'s forward output (and its gradient) while inside the ``with`` block.

    The gradient is caught with a hook on the output *tensor*, which goes away with the graph;
    the module's forward hook is removed on exit, even when the block raises.
    """
    caught = HookedOutput()

    def keep_grad(grad: torch.Tensor) -> None:
        caught.gradients = grad.detach()

    def on_forward(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        caught.activations = output.detach()
        if gradients and output.requires_grad:
            output.register_hook(keep_grad)

    handle = module.register_forward_hook(on_forward)
    try:
        yield caught
    finally:
        handle.remove()


def _normalize_upsample(cam: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Min-max to [0, 1] at feature-map resolution, then bilinear to the image's (H, W).

    Normalising before resizing (as pytorch-grad-cam does) keeps bilinear interpolation inside
    [0, 1]; a flat map (e.g. no positive evidence at all) becomes all zeros, not NaN.
    """
    cam = cam - cam.min()
    top = cam.max()
    cam = cam / top if top > 0 else torch.zeros_like(cam)
    up = F.interpolate(cam[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    return up.clamp(0, 1).cpu().numpy().astype(np.float32)


def _check_input(x: torch.Tensor) -> torch.Tensor:
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"expected one normalised image (3, H, W) or (1, 3, H, W), got {tuple(x.shape)}")
    return x


def activation_map(model: nn.Module, x: torch.Tensor, *, layer: nn.Module | None = None
                   ) -> tuple[np.ndarray, int]:
    """The lesson's heatmap: the last conv block's activations averaged over channels.

    It does not depend on a class (the average is over every channel, before the head), so it
    shows what the body finds salient; returns ``(map (H, W) in [0, 1], predicted class)``.
    """
    x = _check_input(x)
    layer = layer if layer is not None else model.body
    model.eval()
    with torch.no_grad(), hook_output(layer, gradients=False) as caught:
        pred = int(model(x).argmax(1))
    return _normalize_upsample(caught.activations[0].float().mean(0), x.shape[-2:]), pred


def grad_cam(model: nn.Module, x: torch.Tensor, target: int | None = None, *,
             layer: nn.Module | None = None) -> tuple[np.ndarray, int]:
    """Grad-CAM: ReLU of the activations weighted by the spatially averaged gradient of the
    class score; ``target`` defaults to the predicted class. Returns ``(map (H, W) in [0, 1],
    class used)``."""
    x = _check_input(x).clone().requires_grad_(True)  # a graph even if every weight is frozen
    layer = layer if layer is not None else model.body
    model.eval()
    with torch.enable_grad(), hook_output(layer) as caught:
        logits = model(x)
        cls = int(logits.argmax(1)) if target is None else int(target)
        if not 0 <= cls < logits.shape[1]:
            raise ValueError(f"class index {cls} out of range for {logits.shape[1]} classes")
        model.zero_grad(set_to_none=True)
        logits[0, cls].backward()
    acts, grads = caught.activations[0].float(), caught.gradients[0].float()
    weights = grads.mean(dim=(1, 2))
    cam = F.relu((weights[:, None, None] * acts).sum(0))
    model.zero_grad(set_to_none=True)
    return _normalize_upsample(cam, x.shape[-2:]), cls


def save_overlay(image: np.ndarray, maps: dict[str, np.ndarray], path: str | Path,
                 title: str = "") -> Path:
    """One panel per map: the photo (H, W, 3 in [0, 1]) with the map over it in 'magma'."""
    plt = pyplot()

    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(3.2 * (len(maps) + 1), 3.4))
    axes[0].imshow(image)
    axes[0].set_title("photo", fontsize=9)
    for ax, (name, cam) in zip(axes[1:], maps.items()):
        ax.imshow(image)
        ax.imshow(cam, alpha=0.6, cmap="magma", vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=90)


def edge_kernel() -> torch.Tensor:
    """The lesson's hand-made 3x3 kernel (bottom-right edges), expanded to 3 input channels:
    shape (1, 3, 3, 3), so one output channel sums the response of R, G and B."""
    k = torch.tensor([[0.0, -5 / 3, 1.0],
                      [-5 / 3, -5 / 3, 1.0],
                      [1.0, 1.0, 1.0]])
    return k.expand(1, 3, 3, 3) / 6


def hand_convolution(image: torch.Tensor) -> torch.Tensor:
    """Apply :func:`edge_kernel` to a (3, H, W) image with ``F.conv2d``: (1, H-2, W-2)."""
    return F.conv2d(image[None].float(), edge_kernel())[0]


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


def heatmap_for_image(clf: "PetsClassifier", image_path: str | Path, out_dir: str | Path,  # noqa: F821
                      class_name: str | None = None) -> Path:
    """Both maps for one photo file, for the predicted class or ``class_name``; returns the PNG."""
    from pets.augment import denormalize
    from pets.data import load_rgb, to_uint8_tensor

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
    cam, cls = grad_cam(model, x, target)
    with torch.no_grad():
        prob = float(model(x).softmax(1)[0, cls])
    image = denormalize(x[0].cpu(), aug.mean, aug.std).permute(1, 2, 0).clamp(0, 1).numpy()
    title = (f"predicted {clf.classes_[pred]}; Grad-CAM for {clf.classes_[cls]} (p={prob:.2f})")
    suffix = f"_{clf.classes_[cls]}" if class_name else ""
    return save_overlay(image, {"average activation": avg, f"Grad-CAM: {clf.classes_[cls]}": cam},
                        Path(out_dir) / f"{Path(image_path).stem}{suffix}_heatmap.png", title)


def main(argv: list[str] | None = None) -> int:
    from pets.train import PetsClassifier

    parser = argparse.ArgumentParser(prog="python -m pets.heatmap", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model.pt written by pets.train")
    parser.add_argument("--image", required=True, help="a photo")
    parser.add_argument("--class", dest="class_name", default=None,
                        help="breed to explain (default: the predicted one)")
    parser.add_argument("--out", required=True, help="folder for the PNG")
    args = parser.parse_args(argv)
    clf = PetsClassifier.load(args.model)
    path = heatmap_for_image(clf, args.image, args.out, args.class_name or None)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
