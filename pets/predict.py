"""``python -m pets.predict --model M --images DIR --out CSV``: one ``image,label`` row per photo.

The label is the breed as written in the training file names (``Bengal``, ``american_bulldog``).
Unreadable photos are reported on stderr and left out.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from core.cli import run_cli
from core.errors import DataError
from pets.classifier import PetsClassifier
from pets.data import decode_photos, list_images


def predict_folder(model_path: str | Path, images: str | Path, out: str | Path, *,
                   tta: bool | None = None, batch_size: int = 64, progress: bool = True) -> Path:
    """Predict every photo in ``images`` (not recursive) and write the CSV atomically."""
    clf = PetsClassifier.load(model_path, progress=progress)
    paths = list_images(images)
    if not paths:
        raise DataError("no .jpg/.jpeg/.png photos in the folder", file=images,
                        fix="point --images at a folder of photos")
    kept, decoded, _ = decode_photos(paths, clf.config.sizes[-1], progress=progress)
    labels: list[str] = []
    for start in range(0, len(decoded), batch_size):
        labels += clf.predict(decoded[start:start + batch_size], tta=tta)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "label"])
        writer.writerows((path.name, label) for path, label in zip(kept, labels, strict=True))
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pets.predict", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model.pt written by pets.train")
    parser.add_argument("--images", required=True, help="folder of photos")
    parser.add_argument("--out", required=True, help="CSV to write (image,label)")
    tta = parser.add_mutually_exclusive_group()
    tta.add_argument("--tta", dest="tta", action="store_true", default=None,
                     help="test-time augmentation (default: as trained)")
    tta.add_argument("--no-tta", dest="tta", action="store_false")
    args = parser.parse_args(argv)
    out = predict_folder(args.model, args.images, args.out, tta=args.tta)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    run_cli(main)
