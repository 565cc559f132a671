"""The pets classifier: frozen body then unfrozen with discriminative learning rates, one-cycle,
progressive resizing; prediction with optional test-time augmentation; checkpoints with their
config JSON."""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from core.errors import DataError
from pets.augment import Augmenter, norm_stats
from pets.config import AugmentParams, PetsConfig
from pets.data import PetPhotos
from pets.models import PetsNet
from pets.tensors import INFER_BATCH, ImageLike, as_tensors, batches, default_device


class PetsClassifier:
    """A scikit-learn-like wrapper: ``fit(train, valid)``, ``predict``, ``predict_proba``,
    ``score``, ``save`` / ``load``.

    ``history_`` holds one dict per epoch (stage, size, phase, losses, error rate, seconds).
    """

    def __init__(self, config: PetsConfig | None = None, *, device: str | torch.device | None = None,
                 progress: bool = True) -> None:
        self.config = config or PetsConfig()
        self.device = torch.device(device) if device is not None else default_device()
        self.progress = progress
        self.model_: PetsNet | None = None
        self.classes_: list[str] = list(self.config.classes)
        self.history_: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ building
    def _augment_params(self) -> AugmentParams:
        # Every AugmentParams field that PetsConfig carries (all but do_flip, which stays on).
        return AugmentParams(**{f.name: getattr(self.config, f.name) for f in dataclasses.fields(AugmentParams)
                                if hasattr(self.config, f.name)})

    def augmenter(self, size: int, *, seed: int | None = None) -> Augmenter:
        """The augmenter for this model: its augmentation settings and its backbone's input stats."""
        mean, std = norm_stats(self.config.backbone)
        return Augmenter(size, self._augment_params(), seed=self.config.seed if seed is None else seed,
                         mean=mean, std=std)

    def build(self, classes: Sequence[str], *, weights: str | None = None) -> PetsClassifier:
        self.classes_ = list(classes)
        self.config.classes = list(classes)
        self.model_ = PetsNet(self.config.backbone, len(classes),
                              weights=self.config.weights if weights is None else weights,
                              final_bn=self.config.final_bn).to(self.device)
        return self

    @property
    def model(self) -> PetsNet:
        if self.model_ is None:
            raise RuntimeError("the classifier is not fitted: call fit() or PetsClassifier.load() first")
        return self.model_

    # ------------------------------------------------------------------ training
    def fit(self, train: PetPhotos, valid: PetPhotos | None = None) -> PetsClassifier:
        """Progressive resizing: per size, a frozen one-cycle then an unfrozen one-cycle."""
        cfg = self.config
        if len(train) == 0:
            raise DataError("no training photos", fix="check PETS_DIR and the split")
        if self.model_ is None:
            self.build(train.classes)
        gen = torch.Generator().manual_seed(cfg.seed)
        if cfg.warmup_epochs > 0:
            # At the final size: that is where the pretrained features are best (a linear probe
            # on 160-px crops is worse than on 224-px ones) and where the model is used.
            size = cfg.sizes[-1]
            self._warmup_head(as_tensors(train.images, size), train.labels,
                              as_tensors(valid.images, size) if valid is not None and len(valid) else None,
                              None if valid is None else valid.labels,
                              aug=self.augmenter(size, seed=cfg.seed - 1), gen=gen)
        for stage, size in enumerate(cfg.sizes):
            train_x = as_tensors(train.images, size)
            valid_x = as_tensors(valid.images, size) if valid is not None and len(valid) else None
            aug = self.augmenter(size, seed=cfg.seed + 1000 * stage)
            for phase, epochs in (("frozen", cfg.frozen_epochs[stage]), ("unfrozen", cfg.unfrozen_epochs[stage])):
                if epochs <= 0:
                    continue
                self._fit_one_cycle(train_x, train.labels, valid_x, None if valid is None else valid.labels,
                                    aug=aug, epochs=epochs, phase=phase, stage=stage, gen=gen)
        return self

    @torch.no_grad()
    def _pooled_features(self, photos: list[torch.Tensor], aug: Augmenter, *, train: bool) -> torch.Tensor:
        """The head's input (concat pool of the body's output), body in eval mode."""
        model = self.model.eval()
        pool = model.head[0]
        return torch.cat([pool(model.body(aug([photos[i] for i in idx], train=train).to(self.device)))
                          for idx in batches(len(photos), INFER_BATCH, None)])

    def _warmup_head(self, train_x: list[torch.Tensor], train_y: np.ndarray,
                     valid_x: list[torch.Tensor] | None, valid_y: np.ndarray | None, *,
                     aug: Augmenter, gen: torch.Generator) -> None:
        """Fit the head alone (one-cycle) on cached features of augmented views; see PetsConfig."""
        cfg, model = self.config, self.model
        start = time.time()
        views = [self._pooled_features(train_x, aug, train=False)]
        for _ in tqdm(range(cfg.warmup_views), desc="head warm-up: caching features",
                      disable=not self.progress, leave=False):
            views.append(self._pooled_features(train_x, aug, train=True))
        feats = torch.cat(views)
        labels = torch.as_tensor(train_y).repeat(len(views)).to(self.device)
        layers = model.head[1:]
        opt = torch.optim.AdamW(layers.parameters(), lr=cfg.lr_warmup, betas=(0.9, 0.99),
                                weight_decay=cfg.weight_decay)
        # Batches of 4x the image batch: each step is a small matmul, where per-step overhead
        # dominates; ~1,200 cached vectors make 10 steps an epoch instead of 37.
        feature_batch = 4 * cfg.batch_size
        n_batches = len(batches(len(feats), feature_batch, None))
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr_warmup, total_steps=cfg.warmup_epochs * n_batches, pct_start=cfg.pct_start,
            cycle_momentum=True, base_momentum=0.85, max_momentum=0.95)
        layers.train()
        losses = []
        threads = torch.get_num_threads()
        if self.device.type == "cpu":
            # Tiny ops: extra OpenMP threads only spin, and on a busy shared CPU they made this
            # loop many times slower (pets/RESULTS.md).
            torch.set_num_threads(1)
        try:
            for _ in range(cfg.warmup_epochs):
                for idx in batches(len(feats), feature_batch, gen):
                    idx_t = torch.as_tensor(idx, device=feats.device)
                    loss = F.cross_entropy(layers(feats[idx_t]), labels[idx_t],
                                           label_smoothing=cfg.label_smoothing)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    losses.append(loss.item())
        finally:
            torch.set_num_threads(threads)
        row: dict[str, Any] = {"stage": -1, "size": aug.size, "phase": "head warm-up",
                               "epoch": cfg.warmup_epochs, "train_loss": float(np.mean(losses[-n_batches:]))}
        if valid_x is not None:
            row.update(_loss_and_error_rate(self._predict_tensors(valid_x, aug.size, tta=False), valid_y))
        row["seconds"] = round(time.time() - start, 1)
        self.history_.append(row)
        if self.progress:
            tqdm.write(str({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}))

    def _optimizer(self, phase: str) -> tuple[torch.optim.Optimizer, list[float]]:
        cfg, model = self.config, self.model
        if phase == "frozen":
            model.freeze()
            params = [p for p in model.parameters() if p.requires_grad]
            groups, lrs = [{"params": params}], [cfg.lr_frozen]
        else:
            model.unfreeze()
            layer_groups = model.layer_groups()
            # fast.ai's slice(lo, hi): geometrically spaced rates, lowest for the earliest layers,
            # which hold generic edges and textures that a few hundred photos should barely move.
            lrs = np.geomspace(cfg.lr_unfrozen / cfg.lr_div, cfg.lr_unfrozen, len(layer_groups)).tolist()
            groups = [{"params": [p for m in g for p in m.parameters()]} for g in layer_groups]
        opt = torch.optim.AdamW(groups, lr=lrs[-1], betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
        return opt, lrs

    def _fit_one_cycle(self, train_x: list[torch.Tensor], train_y: np.ndarray,
                       valid_x: list[torch.Tensor] | None, valid_y: np.ndarray | None, *,
                       aug: Augmenter, epochs: int, phase: str, stage: int, gen: torch.Generator) -> None:
        cfg, model = self.config, self.model
        opt, lrs = self._optimizer(phase)
        steps = epochs * len(batches(len(train_x), cfg.batch_size, None))
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=lrs, total_steps=steps, pct_start=cfg.pct_start, div_factor=25.0,
            final_div_factor=1e4, cycle_momentum=True, base_momentum=0.85, max_momentum=0.95)
        y_all = torch.as_tensor(train_y)
        for epoch in range(epochs):
            start = time.time()
            model.train()
            if cfg.freeze_bn_stats:
                for module in model.body.modules():
                    if isinstance(module, nn.modules.batchnorm._BatchNorm):
                        module.eval()
            losses = []
            epoch_batches = batches(len(train_x), cfg.batch_size, gen)
            desc = f"size {aug.size} {phase} epoch {epoch + 1}/{epochs}"
            for idx in tqdm(epoch_batches, desc=desc, disable=not self.progress, leave=False):
                opt.zero_grad(set_to_none=True)
                batch_loss = 0.0
                # Gradient accumulation over micro-batches: the same step as one pass over the
                # batch (the body's BN statistics are frozen), with a fraction of the activations.
                for part in np.array_split(idx, math.ceil(len(idx) / max(1, cfg.micro_batch or len(idx)))):
                    xb = aug([train_x[i] for i in part], train=True).to(self.device)
                    yb = y_all[part].to(self.device)
                    loss = F.cross_entropy(model(xb), yb, label_smoothing=cfg.label_smoothing)
                    (loss * (len(part) / len(idx))).backward()
                    batch_loss += loss.item() * len(part) / len(idx)
                opt.step()
                sched.step()
                losses.append(batch_loss)
            row: dict[str, Any] = {"stage": stage, "size": aug.size, "phase": phase, "epoch": epoch + 1,
                                   "train_loss": float(np.mean(losses))}
            if valid_x is not None:
                probs = self._predict_tensors(valid_x, aug.size, tta=False)
                row.update(_loss_and_error_rate(probs, valid_y))
            row["seconds"] = round(time.time() - start, 1)
            self.history_.append(row)
            if self.progress:
                shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
                tqdm.write(str(shown))

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def _predict_tensors(self, photos: list[torch.Tensor], size: int, *, tta: bool,
                         n_aug: int = 4, beta: float = 0.4) -> np.ndarray:
        """Class probabilities. TTA (fast.ai's): ``beta`` x (centre crop and its mirror) +
        ``1 - beta`` x the mean over ``n_aug`` training augmentations; seeded, so repeatable."""
        model = self.model.eval()
        aug = self.augmenter(size)

        def class_probs(batch: torch.Tensor) -> torch.Tensor:
            return model(batch.to(self.device)).softmax(dim=1).cpu()

        out = []
        for idx in batches(len(photos), INFER_BATCH, None):
            chunk = [photos[i] for i in idx]
            centre = aug(chunk, train=False)
            probs = class_probs(centre)
            if tta:
                probs = (probs + class_probs(centre.flip(-1))) / 2
                augmented = torch.stack([class_probs(aug(chunk, train=True)) for _ in range(n_aug)]).mean(0)
                probs = beta * probs + (1 - beta) * augmented
            out.append(probs)
        return torch.cat(out).numpy()

    def predict_proba(self, images: Sequence[ImageLike], *, tta: bool | None = None,
                      size: int | None = None) -> np.ndarray:
        """(n, n_classes) probabilities for PIL photos or uint8 (3, H, W) tensors."""
        size = size or self.config.sizes[-1]
        tta = self.config.tta if tta is None else tta
        return self._predict_tensors(as_tensors(images, size), size, tta=tta)

    def predict(self, images: Sequence[ImageLike], *, tta: bool | None = None) -> list[str]:
        return [self.classes_[i] for i in self.predict_proba(images, tta=tta).argmax(1)]

    def score(self, photos: PetPhotos, *, tta: bool | None = None) -> float:
        """Accuracy on labelled photos (their labels must use this model's class order)."""
        probs = self.predict_proba(photos.images, tta=tta)
        return float((probs.argmax(1) == photos.labels).mean())

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Writes ``path`` (weights + config + classes) and ``config.json`` next to it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.config.classes = list(self.classes_)
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save({"state_dict": state, "config": self.config.to_dict()}, tmp)
        tmp.replace(path)
        self.config.save(path.parent / "config.json")
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device | None = None,
             progress: bool = True) -> PetsClassifier:
        path = Path(path)
        if not path.is_file():
            raise DataError("model checkpoint not found", file=path,
                            fix="train one first with `make pets` (writes $BUILD_DIR/pets/model.pt)")
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise DataError(f"cannot read the checkpoint ({type(err).__name__}: {err})", file=path,
                            fix="retrain with `make pets`") from err
        if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "config" not in ckpt:
            raise DataError("not a pets checkpoint (expected keys 'state_dict' and 'config')", file=path,
                            fix="give the model.pt written by `python -m pets.train`")
        config = PetsConfig.from_dict(ckpt["config"])
        clf = cls(config, device=device, progress=progress)
        clf.build(config.classes, weights="none")  # architecture only; the weights come next
        clf.model.load_state_dict(ckpt["state_dict"])
        clf.model.eval()
        return clf


def _loss_and_error_rate(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Cross-entropy and error rate of predicted probabilities against the labels."""
    probs_t = torch.as_tensor(probs).clamp_min(1e-8)
    labels_t = torch.as_tensor(labels)
    return {"valid_loss": float(F.nll_loss(probs_t.log(), labels_t)),
            "error_rate": float((probs_t.argmax(1) != labels_t).float().mean())}
