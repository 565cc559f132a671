"""Photos to tensors, batching and the device: the helpers shared by training, the probe and the plots."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from pets.data import resize_short, to_uint8_tensor

ImageLike = Image.Image | torch.Tensor
# Photos per forward pass when only predicting or caching features. Small batches keep the
# activations in cache, which makes a photo faster on a CPU than in big batches (pets/RESULTS.md).
INFER_BATCH = 8


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def as_tensors(images: Sequence[ImageLike], size: int) -> list[torch.Tensor]:
    """PIL photos are resized (antialiased) so their short side is ``size``; tensors pass as is."""
    return [to_uint8_tensor(resize_short(img, size)) if isinstance(img, Image.Image) else img
            for img in images]


def batches(n: int, batch_size: int, gen: torch.Generator | None) -> list[np.ndarray]:
    """Indices ``0..n-1`` (shuffled by ``gen``, in order without it) split into near-equal batches:
    no batch of 1 (BatchNorm cannot train on it) and no photo dropped, which matters when there
    are only ~220 of them."""
    order = torch.randperm(n, generator=gen).numpy() if gen is not None else np.arange(n)
    return [b for b in np.array_split(order, max(1, math.ceil(n / batch_size))) if len(b)]
