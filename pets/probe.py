"""Linear probe: logistic regression on frozen, pooled backbone features (no fine-tuning).

It is the baseline the fine-tuned network has to beat; on the 296 shared photos EfficientNet-Lite0
features give about 82%.
"""
from __future__ import annotations

import numpy as np
import torch

from pets.augment import Augmenter, norm_stats
from pets.data import PetPhotos
from pets.models import PetsNet
from pets.train import _as_tensors, _batches, default_device


@torch.no_grad()
def extract_features(net: PetsNet, photos: PetPhotos, size: int = 224,
                     device: torch.device | None = None, backbone: str = "efficientnet_lite0"
                     ) -> np.ndarray:
    """Average-pooled last-block features of centre crops, body in eval mode: (n, n_features)."""
    device = device or default_device()
    net = net.to(device).eval()
    tensors = _as_tensors(photos.images, size)
    mean, std = norm_stats(backbone)
    aug = Augmenter(size, mean=mean, std=std)
    feats = []
    for idx in _batches(len(tensors), 64, None):
        x = aug([tensors[i] for i in idx], train=False).to(device)
        feats.append(net.body(x).mean(dim=(2, 3)).cpu())
    return torch.cat(feats).numpy()


def linear_probe(train: PetPhotos, valid: PetPhotos, *, backbone: str = "efficientnet_lite0",
                 weights: str = "imagenet", size: int = 224, seed: int = 42) -> float:
    """Held-out accuracy of a logistic regression on frozen features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    net = PetsNet(backbone, len(train.classes), weights=weights)
    x_train = extract_features(net, train, size, backbone=backbone)
    x_valid = extract_features(net, valid, size, backbone=backbone)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, random_state=seed))
    probe.fit(x_train, train.labels)
    return float(probe.score(x_valid, valid.labels))
