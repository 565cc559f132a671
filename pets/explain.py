"""``python -m pets.explain --model M --image PHOTO --out DIR [--class BREED]``: where the trained
model looks in one photo. Writes ``DIR/<photo>[_<breed>]_heatmap.png``: the photo, the average
activation of the last conv block and the Grad-CAM of the predicted (or given) breed."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from core.cli import run_cli
from core.errors import DataError
from pets.augment import denormalize
from pets.classifier import PetsClassifier
from pets.data import load_rgb, to_uint8_tensor
from pets.heatmap import activation_map, grad_cam
from pets.plots import save_overlay


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pets.explain",
                                     description="Heatmaps (average activation, Grad-CAM) for one photo.")
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
    run_cli(main)
