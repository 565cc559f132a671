"""LightGBM on log(Sales): the gradient-boosting baseline every neural net is checked against.

    python -m models.lgbm --build-dir build --seed 42 [--params '{"num_leaves": 63}']

One recipe (``LGBMRecipe``: a fixed number of rounds on every open train day) runs on each
pseudo-test window and then on all of train for the test (``models.common.run_stage``), and writes
the files described in ARCHITECTURE.md. No correction factor here: the ensembler fits the one
factor of the chain on the out-of-window predictions. Parameters are layered: defaults < ``B/tuning/lgbm.json``
(written by ``python -m models.tune --model lgbm``) < ``--params``.
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from core.errors import DataError
from core.io import pyplot, save_png, write_text_atomic
from competition.metric import lgb_rmspe

NAME = "lgbm"

# Defaults follow what the top Rossmann solutions did with boosted trees: a log target (RMSPE is
# a relative error, and an L2 loss on log(Sales) approximates it), many leaves, a low learning
# rate with enough rounds, and strong column subsampling (the store-level columns are highly
# redundant, so each tree seeing half of them decorrelates the trees). The learning rate is the
# knob that trades time for accuracy: 0.05 is the calibration point (about 0.118 with the fast.ai
# features and 127 leaves); lower it for the last bit of accuracy if you have more than 2 cores.
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
# Training-loop settings that are not LightGBM parameters (they go to lgb.train, not params).
# The recipe's fixed round count: at learning rate 0.05 the pseudo-test RMSPE is flat from about
# 600 rounds on (docs/RESULTS.md), and every window and the final fit must use the same count.
DEFAULT_NUM_BOOST_ROUND = 600
# The cap of an early-stopped fit (tuning), where the validation set decides when to stop.
MAX_BOOST_ROUND = 3000
DEFAULT_EARLY_STOPPING_ROUNDS = 100
DEFAULT_THREADS = 2
# Keys that may appear in a params dict (tuning JSON, --params) but steer the loop instead.
LOOP_KEYS = ("num_boost_round", "early_stopping_rounds")


class LGBMSalesRegressor:
    """sklearn-style LightGBM regressor on log(Sales), scored with RMSPE.

    ``fit`` takes Sales (not log) and ``predict`` returns Sales, so callers never see the
    transform. Categorical features must arrive as pandas ``category`` dtype (LightGBM then
    stores the category lists in the model and maps them again at prediction time). Attributes
    learnt by ``fit`` end in ``_``.
    """

    def __init__(self, params: Mapping[str, Any] | None = None, *, seed: int = 0,
                 num_boost_round: int = MAX_BOOST_ROUND,
                 early_stopping_rounds: int = DEFAULT_EARLY_STOPPING_ROUNDS,
                 num_threads: int = DEFAULT_THREADS, log_period: int = 100) -> None:
        self.params = dict(params) if params is not None else dict(DEFAULT_PARAMS)
        self.seed = seed
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.num_threads = num_threads
        self.log_period = log_period

    def lgb_params(self, n_rows: int, n_cols: int) -> dict[str, Any]:
        """The full LightGBM parameter dict: user params plus what reproducibility needs."""
        params = dict(self.params)
        params.update({
            # RMSPE is reported by the feval; LightGBM's own metric would only double the logs.
            "metric": "None",
            "verbosity": -1,
            # `seed` fans out to bagging/feature-fraction/data-random seeds; with deterministic
            # and a fixed thread count the same seed gives bit-identical models.
            "seed": self.seed,
            "deterministic": True,
            "num_threads": self.num_threads,
        })
        # Pick the histogram layout explicitly: with it fixed LightGBM skips its timing test
        # (whose outcome can differ between runs, and with it the floating-point sums). Row-wise
        # wins for long, narrow data like ours; col-wise for wide data.
        params.pop("force_row_wise", None)
        params.pop("force_col_wise", None)
        params["force_row_wise" if n_rows >= 20 * n_cols else "force_col_wise"] = True
        return params

    def fit(self, X: pd.DataFrame, sales: Any, *, eval_set: tuple[pd.DataFrame, Any] | None = None,
            num_boost_round: int | None = None,
            callbacks: Sequence[Callable[..., Any]] = ()) -> LGBMSalesRegressor:
        """Fit on Sales > 0; with ``eval_set`` early-stop on its RMSPE (metric name ``rmspe``,
        dataset name ``valid``, which is what ``LightGBMPruningCallback`` must be given)."""
        y = _log_sales(sales, "training")
        rounds = int(num_boost_round or self.num_boost_round)
        params = self.lgb_params(len(X), X.shape[1])
        train_set = lgb.Dataset(X, label=y, categorical_feature="auto", free_raw_data=True)
        valid_sets: list[lgb.Dataset] = []
        valid_names: list[str] = []
        self.evals_result_: dict[str, dict[str, list[float]]] = {}
        cbs: list[Callable[..., Any]] = [lgb.record_evaluation(self.evals_result_)]
        if eval_set is not None:
            Xv, sales_v = eval_set
            valid_sets.append(lgb.Dataset(Xv, label=_log_sales(sales_v, "validation"),
                                          reference=train_set, categorical_feature="auto"))
            valid_names.append("valid")
            if self.early_stopping_rounds:
                cbs.append(lgb.early_stopping(self.early_stopping_rounds, first_metric_only=True,
                                              verbose=self.log_period > 0))
            if self.log_period > 0:
                cbs.append(lgb.log_evaluation(self.log_period))
        cbs.extend(callbacks)
        start = time.perf_counter()
        self.booster_ = lgb.train(params, train_set, num_boost_round=rounds,
                                  valid_sets=valid_sets or None, valid_names=valid_names or None,
                                  feval=lgb_rmspe if valid_sets else None, callbacks=cbs)
        self.fit_seconds_ = time.perf_counter() - start
        # Without a validation set (the refit) every round is kept.
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.best_score_ = (float(self.evals_result_["valid"]["rmspe"][self.best_iteration_ - 1])
                            if valid_sets else None)
        self.feature_names_ = list(X.columns)
        self.n_rows_ = len(X)
        self.params_ = params
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted Sales (back from the log scale) with the best iteration."""
        self._check_fitted()
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise DataError(f"LightGBM model was trained on columns that are missing now: {missing}",
                            fix="rebuild the features (make features) and retrain (make train)")
        log_pred = self.booster_.predict(X[self.feature_names_], num_iteration=self.best_iteration_)
        return np.exp(log_pred)

    def feature_importance(self, kind: str = "gain") -> pd.Series:
        self._check_fitted()
        values = self.booster_.feature_importance(importance_type=kind,
                                                  iteration=self.best_iteration_)
        return pd.Series(values, index=self.feature_names_, name=kind).sort_values(ascending=False)

    def save(self, path: Path) -> None:
        self._check_fitted()
        text = self.booster_.model_to_string(num_iteration=self.best_iteration_)
        write_text_atomic(path, text)

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise RuntimeError("LGBMSalesRegressor is not fitted yet: call fit() first")


def _log_sales(sales: Any, what: str) -> np.ndarray:
    y = np.asarray(sales, dtype=np.float64)
    if (y <= 0).any() or not np.isfinite(y).all():
        raise DataError(f"LightGBM {what} target has {int((~(y > 0)).sum())} non-positive or "
                        "missing Sales values; a log target needs Sales > 0",
                        fix="train on open days with Sales > 0 (models.common.training_frames)")
    return np.log(y)


def resolve_params(build_dir: Path, cli_params: str | None,
                   log: Callable[[str], None] = print) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Layer defaults < tuned (``B/tuning/lgbm.json``) < ``--params``.

    Returns ``(lgb_params, loop_settings, source)``, where loop settings hold
    ``num_boost_round``/``early_stopping_rounds`` and ``source`` says where params came from.
    """
    params = dict(DEFAULT_PARAMS)
    loop: dict[str, Any] = {"num_boost_round": DEFAULT_NUM_BOOST_ROUND,
                            "early_stopping_rounds": DEFAULT_EARLY_STOPPING_ROUNDS}
    source = "defaults"
    tuned = load_tuned(build_dir)
    if tuned:
        log(f"lgbm: using tuned parameters from {build_dir / 'tuning' / 'lgbm.json'}: "
            f"{json.dumps(tuned, sort_keys=True)}")
        params.update(tuned)
        source = "tuned"
    else:
        log(f"lgbm: no tuned parameters at {build_dir / 'tuning' / 'lgbm.json'}; using defaults "
            "(run `make tune MODEL=lgbm` to tune)")
    if cli_params:
        try:
            extra = json.loads(cli_params)
        except json.JSONDecodeError as err:
            raise DataError(f"--params is not valid JSON: {err}",
                            fix="""pass a JSON object, e.g. --params '{"num_leaves": 63}'""") from err
        if not isinstance(extra, dict):
            raise DataError("--params must be a JSON object", fix="""e.g. --params '{"num_leaves": 63}'""")
        log(f"lgbm: --params override: {json.dumps(extra, sort_keys=True)}")
        params.update(extra)
        source = f"{source}+cli"
    for key in LOOP_KEYS:
        if key in params:
            loop[key] = int(params.pop(key))
    return params, loop, source


def load_tuned(build_dir: Path) -> dict[str, Any] | None:
    """Tuned LightGBM parameters, or None. Delegates to ``models.common.tuned_params``."""
    from models.common import tuned_params

    tuned = tuned_params(build_dir, NAME)
    if not tuned:
        return None
    # Accept both the bare params dict and the tuner's {"params": {...}, ...} record.
    if isinstance(tuned.get("params"), dict):
        tuned = tuned["params"]
    return dict(tuned)


def feature_columns(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The shared CAT/CONT lists filtered to the columns present (external tables are optional)."""
    from features.columns import CAT_COLS, CONT_COLS

    cats = [c for c in CAT_COLS if c in df.columns]
    conts = [c for c in CONT_COLS if c in df.columns]
    if not cats and not conts:
        raise DataError("the feature table has none of the feature columns in features.columns",
                        fix="rebuild the features: make features")
    return cats, conts


def make_preprocessor(cats: list[str], conts: list[str], fit_df: pd.DataFrame) -> Any:
    from features.preprocess import TabularPreprocessor

    pre = TabularPreprocessor(cats, conts)
    pre.fit(fit_df)
    return pre


def lgb_frame(pre: Any, df: pd.DataFrame, cats: list[str]) -> pd.DataFrame:
    """Feature frame for LightGBM: categoricals as pandas ``category`` dtype.

    pandas 3 stores strings as the ``str`` dtype, which LightGBM rejects, so anything that is not
    numeric or already categorical is cast here even if the preprocessor let it through.
    """
    frame = pre.transform_frame(df)
    for col in frame.columns:
        dtype = frame[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            continue
        if col in cats or not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            frame[col] = frame[col].astype("category")
    return frame


def save_importance_plot(model: LGBMSalesRegressor, path: Path, top: int = 30) -> None:
    """Horizontal bar chart of gain importance (share of total gain), written atomically."""
    plt = pyplot()

    imp = model.feature_importance("gain")
    share = (imp / max(imp.sum(), 1e-12)).head(top)[::-1]
    fig, ax = plt.subplots(figsize=(7, max(3, 0.28 * len(share) + 1)))
    ax.barh(share.index, share.values, color="tab:green")
    ax.set_xlabel("share of total split gain")
    ax.set_title(f"LightGBM feature importance (top {len(share)}, {model.best_iteration_} trees)")
    fig.tight_layout()
    save_png(fig, path)


class LGBMRecipe:
    """The LightGBM recipe for ``models.common.run_stage``: a fixed number of rounds on every open
    day of a table's train part, then predict its test part.

    The round count is fixed beforehand (``num_boost_round``), not early-stopped: a window's
    rows may decide nothing about its own fit, and the test has no labels to stop on either. The
    last fitted model stays in ``model_`` (the competition's, after ``run_stage``).
    """

    def __init__(self, params: Mapping[str, Any], *, seed: int, num_boost_round: int,
                 num_threads: int = DEFAULT_THREADS) -> None:
        self.params = dict(params)
        self.seed = seed
        self.num_boost_round = num_boost_round
        self.num_threads = num_threads

    def __call__(self, train: pd.DataFrame, test: pd.DataFrame, meta: Mapping[str, Any]
                 ) -> tuple[np.ndarray, dict[str, Any]]:
        from models.common import fit_frame

        fit_df = fit_frame(train)
        cats, conts = feature_columns(fit_df)
        pre = make_preprocessor(cats, conts, fit_df)
        self.model_ = LGBMSalesRegressor(self.params, seed=self.seed, num_threads=self.num_threads,
                                         num_boost_round=self.num_boost_round, early_stopping_rounds=0,
                                         log_period=0)
        self.model_.fit(lgb_frame(pre, fit_df, cats), fit_df["Sales"])
        self.columns_ = (cats, conts)
        return self.model_.predict(lgb_frame(pre, test, cats)), {
            "rounds": self.model_.best_iteration_, "n_fit": len(fit_df),
            "fit_seconds": round(self.model_.fit_seconds_, 1)}


def train_and_predict(build_dir: Path, seed: int, cli_params: str | None = None, *,
                      num_threads: int = DEFAULT_THREADS, log: Callable[[str], None] = print) -> dict[str, Any]:
    """The whole stage: the recipe on every pseudo-test window, then on the competition; writes
    predictions, submission, model, importance plot and config. Returns the recorded summary."""
    from models.common import run_stage

    t0 = time.perf_counter()
    params, loop, source = resolve_params(build_dir, cli_params, log)
    rounds = loop["num_boost_round"]
    log(f"lgbm: {rounds} rounds at learning rate {params.get('learning_rate')}, {num_threads} threads")
    recipe = LGBMRecipe(params, seed=seed, num_boost_round=rounds, num_threads=num_threads)
    summary = run_stage(build_dir, NAME, recipe, {"params_source": source, "num_boost_round": rounds}, log)
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
    parser = argparse.ArgumentParser(prog="python -m models.lgbm", description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--params", default=None,
                        help="JSON object overriding LightGBM parameters (also num_boost_round, "
                             "early_stopping_rounds)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help="LightGBM threads; results are reproducible for a fixed value")
    args = parser.parse_args(argv)
    from core.seed import seed_everything

    seed_everything(args.seed)
    train_and_predict(args.build_dir, args.seed, args.params, num_threads=args.threads)
    return 0


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
