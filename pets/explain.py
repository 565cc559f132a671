"""``python -m pets.explain --model M --image PHOTO --out DIR [--class BREED]``: where the trained
model looks in one photo. Writes ``DIR/<photo>[_<breed>]_heatmap.png``: the photo, the average
activation of the last conv block and the Grad-CAM of the predicted (or given) breed."""
from __future__ import annotations

import argparse

from core.cli import run_cli
from pets.classifier import PetsClassifier
from pets.plots import heatmap_for_image


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
