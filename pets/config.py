"""The one configuration object of a pets run, saved as ``config.json`` next to the weights."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import DataError
from core.io import write_text_atomic
from core.seed import DEFAULT_SEED


@dataclass
class AugmentParams:
    """The lesson's ``get_transforms(max_rotate=20, max_zoom=1.3, max_lighting=0.4, max_warp=0.4,
    p_affine=1, p_lighting=1)`` with ``do_flip=True``.

    Defined here, without torch, so that ``PetsConfig`` can take its defaults from it;
    ``pets.augment`` applies them.
    """

    max_rotate: float = 20.0
    max_zoom: float = 1.3
    max_lighting: float = 0.4
    max_warp: float = 0.4
    p_affine: float = 1.0
    p_lighting: float = 1.0
    do_flip: bool = True


@dataclass
class PetsConfig:
    """Everything that decides how a model is trained; ``predict`` rebuilds the model from it.

    Progressive resizing runs one stage per entry of ``sizes``; stage ``i`` trains
    ``frozen_epochs[i]`` epochs with the body frozen (its BatchNorm trainable), then
    ``unfrozen_epochs[i]`` epochs with the whole net at discriminative learning rates
    ``lr_unfrozen / lr_div ... lr_unfrozen`` spread over the layer groups.
    """

    backbone: str = "efficientnet_lite2"
    weights: str = "imagenet"          # "imagenet", "none" or a path to a state-dict file
    sizes: tuple[int, ...] = (224, 352)
    frozen_epochs: tuple[int, ...] = (4, 2)
    unfrozen_epochs: tuple[int, ...] = (2, 2)
    batch_size: int = 32
    # Images per forward/backward pass; a batch's gradients are accumulated over its micro-batches
    # (0: the whole batch at once). Bounds memory, since the activations one backward pass holds
    # grow with its photos (pets/RESULTS.md). The head's BatchNorm then normalises over the
    # micro-batch.
    micro_batch: int = 8
    lr_frozen: float = 3e-3
    lr_unfrozen: float = 1e-3
    lr_div: float = 100.0
    weight_decay: float = 1e-2
    pct_start: float = 0.3
    label_smoothing: float = 0.0
    # Keep the body's BatchNorm running statistics at their ImageNet values while fine-tuning (its
    # scale and shift stay trainable). Re-estimated from 8 heavily augmented batches an epoch,
    # they shift every feature the head has learned, and accuracy drops (pets/RESULTS.md).
    freeze_bn_stats: bool = True
    # Head warm-up (LP-FT): before the first stage, fit the head alone on cached pooled features of
    # `warmup_views` augmented views per photo (forward passes only, no backward through the
    # body). Fine-tuning then starts from a head that is already as good as a linear probe
    # instead of a random one, which with ~6 photos a breed is both faster and more accurate.
    warmup_epochs: int = 0
    warmup_views: int = 4
    lr_warmup: float = 3e-3
    final_bn: bool = False
    # Augmentation, flat so that config.json stays one level deep; defaults from AugmentParams.
    max_rotate: float = AugmentParams.max_rotate
    max_zoom: float = AugmentParams.max_zoom
    max_lighting: float = AugmentParams.max_lighting
    max_warp: float = AugmentParams.max_warp
    p_affine: float = AugmentParams.p_affine
    p_lighting: float = AugmentParams.p_lighting
    valid_pct: float = 0.2
    tta: bool = True
    seed: int = DEFAULT_SEED
    classes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sizes = tuple(int(s) for s in self.sizes)
        self.frozen_epochs = tuple(int(e) for e in self.frozen_epochs)
        self.unfrozen_epochs = tuple(int(e) for e in self.unfrozen_epochs)
        n = len(self.sizes)
        if n == 0 or len(self.frozen_epochs) != n or len(self.unfrozen_epochs) != n:
            raise DataError(
                f"progressive resizing needs one frozen and one unfrozen epoch count per size; got "
                f"sizes={self.sizes}, frozen_epochs={self.frozen_epochs}, "
                f"unfrozen_epochs={self.unfrozen_epochs}",
                fix="give lists of the same length, e.g. --sizes 224 352 --frozen-epochs 4 2 "
                    "--unfrozen-epochs 2 2")
        if not 0.0 <= self.valid_pct < 1.0:
            raise DataError(f"valid_pct must be in [0, 1), got {self.valid_pct}",
                            fix="use e.g. --valid-pct 0.2 (0 trains on every photo)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PetsConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DataError(f"unknown config keys {unknown}",
                            fix="the config was written by another version of pets/; retrain")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> PetsConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


# The resolution each backbone's ImageNet weights were trained and evaluated at (timm's
# efficientnet_lite* configs: the larger Lite models scale resolution and width, not the stem or
# the head). Here, without torch, so that presets can be sized per backbone.
NATIVE_SIZE: dict[str, int] = {"efficientnet_lite0": 224, "efficientnet_lite1": 240,
                               "efficientnet_lite2": 260, "resnet34": 224}

# Presets give progressive resizing as scales of the backbone's native size (rounded to a multiple
# of 16 below it, the native size itself at 1.0), so one schedule fits every backbone.
# "finetune": the lesson's recipe on a CPU: head warm-up, then per size a frozen and an unfrozen
# one-cycle (discriminative rates), e.g. 160 -> 224 px for Lite0. Low rates: higher ones lost
# accuracy on these ~6 photos a breed (pets/RESULTS.md).
# "head": the fast.ai head alone, fitted on cached frozen features of augmented views at the
# native size (the warm-up, without the fine-tuning stages).
# "gpu": the lesson's 224 -> 352 px schedule scaled to the backbone (not measured here: no GPU).
# Which preset `make pets` uses on a CPU is DEFAULT_CPU_PRESET, chosen by cross-validation
# (pets/RESULTS.md).
PRESETS: dict[str, dict[str, Any]] = {
    "finetune": dict(size_scales=(0.72, 1.0), frozen_epochs=(1, 2), unfrozen_epochs=(1, 3),
                     warmup_epochs=40, warmup_views=6, lr_frozen=5e-4, lr_unfrozen=2e-4,
                     label_smoothing=0.1, refit_all=True),
    "head": dict(size_scales=(1.0,), frozen_epochs=(0,), unfrozen_epochs=(0,),
                 warmup_epochs=40, warmup_views=6, label_smoothing=0.1, refit_all=True),
    "gpu": dict(size_scales=(1.0, 1.57), frozen_epochs=(4, 2), unfrozen_epochs=(2, 2),
                warmup_epochs=40, warmup_views=8, lr_frozen=5e-4, lr_unfrozen=2e-4,
                label_smoothing=0.1, refit_all=True),
}
DEFAULT_CPU_PRESET = "finetune"


def scaled_sizes(backbone: str, scales: tuple[float, ...]) -> tuple[int, ...]:
    """Image sizes for a backbone: ``scale * native``, a multiple of 16 unless the scale is 1."""
    if backbone not in NATIVE_SIZE:
        raise DataError(f"unknown backbone {backbone!r}", fix=f"choose one of {', '.join(NATIVE_SIZE)}")
    native = NATIVE_SIZE[backbone]
    return tuple(native if s == 1.0 else 16 * max(1, round(s * native / 16)) for s in scales)


def preset_values(name: str, backbone: str) -> dict[str, Any]:
    """A preset's PetsConfig values (plus ``refit_all``) with its sizes for ``backbone``."""
    if name not in PRESETS:
        raise DataError(f"unknown preset {name!r}", fix=f"choose one of {', '.join(sorted(PRESETS))}")
    values = dict(PRESETS[name])
    values["sizes"] = scaled_sizes(backbone, values.pop("size_scales"))
    return values
