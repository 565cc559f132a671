"""``python -m pets.preview``: the lesson's augmentation grids and hand-made convolution as PNGs.

Writes ``augment_zeros.png`` and ``augment_reflection.png`` (one training photo augmented nine
times, 3x3, padded with zeros vs reflection) and ``hand_conv.png``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from core.cli import run_cli
from core.errors import DataError
from core.seed import DEFAULT_SEED
from pets.data import find_image_dir, list_images, load_rgb, to_uint8_tensor
from pets.plots import save_augment_grid, save_hand_convolution


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pets.preview", description=__doc__.splitlines()[0])
    parser.add_argument("--pets-dir", required=True, help="photo folder (either layout)")
    parser.add_argument("--out", required=True, help="folder for the PNGs")
    parser.add_argument("--image", default=None, help="photo to show (default: a seeded pick)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    if args.image:
        path = Path(args.image)
    else:
        paths = list_images(find_image_dir(args.pets_dir))
        path = paths[int(torch.randint(len(paths), (), generator=torch.Generator().manual_seed(args.seed)))]
    try:
        photo = to_uint8_tensor(load_rgb(path, args.size))
    except Exception as err:
        raise DataError(f"cannot read the photo ({type(err).__name__}: {err})", file=path,
                        fix="pass --image with a readable JPEG or PNG") from err
    out = Path(args.out)
    for mode in ("zeros", "reflection"):
        grid = save_augment_grid(photo, out / f"augment_{mode}.png", padding_mode=mode, size=args.size,
                                 seed=args.seed)
        print(f"wrote {grid}")
    print(f"wrote {save_hand_convolution(photo.float() / 255, out / 'hand_conv.png')}")
    return 0


if __name__ == "__main__":
    run_cli(main)
