"""Linear probe: logistic regression on frozen, pooled backbone features (no fine-tuning).

It is the baseline the trained network has to beat (pets/RESULTS.md has the cross-validated
numbers per backbone).
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from core.seed import DEFAULT_SEED
from pets.augment import Augmenter, norm_stats
from pets.config import NATIVE_SIZE, AugmentParams
from pets.data import PetPhotos
from pets.models import PetsNet
from pets.tensors import INFER_BATCH, as_tensors, batches, default_device


@torch.no_grad()
def extract_views(net: PetsNet, photos: PetPhotos, size: int, *, backbone: str, n_aug: int = 0,
                  mirror: bool = True, seed: int = 0, device: torch.device | None = None,
                  progress: bool = False) -> np.ndarray:
    """Average-pooled last-block features, body in eval mode: (1 + mirror + n_aug, n, n_features).

    View 0 is the centre crop, then (with ``mirror``) its mirror image, then ``n_aug`` training
    augmentations (the lesson's, seeded).
    """
    device = device or default_device()
    net = net.to(device).eval()
    tensors = as_tensors(photos.images, size)
    mean, std = norm_stats(backbone)
    aug = Augmenter(size, AugmentParams(), seed=seed, mean=mean, std=std)
    first_aug = 1 + int(mirror)
    views: list[list[torch.Tensor]] = [[] for _ in range(first_aug + n_aug)]
    for idx in tqdm(batches(len(tensors), INFER_BATCH, None), desc=f"{backbone} features at {size} px",
                    disable=not progress, leave=False):
        chunk = [tensors[i] for i in idx]
        centre = aug(chunk, train=False).to(device)
        views[0].append(net.body(centre).mean(dim=(2, 3)).cpu())
        if mirror:
            views[1].append(net.body(centre.flip(-1)).mean(dim=(2, 3)).cpu())
        for view in range(n_aug):
            views[first_aug + view].append(net.body(aug(chunk, train=True).to(device)).mean(dim=(2, 3)).cpu())
    return torch.stack([torch.cat(v) for v in views]).numpy()


def extract_features(net: PetsNet, photos: PetPhotos, size: int = 224,
                     device: torch.device | None = None, backbone: str = "efficientnet_lite0"
                     ) -> np.ndarray:
    """Average-pooled last-block features of centre crops, body in eval mode: (n, n_features)."""
    return extract_views(net, photos, size, backbone=backbone, mirror=False, device=device)[0]


class LinearProbe:
    """Standardised features -> multinomial logistic regression, scikit-learn style.

    ``fit`` and ``predict_proba`` take views ``(n_views, n, d)`` (or one view ``(n, d)``):
    training uses the first ``train_views`` views of every photo as extra examples, prediction
    averages the probabilities of the first ``test_views`` views (centre and mirror: flip TTA).
    """

    def __init__(self, *, C: float = 1.0, train_views: int = 1, test_views: int = 1,
                 max_iter: int = 3000, seed: int = DEFAULT_SEED) -> None:
        self.C = C
        self.train_views = train_views
        self.test_views = test_views
        self.max_iter = max_iter
        self.seed = seed

    @staticmethod
    def _as_views(x: np.ndarray) -> np.ndarray:
        return x[None] if x.ndim == 2 else x

    def fit(self, x: np.ndarray, y: np.ndarray) -> LinearProbe:
        views = self._as_views(x)[: self.train_views]
        self.pipeline_ = make_pipeline(
            StandardScaler(), LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed))
        self.pipeline_.fit(views.reshape(-1, views.shape[-1]), np.tile(y, len(views)))
        self.classes_ = self.pipeline_.classes_
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        views = self._as_views(x)[: self.test_views]
        return np.mean([self.pipeline_.predict_proba(v) for v in views], axis=0)

    def score(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.classes_[self.predict_proba(x).argmax(1)] == y).mean())


def linear_probe(train: PetPhotos, valid: PetPhotos, *, backbone: str = "efficientnet_lite0",
                 weights: str = "imagenet", size: int | None = None, seed: int = DEFAULT_SEED) -> float:
    """Held-out accuracy of a logistic regression on frozen centre-crop features at the
    backbone's native size (or ``size``)."""
    size = size or NATIVE_SIZE[backbone]
    net = PetsNet(backbone, len(train.classes), weights=weights)
    x_train = extract_features(net, train, size, backbone=backbone)
    x_valid = extract_features(net, valid, size, backbone=backbone)
    return LinearProbe(seed=seed).fit(x_train, train.labels).score(x_valid, valid.labels)
