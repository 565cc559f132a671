"""Where the network looks: hooks, the lesson's average-activation map, Grad-CAM, and the lesson's
hand-made convolution. Computation only: the figures are drawn by :mod:`pets.plots`.

Both maps read the output of ``model.body`` (the last conv block). The hooks live only inside
:func:`hook_output`, a context manager that always removes them, so a heatmap never leaves a
model slower or holding on to activations.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class HookedOutput:
    """What the hooks caught: the module's output and, after ``backward``, its gradient."""

    activations: torch.Tensor | None = None
    gradients: torch.Tensor | None = None


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
    upsampled = F.interpolate(cam[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    return upsampled.clamp(0, 1).cpu().numpy().astype(np.float32)


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
        class_idx = int(logits.argmax(1)) if target is None else int(target)
        if not 0 <= class_idx < logits.shape[1]:
            raise ValueError(f"class index {class_idx} out of range for {logits.shape[1]} classes")
        model.zero_grad(set_to_none=True)
        logits[0, class_idx].backward()
    acts, grads = caught.activations[0].float(), caught.gradients[0].float()
    weights = grads.mean(dim=(1, 2))
    cam = F.relu((weights[:, None, None] * acts).sum(0))
    model.zero_grad(set_to_none=True)
    return _normalize_upsample(cam, x.shape[-2:]), class_idx


def edge_kernel() -> torch.Tensor:
    """The lesson's hand-made 3x3 kernel (bottom-right edges), expanded to 3 input channels:
    shape (1, 3, 3, 3), so one output channel sums the response of R, G and B."""
    kernel = torch.tensor([[0.0, -5 / 3, 1.0],
                           [-5 / 3, -5 / 3, 1.0],
                           [1.0, 1.0, 1.0]])
    return kernel.expand(1, 3, 3, 3) / 6


def hand_convolution(image: torch.Tensor) -> torch.Tensor:
    """Apply :func:`edge_kernel` to a (3, H, W) image with ``F.conv2d``: (1, H-2, W-2)."""
    return F.conv2d(image[None].float(), edge_kernel())[0]
