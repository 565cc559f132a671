"""LightGBM's parameters: the defaults, the fixed round count, and what ``--params`` may not set."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import DataError
from models.common import layered_params

NAME = "lgbm"

# Defaults follow what the top Rossmann solutions did with boosted trees: a log target (RMSPE is
# a relative error, and an L2 loss on log(Sales) approximates it), many leaves, a low learning
# rate with enough rounds, and strong column subsampling (the store-level columns are highly
# redundant, so each tree seeing half of them decorrelates the trees). The learning rate is the
# knob that trades time for accuracy: lower it, with more rounds, if you have more than 2 cores.
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 255,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.5,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 255,
    # Store has ~1,115 levels: let the categorical splitter group them instead of one-hot.
    "max_cat_to_onehot": 4,
    "cat_smooth": 10.0,
    "max_cat_threshold": 64,
}
# The recipe's fixed round count (it goes to lgb.train, not params): every window and the final
# fit use the same count, so nothing is chosen on the rows a window scores (docs/RESULTS.md).
DEFAULT_NUM_BOOST_ROUND = 600
DEFAULT_THREADS = 2
# Keys that may appear in a params dict (tuning JSON, --params) but steer the loop instead.
LOOP_KEYS = ("num_boost_round",)
# Keys of LightGBM's own that the fixed-round recipe cannot honour: refused, not ignored.
_FIXED_ROUNDS = "every window and the final fit train num_boost_round rounds; set num_boost_round"
REFUSED_KEYS = {
    "early_stopping_rounds": _FIXED_ROUNDS,
    "early_stopping_round": _FIXED_ROUNDS,
    "num_iterations": "set num_boost_round",
    "metric": "nothing is evaluated while training; the windows score the predictions",
}


def resolve_params(build_dir: Path, cli_params: str | None,
                   log: Callable[[str], None] = print) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Layer defaults < tuned (``B/tuning/lgbm.json``) < ``--params`` (``models.common.layered_params``).

    Returns ``(lgb_params, loop_settings, source)``, where loop settings hold ``num_boost_round``
    and ``source`` says where params came from. A key the recipe cannot honour (early stopping,
    a metric) raises ``DataError`` naming it and what to set instead.
    """
    overrides, source = layered_params(build_dir, NAME, cli_params, log)
    params = {**DEFAULT_PARAMS, **overrides}
    refused = {k: why for k, why in REFUSED_KEYS.items() if k in params}
    if refused:
        raise DataError("LightGBM parameters the recipe cannot honour: "
                        + "; ".join(f"{k!r} ({why})" for k, why in refused.items()),
                        column="--params" if cli_params else None,
                        fix=f"remove them from --params or {build_dir / 'tuning' / 'lgbm.json'}")
    loop: dict[str, Any] = {"num_boost_round": DEFAULT_NUM_BOOST_ROUND}
    for key in LOOP_KEYS:
        if key in params:
            loop[key] = int(params.pop(key))
    return params, loop, source
