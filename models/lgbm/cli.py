"""``python -m models.lgbm``: the LightGBM stage (every pseudo-test window, then the test)."""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.cli import run_cli
from core.io import write_text_atomic
from core.seed import DEFAULT_SEED, seed_everything
from models.common import kept_stage, run_stage
from models.lgbm.params import DEFAULT_THREADS, NAME, resolve_params
from models.lgbm.plots import save_importance_plot
from models.lgbm.recipe import LGBMRecipe


def train_and_predict(build_dir: Path, seed: int, cli_params: str | None = None, *,
                      num_threads: int = DEFAULT_THREADS, log: Callable[[str], None] = print) -> dict[str, Any]:
    """The whole stage: the recipe on every pseudo-test window, then on the competition; writes
    predictions, submission, model, importance plot and config. Returns the recorded summary
    (an earlier run's, its files kept, when the stage's inputs are unchanged: ``kept_stage``)."""
    t0 = time.perf_counter()
    params, loop, source = resolve_params(build_dir, cli_params, log)
    rounds = loop["num_boost_round"]
    log(f"lgbm: {rounds} rounds at learning rate {params.get('learning_rate')}, {num_threads} threads")
    recipe = LGBMRecipe(params, seed=seed, num_boost_round=rounds, num_threads=num_threads)
    inputs = recipe.stage_inputs()
    kept = kept_stage(build_dir, NAME, inputs, log)
    if kept is not None:
        return kept
    summary = run_stage(build_dir, NAME, recipe, {"params_source": source, "num_boost_round": rounds}, log, inputs)
    out_dir = build_dir / "models" / NAME
    save_importance_plot(recipe.model_, out_dir / "importance.png")
    recipe.model_.save(out_dir / "model.txt")
    cats, conts = recipe.columns_
    config = {"params": recipe.model_.params_, "params_source": source, "seed": seed, "num_boost_round": rounds,
              "categorical": cats, "continuous": conts, "pseudo_test_rmspe": summary["rmspe"],
              "pseudo_test_rmspe_sd": summary["rmspe_sd"], "seconds": round(time.perf_counter() - t0, 1)}
    write_text_atomic(out_dir / "config.json", json.dumps(config, indent=2, default=str) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    """``python -m models.lgbm``: parse the arguments, seed, run :func:`train_and_predict`."""
    parser = argparse.ArgumentParser(prog="python -m models.lgbm",
                                     description="LightGBM on log(Sales): every pseudo-test window, then the test")
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--params", default=None,
                        help="JSON object (or a file holding one) overriding LightGBM parameters "
                             "(also num_boost_round)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help="LightGBM threads; results are reproducible for a fixed value")
    args = parser.parse_args(argv)
    seed_everything(args.seed)
    train_and_predict(args.build_dir, args.seed, args.params, num_threads=args.threads)
    return 0



def run(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m models.lgbm``: ``main`` with user errors turned into exit 2."""
    run_cli(main, argv)
