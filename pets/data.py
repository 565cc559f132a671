"""Finding, labelling, splitting and decoding the pet photos.

Two layouts are accepted (``PETS_DIR``):

* torchvision's ``OxfordIIITPet`` layout: ``<dir>/oxford-iiit-pet/images/*.jpg`` (optionally
  ``annotations/trainval.txt`` / ``test.txt``, which can serve as split files);
* a plain folder of ``<Breed>_<n>.jpg`` files.

The label is always the breed as written in the file name (``Bengal_107.jpg`` -> ``Bengal``,
``american_bulldog_106.jpg`` -> ``american_bulldog``), so a prediction CSV uses the same names.
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.datasets import OxfordIIITPet
from tqdm import tqdm

from core.errors import DataError
from core.seed import DEFAULT_SEED

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# How to get photos, for every message that finds none.
GET_PHOTOS = ("point PETS_DIR at a folder with oxford-iiit-pet/images/*.jpg (torchvision's layout) or "
              "<Breed>_<n>.jpg files. To get them: download images.tar.gz from "
              "https://www.robots.ox.ac.uk/~vgg/data/pets/ and unpack it into PETS_DIR/oxford-iiit-pet/, or, "
              "with network access, run `.venv/bin/python -m pets.train --pets-dir PETS_DIR --download`, which "
              "fetches the dataset through torchvision")
_NAME_RE = re.compile(r"^(?P<breed>.+?)_(?P<n>\d+)$")


def breed_from_name(path: str | Path) -> str:
    """``.../Bengal_107.jpg`` -> ``"Bengal"``; raises :class:`DataError` for other names."""
    stem = Path(path).stem
    match = _NAME_RE.match(stem)
    if match is None:
        raise DataError(f"cannot read a breed from the file name {Path(path).name!r}",
                        file=path, fix="name photos <Breed>_<n>.jpg, e.g. Bengal_107.jpg")
    return match.group("breed")


def find_image_dir(root: str | Path) -> Path:
    """The folder that holds the photos, for either accepted layout."""
    root = Path(root)
    for candidate in (root / "oxford-iiit-pet" / "images", root / "images", root):
        if candidate.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in candidate.iterdir()):
            return candidate
    raise DataError("no photos found", file=root, fix=GET_PHOTOS)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name so that runs are reproducible."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("expected a folder of images", file=folder, fix="check the path")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def download_oxford_pets(root: str | Path) -> Path:
    """Fetch the full dataset with torchvision (needs network); returns the root to use."""
    try:
        OxfordIIITPet(root=str(root), split="trainval", download=True)
    except Exception as err:  # offline: urllib/URLError, HTTP errors, ... all mean the same
        raise DataError(f"could not download Oxford-IIIT Pet: {err}", file=root,
                        fix="run without --download and point PETS_DIR at a local copy") from err
    return Path(root)


def load_rgb(path: str | Path, short_side: int | None = None) -> Image.Image:
    """Decode one photo as RGB, optionally resized (antialiased) so its short side is ``short_side``."""
    with Image.open(path) as img:
        img = img.convert("RGB")
    return resize_short(img, short_side) if short_side is not None else img


def to_uint8_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB -> uint8 tensor (3, H, W); uint8 keeps the cached dataset small."""
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


@dataclass
class PetPhotos:
    """Decoded photos with labels. ``images[i]`` is an RGB PIL image of any size."""

    paths: list[Path]
    labels: np.ndarray                     # int64 class indices into ``classes``
    classes: list[str]
    images: list[Image.Image] = field(repr=False, default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, idx: Sequence[int] | np.ndarray) -> PetPhotos:
        idx = [int(i) for i in idx]
        return PetPhotos([self.paths[i] for i in idx], self.labels[idx], self.classes,
                         [self.images[i] for i in idx], [])

    def tensors(self, short_side: int) -> list[torch.Tensor]:
        """The photos as uint8 tensors resized (antialiased) to the given short side."""
        return [to_uint8_tensor(resize_short(img, short_side)) for img in self.images]


def resize_short(img: Image.Image, short_side: int) -> Image.Image:
    """``img`` resized (bicubic, antialiased) so that its short side is ``short_side``."""
    w, h = img.size
    scale = short_side / min(w, h)
    return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)


def decode_photos(paths: Sequence[Path], short_side: int | None, *, progress: bool = True
                  ) -> tuple[list[Path], list[Image.Image], list[tuple[Path, str]]]:
    """Decode every photo; unreadable ones are reported on stderr and skipped, not fatal."""
    kept, images, skipped = [], [], []
    for path in tqdm(paths, desc="decoding photos", disable=not progress, leave=False):
        try:
            images.append(load_rgb(path, short_side))
            kept.append(Path(path))
        except Exception as err:  # PIL raises many types (OSError, SyntaxError, ValueError...)
            skipped.append((Path(path), f"{type(err).__name__}: {err}"))
    for path, why in skipped:
        print(f"warning: skipped unreadable image {path} ({why})", file=sys.stderr)
    return kept, images, skipped


def load_pets(root: str | Path, *, short_side: int | None = 256, classes: Sequence[str] | None = None,
              progress: bool = True, per_breed: int | None = None) -> PetPhotos:
    """Load every labelled photo under ``root`` (either layout).

    ``short_side`` resizes at decode time, so that memory holds the photos at the size they are
    used (pets/RESULTS.md).
    ``classes`` fixes the class order (e.g. a trained model's); by default it is the sorted
    (case-insensitive, as in Oxford's class ids) set of breeds found.
    ``per_breed`` keeps the first ``per_breed`` photos of each breed (by file name), before any is
    decoded: a small, reproducible set for a quick look (the notebook in CI).
    """
    if per_breed is not None and per_breed < 1:
        raise DataError(f"per_breed must be at least 1, got {per_breed}", fix="e.g. per_breed=3, or None for all")
    folder = find_image_dir(root)
    paths = list_images(folder)
    breeds = [breed_from_name(p) for p in paths]
    if per_breed is not None:
        seen: Counter[str] = Counter()
        rank = []  # how many photos of the same breed come before each one
        for breed in breeds:
            rank.append(seen[breed])
            seen[breed] += 1
        paths = [p for p, r in zip(paths, rank, strict=True) if r < per_breed]
        breeds = [b for b, r in zip(breeds, rank, strict=True) if r < per_breed]
    kept, images, skipped = decode_photos(paths, short_side, progress=progress)
    breed_of = dict(zip(paths, breeds, strict=True))
    kept_breeds = [breed_of[p] for p in kept]
    if classes is None:
        classes = sorted(set(kept_breeds), key=lambda b: (b.lower(), b))
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(kept_breeds) - set(index))
    if unknown:
        raise DataError(f"breeds {unknown[:5]} are not among the model's {len(classes)} classes",
                        file=folder, fix="use photos of the breeds the model was trained on")
    if not kept:
        raise DataError("every photo was unreadable", file=folder, fix="check the image files")
    labels = np.array([index[b] for b in kept_breeds], dtype=np.int64)
    return PetPhotos(kept, labels, list(classes), images, skipped)


def split_indices(photos: PetPhotos, *, valid_pct: float = 0.2, seed: int = DEFAULT_SEED,
                  split_file: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid) indices: a seeded random ``valid_pct`` split, or the photos named in a file.

    The random split is stratified by breed where possible, so that with 8 photos per breed no
    breed is left with 3 training photos by an unlucky draw.
    A split file lists validation photos one per line, by file name or stem as the first token
    (so Oxford's ``annotations/test.txt`` works as is); every other photo is for training.
    """
    n = len(photos)
    if split_file is not None:
        split_file = Path(split_file)
        if not split_file.is_file():
            raise DataError("split file not found", file=split_file,
                            fix="give a text file listing validation photos, one per line")
        names = {line.split()[0] for line in split_file.read_text().splitlines()
                 if line.strip() and not line.startswith("#")}
        is_valid = np.array([p.name in names or p.stem in names for p in photos.paths])
        if not is_valid.any():
            raise DataError("no photo of the data set is named in the split file", file=split_file,
                            fix="list validation photos by file name (Bengal_107.jpg) or stem")
        return np.flatnonzero(~is_valid), np.flatnonzero(is_valid)
    if valid_pct <= 0:
        return np.arange(n), np.array([], dtype=np.int64)
    # Only training splits at random; predict, preview and explain load this module without it.
    from sklearn.model_selection import train_test_split  # noqa: PLC0415  sklearn is slow to import

    idx = np.arange(n)
    try:
        train, valid = train_test_split(idx, test_size=valid_pct, random_state=seed,
                                        stratify=photos.labels)
    except ValueError:  # a breed with a single photo, or fewer valid slots than breeds
        train, valid = train_test_split(idx, test_size=valid_pct, random_state=seed)
    return np.sort(train), np.sort(valid)
