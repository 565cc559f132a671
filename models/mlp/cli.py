"""Train the entity-embedding MLP on every pseudo-test window, then on the competition.

`python -m models.mlp --build-dir B --seed S [--epochs N] [--lr-find] [--embeddings DIR] [--params JSON]`: the recipe
(`MLPRecipe`) runs on each window (`models.common.run_stage`) and on all of train for the test;
writes `B/models/mlp/` (the final network), `B/predictions/mlp.{oof,test}.parquet`,
`B/submissions/mlp.csv` and the mean pseudo-test RMSPE in `B/reports/scores.json`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# torch imports its compiler stack (torch._dynamo, seconds on a small CPU) lazily, the first time an
# optimizer is built; import it with torch, so that the training times measure training.
import torch._dynamo  # noqa: F401

from core.cli import run_cli
from core.seed import DEFAULT_SEED, seed_everything
from models.common import kept_stage, layered_params, load_feature_tables, run_stage, training_frames
from models.mlp.config import REFIT_KINDS, MLPConfig
from models.mlp.embeddings import PROJECTIONS, embeddings_of_build
from models.mlp.lr_find import LRFindResult, lr_find
from models.mlp.plots import plot_loss_curves, plot_lr_find
from models.mlp.recipe import MLPRecipe
from models.mlp.regressor import MLPRegressor
from models.mlp.training import bf16_enabled, resolve_device

NAME = "mlp"


def log(msg: str) -> None:
    print(msg, flush=True)


def build_config(build_dir: Path, args: argparse.Namespace) -> tuple[MLPConfig, str]:
    """Defaults, then tuned parameters (B/tuning/mlp.json), then --params, then --epochs/--threads."""
    params, source = layered_params(build_dir, NAME, args.params, log)
    config = MLPConfig(seed=args.seed).with_params(params)
    overrides: dict[str, Any] = {"seed": args.seed}
    if args.epochs:
        overrides["epochs"] = args.epochs
    if args.threads:
        overrides["threads"] = args.threads
    if args.members:
        overrides["members"] = args.members
    if args.refits:
        overrides["refits"] = args.refits
    if args.no_progress:
        overrides["progress"] = False
    return config.with_params(overrides), source


def train_and_predict(build_dir: Path, config: MLPConfig, params_source: str = "defaults",
                      log: Callable[[str], None] = log) -> dict[str, Any]:
    """The MLP's stage: ``MLPRecipe(config)`` on every pseudo-test window, then on the competition
    (``models.common.run_stage``); writes predictions, submission and scores, the final networks
    (``B/models/mlp/``, ``network<k>/``) and their loss curves. Returns the recorded summary (an
    earlier run's, its files kept, when the stage's inputs are unchanged: ``kept_stage``)."""
    t_start = time.perf_counter()
    build_dir = Path(build_dir)
    out_dir = build_dir / "models" / NAME
    recipe = MLPRecipe(config)
    extra = {"params_source": params_source, "epochs": config.epochs, "batch_size": config.batch_size,
             "lr": config.lr, "weight_decay": config.weight_decay, "bf16": bf16_enabled(config, resolve_device(config)),
             "refit_epochs": config.refit_epochs, "seed": config.seed, "members": config.members,
             "refits": config.refits}
    inputs = recipe.stage_inputs()
    kept = kept_stage(build_dir, NAME, inputs, log)
    if kept is not None:
        return kept
    summary = run_stage(build_dir, NAME, recipe, extra, log, inputs)
    for k, network in enumerate(recipe.finals_):
        network.save(out_dir if k == 0 else out_dir / f"network{k}")
    plot_loss_curves(recipe.curves_, out_dir / "loss_curves.png")
    log(f"mlp: total {time.perf_counter() - t_start:.1f} s; wrote {out_dir}")
    return summary


def find_lr(build_dir: Path, config: MLPConfig) -> tuple[LRFindResult, Path]:
    """The LR range test on the competition's training rows (up to the inner split): the result
    and its plot ``B/models/mlp/lr_find.png``."""
    train_df, _, meta = load_feature_tables(build_dir)
    fit_df, _ = training_frames(train_df, meta)
    result = lr_find(MLPRegressor(config), fit_df)
    return result, plot_lr_find(result.lrs, result.losses, result.suggestion,
                                Path(build_dir) / "models" / NAME / "lr_find.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.mlp", description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    parser.add_argument("--params", default=None,
                        help="JSON object (or a file holding one) of MLPConfig fields, e.g. '{\"lr\": 5e-3}'")
    parser.add_argument("--lr-find", action="store_true",
                        help="run the LR range test, save models/mlp/lr_find.png, and stop")
    parser.add_argument("--embeddings", type=Path, default=None, metavar="OUT_DIR",
                        help="draw the trained network's embeddings (BUILD_DIR/models/mlp) as 2-D maps "
                             "into OUT_DIR, and stop (trains nothing)")
    parser.add_argument("--embeddings-method", choices=PROJECTIONS, default="pca",
                        help="how --embeddings projects each table to 2-D")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    parser.add_argument("--members", type=int, default=0,
                        help="members averaged: first fits of seeds seed, seed+1, ..., each giving its "
                             "--refits networks (0: the config's)")
    parser.add_argument("--refits", nargs="+", choices=REFIT_KINDS, default=None,
                        help="the final networks each member's first fit spawns, e.g. all recent "
                             "(default: the config's, all)")
    args = parser.parse_args(argv)

    build_dir: Path = args.build_dir
    if args.embeddings is not None:
        written = embeddings_of_build(build_dir, args.embeddings, method=args.embeddings_method, seed=args.seed)
        log(f"mlp: embedding maps ({args.embeddings_method}) of {build_dir / 'models' / NAME}: "
            + ", ".join(str(p) for p in written.values()))
        return 0
    seed_everything(args.seed)
    config, source = build_config(build_dir, args)
    log(f"mlp: config {json.dumps({k: v for k, v in config.to_dict().items() if k not in ('cat_cols', 'cont_cols')})}")

    if args.lr_find:
        result, png = find_lr(build_dir, config)
        log(f"mlp: {result}; plot in {png}")
        return 0
    train_and_predict(build_dir, config, source, log)
    return 0


def run(argv: list[str] | None = None) -> None:
    run_cli(main, argv if argv is not None else sys.argv[1:])
