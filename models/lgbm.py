"""LightGBM on log(Sales): the gradient-boosting baseline every neural net is checked against.

    python -m models.lgbm --build-dir build --seed 42 [--params '{"num_leaves": 63}']

Fits on the training part, early-stops on the validation part (the last six weeks, scored with
RMSPE), refits on train + validation with the best iteration scaled by the row ratio, and writes
the files described in ARCHITECTURE.md. Parameters are layered: defaults < ``B/tuning/lgbm.json``
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

from competition.errors import DataError
from competition.io import pyplot, save_png, write_text_atomic
from competition.metric import lgb_rmspe, optimal_factor, rmspe

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
DEFAULT_NUM_BOOST_ROUND = 3000
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
                 num_boost_round: int = DEFAULT_NUM_BOOST_ROUND,
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


def scaled_rounds(best_iteration: int, n_fit: int, n_all: int) -> int:
    """Rounds for the refit on train + validation.

    With more rows each round's step is averaged over more data, so the same learning rate needs
    proportionally more rounds to reach the same fit; scaling by the row ratio is the usual rule.
    """
    return max(1, int(round(best_iteration * n_all / max(n_fit, 1))))


def rmspe_scale(sales: Any, pred: Any, bounds: tuple[float, float] = (0.9, 1.1)) -> float:
    """The factor c minimising RMSPE(sales, c * pred), in closed form.

    An L2 fit on log(Sales) predicts something like the conditional geometric mean, while RMSPE
    punishes over-prediction harder than under-prediction (the error is relative to the actual),
    so the best RMSPE lies a little below: minimising sum((1 - c * r)^2) with r = pred / sales gives
    c = sum(r) / sum(r^2). Top Rossmann solutions applied such a factor (about 0.985) by hand; here
    it is fitted on the validation window and clipped, since a factor far from 1 means a bug.
    """
    y = np.asarray(sales, dtype=np.float64)
    scored = y > 0
    return float(np.clip(optimal_factor(np.asarray(pred, dtype=np.float64)[scored], y[scored]), *bounds))


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


def train_and_predict(build_dir: Path, seed: int, cli_params: str | None = None, *,
                      num_threads: int = DEFAULT_THREADS, correct: bool = True,
                      log: Callable[[str], None] = print) -> dict[str, Any]:
    """The whole stage: fit, validate, refit, predict, write. Returns the run's config/summary."""
    from models.common import full_frame, load_feature_tables, training_frames, write_outputs

    t0 = time.perf_counter()
    train_df, test_df, meta = load_feature_tables(build_dir)
    fit_df, valid_df = training_frames(train_df, meta)
    cats, conts = feature_columns(fit_df)
    params, loop, source = resolve_params(build_dir, cli_params, log)
    log(f"lgbm: {len(fit_df):,} training rows, {len(valid_df):,} validation rows "
        f"({meta.get('valid_start')}..{meta.get('valid_end')}), {len(cats)} categorical + "
        f"{len(conts)} continuous features, {num_threads} threads")

    # 1. Fit on the training part, early-stop on validation.
    pre = make_preprocessor(cats, conts, fit_df)
    X_valid = lgb_frame(pre, valid_df, cats)
    model = LGBMSalesRegressor(params, seed=seed, num_threads=num_threads, **loop)
    model.fit(lgb_frame(pre, fit_df, cats), fit_df["Sales"], eval_set=(X_valid, valid_df["Sales"]))
    raw_pred = model.predict(X_valid)
    raw_score = rmspe(valid_df["Sales"].to_numpy(), raw_pred)
    scale = rmspe_scale(valid_df["Sales"], raw_pred) if correct else 1.0
    valid_pred = raw_pred * scale
    log(f"lgbm: validation RMSPE {raw_score:.5f} at iteration {model.best_iteration_} "
        f"({model.fit_seconds_:.0f}s); x{scale:.4f} RMSPE correction -> "
        f"{rmspe(valid_df['Sales'].to_numpy(), valid_pred):.5f}")
    if model.best_iteration_ >= loop["num_boost_round"]:
        log(f"lgbm: warning: early stopping never triggered within {loop['num_boost_round']} "
            "rounds; raise num_boost_round or the learning rate")
    out_dir = build_dir / "models" / NAME
    save_importance_plot(model, out_dir / "importance.png")
    model.save(out_dir / "model_valid.txt")

    # 2. Refit on train + validation with the best iteration scaled to the larger data.
    all_df = full_frame(train_df, meta)
    rounds = scaled_rounds(model.best_iteration_, len(fit_df), len(all_df))
    log(f"lgbm: refit on {len(all_df):,} rows for {rounds} rounds "
        f"({model.best_iteration_} x {len(all_df):,} / {len(fit_df):,})")
    pre_all = make_preprocessor(cats, conts, all_df)
    final = LGBMSalesRegressor(params, seed=seed, num_threads=num_threads, num_boost_round=rounds,
                               early_stopping_rounds=0, log_period=0)
    final.fit(lgb_frame(pre_all, all_df, cats), all_df["Sales"])
    test_pred = final.predict(lgb_frame(pre_all, test_df, cats)) * scale
    final.save(out_dir / "model.txt")

    seconds = time.perf_counter() - t0
    extra = {"best_iteration": model.best_iteration_, "refit_rounds": rounds,
             "params_source": source, "rmspe_uncorrected": raw_score, "correction": scale,
             "seconds": round(seconds, 1)}
    # write_outputs sets closed test days to 0, writes both parquets and the submission, and
    # records the validation RMSPE in reports/validation.json.
    score = write_outputs(build_dir, NAME, valid_df, valid_pred, test_df, test_pred, extra)
    config = {
        "params": model.params_, "params_source": source, "seed": seed,
        "num_boost_round": loop["num_boost_round"],
        "early_stopping_rounds": loop["early_stopping_rounds"],
        "best_iteration": model.best_iteration_, "refit_rounds": rounds,
        "n_fit": len(fit_df), "n_valid": len(valid_df), "n_refit": len(all_df),
        "categorical": cats, "continuous": conts,
        "valid_rmspe": score, "valid_rmspe_uncorrected": raw_score, "correction": scale,
        "seconds": round(seconds, 1),
    }
    write_text_atomic(out_dir / "config.json", json.dumps(config, indent=2, default=str) + "\n")
    log(f"lgbm: validation RMSPE {score:.5f}; wrote {build_dir / 'submissions' / (NAME + '.csv')} "
        f"({seconds:.0f}s total)")
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.lgbm", description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--params", default=None,
                        help="JSON object overriding LightGBM parameters (also num_boost_round, "
                             "early_stopping_rounds)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help="LightGBM threads; results are reproducible for a fixed value")
    parser.add_argument("--no-correction", action="store_true",
                        help="skip the RMSPE scale factor fitted on validation (see rmspe_scale)")
    args = parser.parse_args(argv)
    from competition.seed import seed_everything

    seed_everything(args.seed)
    train_and_predict(args.build_dir, args.seed, args.params, num_threads=args.threads,
                      correct=not args.no_correction)
    return 0


if __name__ == "__main__":
    from competition.cli import run_cli

    run_cli(main)
