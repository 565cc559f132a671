"""Train the entity-embedding MLP on every pseudo-test window, then on the competition.

`python -m models.mlp --build-dir B --seed S [--epochs N] [--lr-find] [--params JSON]`: the recipe
(`MLPRecipe`) runs on each window (`models.common.run_stage`) and on all of train for the test;
writes `B/models/mlp/` (the final network), `B/predictions/mlp.{oof,test}.parquet`,
`B/submissions/mlp.csv` and the mean pseudo-test RMSPE in `B/reports/validation.json`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from models.mlp.config import MLPConfig

NAME = "mlp"


def log(msg: str) -> None:
    print(msg, flush=True)


def build_config(build_dir: Path, args: argparse.Namespace) -> tuple[MLPConfig, str]:
    """Defaults, then tuned parameters (B/tuning/mlp.json), then --params, then --epochs/--threads."""
    from models.common import tuned_params

    config, source = MLPConfig(seed=args.seed), "defaults"
    tuned = tuned_params(build_dir, NAME)
    if tuned:
        config = config.with_params(tuned)
        source = str(build_dir / "tuning" / f"{NAME}.json")
        log(f"mlp: using tuned parameters from {source}: {json.dumps(tuned, sort_keys=True)}")
    else:
        log(f"mlp: no {build_dir / 'tuning' / f'{NAME}.json'}; using the default parameters")
    if args.params:
        text = Path(args.params).read_text() if Path(args.params).is_file() else args.params
        override = json.loads(text)
        config = config.with_params(override)
        source += " + --params"
        log(f"mlp: --params override: {json.dumps(override, sort_keys=True)}")
    overrides: dict[str, Any] = {"seed": args.seed}
    if args.epochs:
        overrides["epochs"] = args.epochs
    if args.threads:
        overrides["threads"] = args.threads
    if args.no_progress:
        overrides["progress"] = False
    return config.with_params(overrides), source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.mlp", description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    parser.add_argument("--params", default=None,
                        help="JSON object (or a file holding one) of MLPConfig fields, e.g. '{\"lr\": 5e-3}'")
    parser.add_argument("--lr-find", action="store_true",
                        help="run the LR range test, save models/mlp/lr_find.png, and stop")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    args = parser.parse_args(argv)

    from core.seed import seed_everything
    from models.common import load_feature_tables, run_stage, training_frames
    from models.mlp.plots import plot_loss_curves, plot_lr_find
    from models.mlp.regressor import MLPRegressor

    # torch imports its compiler stack (torch._dynamo, ~2 s here) lazily, the first time an
    # optimizer is built; import it with torch, so that the training times measure training.
    import torch._dynamo  # noqa: F401

    t_start = time.perf_counter()
    build_dir: Path = args.build_dir
    out_dir = build_dir / "models" / NAME
    seed_everything(args.seed)
    config, source = build_config(build_dir, args)
    log(f"mlp: config {json.dumps({k: v for k, v in config.to_dict().items() if k not in ('cat_cols', 'cont_cols')})}")

    if args.lr_find:
        from models.mlp.lr_find import lr_find

        train_df, _, meta = load_feature_tables(build_dir)
        fit_df, _ = training_frames(train_df, meta)
        result = lr_find(MLPRegressor(config), fit_df)
        png = plot_lr_find(result.lrs, result.losses, result.suggestion, out_dir / "lr_find.png")
        log(f"mlp: {result}; plot in {png}")
        return 0

    recipe = MLPRecipe(config)
    extra = {"params_source": source, "epochs": config.epochs, "batch_size": config.batch_size,
             "lr": config.lr, "weight_decay": config.weight_decay, "bf16": config.use_bf16,
             "refit": config.refit, "refit_epochs": config.refit_epochs if config.refit == "continue" else config.epochs,
             "refit_test_stores_only": config.refit_test_stores_only, "seed": config.seed}
    run_stage(build_dir, NAME, recipe, extra, log)
    recipe.final_.save(out_dir)
    plot_loss_curves(recipe.curves_, out_dir / "loss_curves.png")
    log(f"mlp: total {time.perf_counter() - t_start:.1f} s; wrote {out_dir}")
    return 0


class MLPRecipe:
    """The MLP's recipe for ``models.common.run_stage`` (see the package docstring).

    1. ``config.epochs`` one-cycle epochs on the table's train part up to its last test-length
       stretch, whose RMSPE is logged after each epoch (monitoring only: nothing is chosen on it);
    2. the refit: the same network continues ``refit_epochs`` epochs on all of the train part
       (the test stores' rows with ``refit_test_stores_only``), or a fresh network trains on it
       (``refit="scratch"``).
    The last fit stays in ``final_`` and its loss curves in ``curves_``.
    """

    def __init__(self, config: MLPConfig) -> None:
        self.config = config

    def __call__(self, train_df: Any, test_df: Any, meta: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        from core.errors import DataError
        from competition.metric import rmspe
        from models.common import fit_frame, training_frames
        from models.mlp.regressor import MLPRegressor

        config = self.config
        fit_df, inner_df = training_frames(train_df, meta)
        reg = MLPRegressor(config).fit(fit_df, inner_df)
        inner = rmspe(inner_df["Sales"].to_numpy(), reg.predict(inner_df))
        curves = {f"first fit ({len(fit_df):,} rows)": {
            "step_loss": reg.step_loss_, "step_lr": reg.step_lr_, "epochs": reg.history_}}
        first_seconds = reg.fit_seconds_
        all_df = fit_frame(train_df)
        if config.refit_test_stores_only:
            in_test = all_df["Store"].isin(test_df["Store"].unique())
            if not in_test.any():
                raise DataError("no test store has a training row", column="Store",
                                fix="rebuild the features from a train.csv and a test.csv of the same competition")
            all_df = all_df[in_test].reset_index(drop=True)
        if config.refit == "continue":
            final = reg.fit_more(all_df, config.refit_epochs)
        else:
            final = MLPRegressor(config).fit(all_df)
        curves[f"refit ({len(all_df):,} rows)"] = {
            "step_loss": final.step_loss_, "step_lr": final.step_lr_, "epochs": final.history_}
        self.final_, self.curves_ = final, curves
        how = (f"the network continues {config.refit_epochs} epoch(s)" if config.refit == "continue"
               else f"a fresh network, {config.epochs} epochs")
        stores = f"the {all_df['Store'].nunique():,} test stores' " if config.refit_test_stores_only else ""
        log(f"mlp: first fit {first_seconds:.1f} s (RMSPE on its last stretch from {meta.get('valid_start')}, "
            f"monitoring only: {inner:.4f}); refit: {how} on {stores}{len(all_df):,} rows, "
            f"{final.fit_seconds_:.1f} s")
        return final.predict(test_df), {"first_fit_seconds": round(first_seconds, 1),
                                        "refit_seconds": round(final.fit_seconds_, 1),
                                        "monitor_rmspe": inner, "refit_rows": len(all_df)}


def run(argv: list[str] | None = None) -> None:
    from core.cli import run_cli

    run_cli(main, argv if argv is not None else sys.argv[1:])
