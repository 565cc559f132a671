"""``python -m pets.preview``: the lesson's augmentation grids and hand-made convolution as PNGs.

Writes ``augment_zeros.png`` and ``augment_reflection.png`` (one training photo augmented nine
times, 3x3, padded with zeros vs reflection) and ``hand_conv.png``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from pets.augment import AugmentParams, Augmenter
from core.io import pyplot
from pets.heatmap import save_figure


def save_augment_grid(photo: torch.Tensor, path: str | Path, *, padding_mode: str, size: int = 224,
                      seed: int = 42, params: AugmentParams | None = None) -> Path:
    """Nine augmented copies of one (3, H, W) uint8 photo in a 3x3 grid. The same seed draws the
    same nine transforms for both padding modes, so the two grids differ only in the padding."""
    plt = pyplot()

    aug = Augmenter(size, params, seed=seed, padding_mode=padding_mode, do_normalize=False)
    fig, axes = plt.subplots(3, 3, figsize=(8, 8))
    for ax in axes.flat:
        ax.imshow(aug.one(photo, train=True).permute(1, 2, 0).clamp(0, 1).numpy())
        ax.axis("off")
    fig.suptitle(f"get_transforms(max_rotate=20, max_zoom=1.3, max_lighting=0.4, max_warp=0.4): "
                 f"padding_mode={padding_mode!r}", fontsize=9)
    return save_figure(fig, path, dpi=80)


def main(argv: list[str] | None = None) -> int:
    from core.errors import DataError
    from pets.data import find_image_dir, list_images, load_rgb, to_uint8_tensor
    from pets.heatmap import save_hand_convolution

    parser = argparse.ArgumentParser(prog="python -m pets.preview", description=__doc__.splitlines()[0])
    parser.add_argument("--pets-dir", required=True, help="photo folder (either layout)")
    parser.add_argument("--out", required=True, help="folder for the PNGs")
    parser.add_argument("--image", default=None, help="photo to show (default: a seeded pick)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--seed", type=int, default=42)
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
        print(f"wrote {save_augment_grid(photo, out / f'augment_{mode}.png', padding_mode=mode, size=args.size, seed=args.seed)}")
    print(f"wrote {save_hand_convolution(photo.float() / 255, out / 'hand_conv.png')}")
    return 0


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
