"""Train the entity-embedding MLP: validation fit, refit on train + validation, predictions.

`python -m models.mlp --build-dir B --seed S [--epochs N] [--lr-find] [--params JSON]`: validation fit on the training part, then a refit on train + validation
(`MLPConfig.refit`; see the package docstring); writes `B/models/mlp/`, `B/predictions/mlp.*.parquet`,
`B/submissions/mlp.csv` and the validation RMSPE in `B/reports/validation.json`.
"""
from __future__ import annotations

import argparse
import copy
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from models.mlp.config import MLPConfig

NAME = "mlp"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    parser.add_argument("--valid-only", action="store_true",
                        help="only the validation fit: print its RMSPE, write nothing (for experiments)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    args = parser.parse_args(argv)

    from competition.errors import DataError
    from competition.seed import seed_everything
    from models.common import full_frame, load_feature_tables, training_frames, write_outputs
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
    train_df, test_df, meta = load_feature_tables(build_dir)
    fit_df, valid_df = training_frames(train_df, meta)
    log(f"mlp: {len(fit_df):,} training rows, {len(valid_df):,} validation rows "
        f"({valid_df['Date'].min():%Y-%m-%d}..{valid_df['Date'].max():%Y-%m-%d}); config "
        f"{json.dumps({k: v for k, v in config.to_dict().items() if k not in ('cat_cols', 'cont_cols')})}")

    if args.lr_find:
        from models.mlp.lr_find import lr_find

        result = lr_find(MLPRegressor(config), fit_df)
        png = plot_lr_find(result.lrs, result.losses, result.suggestion, out_dir / "lr_find.png")
        log(f"mlp: {result}; plot in {png}")
        return 0

    # 1. Validation fit: the training part only, scored on the validation window every epoch.
    reg = MLPRegressor(config).fit(fit_df, valid_df)
    valid_pred = reg.predict(valid_df)
    from competition.metric import rmspe

    valid_rmspe = rmspe(valid_df["Sales"].to_numpy(), valid_pred)
    epoch_s = [e["seconds"] for e in reg.history_]
    log(f"mlp: validation RMSPE {valid_rmspe:.4f} after {config.epochs} epochs; fit {reg.fit_seconds_:.1f} s "
        f"({sum(epoch_s) / len(epoch_s):.1f} s/epoch, {len(fit_df) / (sum(epoch_s) / len(epoch_s)):,.0f} rows/s); "
        f"peak RSS {peak_rss_mb():.0f} MB")
    if args.valid_only:
        return 0
    reg.save(out_dir / "validation")

    # 2. Refit on train + validation (MLPConfig.refit: continue the validated network, or a fresh one).
    all_df = full_frame(train_df, meta)
    if config.refit_test_stores_only:
        n_all = len(all_df)
        in_test = all_df["Store"].isin(test_df["Store"].unique())
        if not in_test.any():
            raise DataError("no test store has a training row", file=build_dir / "features" / "test.parquet",
                            column="Store", fix="rebuild the features from a train.csv and a test.csv "
                            "of the same competition")
        all_df = all_df[in_test].reset_index(drop=True)
        log(f"mlp: refit on the {test_df['Store'].nunique():,} test stores: {len(all_df):,} of "
            f"{n_all:,} train + validation rows (MLPConfig.refit_test_stores_only)")
    if config.refit == "continue":
        log(f"mlp: refit: the validated network continues {config.refit_epochs} epoch(s) on train + validation")
        final = copy.deepcopy(reg).fit_more(all_df, config.refit_epochs)
    else:
        log(f"mlp: refit: a fresh network, {config.epochs} epochs on train + validation")
        final = MLPRegressor(config).fit(all_df)
    test_pred = final.predict(test_df)
    final.save(out_dir)
    plot_loss_curves({f"validation fit ({len(fit_df):,} rows)": {
                          "step_loss": reg.step_loss_, "step_lr": reg.step_lr_, "epochs": reg.history_},
                      f"refit on train + validation ({len(all_df):,} rows)": {
                          "step_loss": final.step_loss_, "step_lr": final.step_lr_, "epochs": final.history_}},
                     out_dir / "loss_curves.png")
    train_total = reg.fit_seconds_ + final.fit_seconds_
    extra = {"params_source": source, "epochs": config.epochs, "batch_size": config.batch_size,
             "lr": config.lr, "weight_decay": config.weight_decay, "bf16": config.use_bf16,
             "valid_fit_seconds": round(reg.fit_seconds_, 2), "refit_seconds": round(final.fit_seconds_, 2),
             "train_seconds_total": round(train_total, 2),
             "seconds_per_epoch": round(sum(epoch_s) / len(epoch_s), 2),
             "valid_epochs": reg.history_, "peak_rss_mb": round(peak_rss_mb()),
             "refit": config.refit, "refit_epochs": config.refit_epochs if config.refit == "continue" else config.epochs,
             "refit_rows": len(all_df), "refit_test_stores_only": config.refit_test_stores_only,
             "seed": config.seed}
    score = write_outputs(build_dir, NAME, valid_df, valid_pred, test_df, test_pred, extra)
    log(f"mlp: validation RMSPE {score:.4f}; training {train_total:.1f} s (validation fit "
        f"{reg.fit_seconds_:.1f} s + refit {final.fit_seconds_:.1f} s); total {time.perf_counter() - t_start:.1f} s; "
        f"peak RSS {peak_rss_mb():.0f} MB; wrote {build_dir / 'submissions' / (NAME + '.csv')}, "
        f"{build_dir / 'predictions'}/{NAME}.{{valid,test}}.parquet and {out_dir}")
    return 0


def run(argv: list[str] | None = None) -> None:
    from competition.cli import run_cli

    run_cli(main, argv if argv is not None else sys.argv[1:])
