"""fast.ai-style data augmentation on tensors, with a perspective warp and reflection padding.

Every geometric transform (square crop, flip, rotation, zoom, perspective warp) is folded into
one sampling grid, and the photo is resampled once with ``F.grid_sample``. Doing it in one go
avoids the blur of chained resamplings; doing it with ``padding_mode='reflection'`` is the point
of the lesson: torchvision's affine transforms can only pad with a constant, and the black
corners they leave are something the model can learn instead of the pet.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from pets.config import AugmentParams

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The input statistics each backbone's ImageNet weights were trained with. torchvision's ResNet-34
# uses the usual ImageNet mean/std; the EfficientNet-Lite weights come from TensorFlow, where
# Lite models scale pixels to [-1, 1] (mean = std = 0.5, as timm's tf_efficientnet_lite* configs
# say). With ImageNet's mean/std instead, the Lite0 linear probe is far worse (pets/RESULTS.md).
_LITE_STATS = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
NORM_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "resnet34": (IMAGENET_MEAN, IMAGENET_STD),
    "efficientnet_lite0": _LITE_STATS,
    "efficientnet_lite1": _LITE_STATS,
    "efficientnet_lite2": _LITE_STATS,
}


def norm_stats(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) for a backbone's input; ImageNet's for any backbone not listed."""
    return NORM_STATS.get(backbone, (IMAGENET_MEAN, IMAGENET_STD))


def _uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


def perspective_coeffs(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """The 3x3 homography mapping the 4 points ``src`` (4, 2) onto ``dst`` (4, 2)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src.tolist(), dst.tolist(), strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    coeffs = torch.linalg.solve(torch.tensor(rows, dtype=torch.float64), torch.tensor(rhs, dtype=torch.float64))
    return torch.cat([coeffs, coeffs.new_ones(1)]).reshape(3, 3).float()


def symmetric_warp_matrix(magnitudes: Sequence[float]) -> torch.Tensor:
    """fast.ai's ``symmetric_warp``: the corners move by ``magnitudes`` (4 values), pairwise
    symmetric, which tilts the photo as if seen from another angle."""
    mag = list(magnitudes)
    src = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    dst = torch.tensor([[-1 - mag[3], -1 - mag[1]], [-1 - mag[2], 1 + mag[1]],
                        [1 + mag[3], -1 - mag[0]], [1 + mag[2], 1 + mag[0]]])
    return perspective_coeffs(src, dst)


def _base_grid(size: int) -> torch.Tensor:
    # Pixel centres in grid_sample's normalised coordinates (align_corners=False).
    lin = (torch.arange(size, dtype=torch.float32) * 2 + 1) / size - 1
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    return torch.stack([xx, yy], dim=-1)  # (size, size, 2) as (x, y)


def sample_grid(size: int, src_hw: tuple[int, int], *, train: bool, params: AugmentParams,
                gen: torch.Generator) -> torch.Tensor:
    """A (1, size, size, 2) grid mapping the output square onto the source photo.

    Validation: the centre square of the photo. Training: a random square crop, then random
    flip, rotation, zoom (into a random point) and perspective warp, in that composition.
    """
    h, w = src_hw
    pts = _base_grid(size).reshape(-1, 2)
    if train:
        if params.p_affine > 0 and float(torch.rand((), generator=gen)) < params.p_affine:
            if params.max_warp > 0:
                hmat = symmetric_warp_matrix([_uniform(gen, -params.max_warp, params.max_warp)
                                              for _ in range(4)])
                homog = torch.cat([pts, pts.new_ones(len(pts), 1)], dim=1) @ hmat.T
                pts = homog[:, :2] / homog[:, 2:].clamp_min(1e-6)
            angle = math.radians(_uniform(gen, -params.max_rotate, params.max_rotate))
            zoom = _uniform(gen, 1.0, params.max_zoom)
            # Zooming into (cx, cy): fast.ai picks the centre uniformly so the zoomed view stays
            # inside the photo.
            cx = (1 - 1 / zoom) * _uniform(gen, -1.0, 1.0)
            cy = (1 - 1 / zoom) * _uniform(gen, -1.0, 1.0)
            cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
            rot = torch.tensor([[cos, -sin], [sin, cos]])
            pts = pts @ rot.T + torch.tensor([cx, cy])
        if params.do_flip and float(torch.rand((), generator=gen)) < 0.5:
            pts = pts * torch.tensor([-1.0, 1.0])
    # Square crop of a non-square photo: the output's [-1, 1] spans the short side only.
    side = min(h, w)
    sx, sy = side / w, side / h
    if train:
        ox, oy = (1 - sx) * _uniform(gen, -1.0, 1.0), (1 - sy) * _uniform(gen, -1.0, 1.0)
    else:
        ox = oy = 0.0
    pts = pts * torch.tensor([sx, sy]) + torch.tensor([ox, oy])
    return pts.reshape(1, size, size, 2)


def _logit(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(1e-6, 1 - 1e-6)
    return torch.log(x / (1 - x))


def adjust_lighting(img: torch.Tensor, *, brightness: float, contrast: float) -> torch.Tensor:
    """fast.ai's brightness and contrast, in logit space so values stay in (0, 1) without clipping.

    ``brightness`` in (0, 1), 0.5 = unchanged; ``contrast`` > 0, 1 = unchanged.
    """
    logit = _logit(img) * contrast + math.log(brightness / (1 - brightness))
    return torch.sigmoid(logit)


def normalize(x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """Normalisation (ImageNet's by default) of a (..., 3, H, W) tensor in [0, 1]."""
    mean_t = torch.tensor(mean, dtype=x.dtype, device=x.device).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x - mean_t) / std_t


def denormalize(x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """Undo :func:`normalize`: back to [0, 1] pixel values for display."""
    mean_t = torch.tensor(mean, dtype=x.dtype, device=x.device).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return x * std_t + mean_t


class Augmenter:
    """Turns uint8 photos (3, H, W) of any size into a normalised float batch (B, 3, size, size).

    ``Augmenter(size)(photos, train=True)`` augments; ``train=False`` centre-crops. The random
    draws come from the augmenter's own seeded generator, so a run is reproducible without
    touching global RNG state.
    """

    def __init__(self, size: int, params: AugmentParams | None = None, *, seed: int = 0,
                 padding_mode: str = "reflection", do_normalize: bool = True,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        if padding_mode not in ("reflection", "zeros", "border"):
            raise ValueError(f"padding_mode must be 'reflection', 'zeros' or 'border', got {padding_mode!r}")
        self.size = int(size)
        self.params = params or AugmentParams()
        self.padding_mode = padding_mode
        self.do_normalize = do_normalize
        self.mean, self.std = tuple(mean), tuple(std)
        self.gen = torch.Generator().manual_seed(seed)

    def transform(self, photo: torch.Tensor, *, train: bool) -> torch.Tensor:
        """One photo (3, H, W) uint8 or float in [0, 1] -> (3, size, size) float: augmented with
        ``train``, else the centre crop."""
        if photo.ndim != 3 or photo.shape[0] != 3:
            raise ValueError(f"expected a (3, H, W) image tensor, got shape {tuple(photo.shape)}")
        img = photo.float() / 255.0 if photo.dtype == torch.uint8 else photo.float()
        grid = sample_grid(self.size, (img.shape[1], img.shape[2]), train=train,
                           params=self.params, gen=self.gen)
        out = F.grid_sample(img[None], grid.to(img.device), mode="bilinear",
                            padding_mode=self.padding_mode, align_corners=False)[0]
        params = self.params
        if train and params.max_lighting > 0 and float(torch.rand((), generator=self.gen)) < params.p_lighting:
            # fast.ai: brightness(change=(0.5*(1-l), 0.5*(1+l))), contrast log-uniform in
            # (1-l, 1/(1-l)).
            brightness = _uniform(self.gen, 0.5 * (1 - params.max_lighting), 0.5 * (1 + params.max_lighting))
            lo, hi = math.log(1 - params.max_lighting), -math.log(1 - params.max_lighting)
            contrast = math.exp(_uniform(self.gen, lo, hi))
            out = adjust_lighting(out, brightness=brightness, contrast=contrast)
        return normalize(out, self.mean, self.std) if self.do_normalize else out

    def __call__(self, photos: Sequence[torch.Tensor], *, train: bool) -> torch.Tensor:
        return torch.stack([self.transform(photo, train=train) for photo in photos])
