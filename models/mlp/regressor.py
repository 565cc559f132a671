"""`MLPRegressor`: the scikit-learn-style face of the network (DataFrames in, Sales out)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.io import write_text_atomic, write_with
from core.seed import seed_everything
from features.columns import ORDINAL_CAT_COLS, model_columns
from features.preprocess import TabularPreprocessor
from features.registry import DEFAULT_FAMILIES
from models.mlp.config import MLPConfig
from models.mlp.network import TabularModel, emb_size_rule
from models.mlp.training import (
    EpochCallback,
    History,
    TensorData,
    fit_network,
    predict_log,
    resolve_device,
    torch_threads,
)

TARGET = "Sales"


# Some features are NaN only at the edges of the data: the closure features where a data gap or
# the end of the table comes first, rarely in training and often in a window. With a `<col>_na`
# flag for each, the MLP extrapolated through flags it had barely seen (BatchNorm scales a rare
# flag to tens of standard deviations) and predicted several times the Sales of whole stores
# (docs/RESULTS.md, "Measurements the code relies on"). MLPConfig's defaults therefore flag NaN
# only for columns NaN on a minimum share of training rows and clip every input into its
# training range.
# Sales and customer levels (and their spreads) span orders of magnitude across stores; the target
# is log Sales, so these enter as log1p, where "twice the history" is the same step for every
# store (FamilySpec.log_cols). Ratios (sales per customer, trends) stay as they are.
MLP_LOG_COLS = [c for f in DEFAULT_FAMILIES if "mlp" in f.models for c in f.log_cols] + ["CompetitionDistance"]


def _default_columns(df: pd.DataFrame, config: MLPConfig) -> tuple[list[str], list[str]]:
    """features.columns' lists, filtered to what the frame has (external tables are optional).
    With `ordinal_numbers` the ordered categories are continuous inputs too."""
    cats, conts = model_columns("mlp")
    conts = conts + (ORDINAL_CAT_COLS if config.ordinal_numbers else [])
    return [c for c in cats if c in df.columns], [c for c in conts if c in df.columns]


def _make_preprocessor(cat_cols: list[str], cont_cols: list[str], config: MLPConfig) -> Any:
    wanted = MLP_LOG_COLS if config.log_cols is None else config.log_cols
    return TabularPreprocessor(cat_cols, cont_cols, [c for c in wanted if c in cont_cols],
                               config.na_flag_min_rate, clip=True)


def _preprocessor_from_dict(d: dict[str, Any]) -> Any:
    return TabularPreprocessor.from_dict(d)


def _seed_everything(seed: int) -> None:
    seed_everything(seed)


class MLPRegressor:
    """Entity-embedding MLP on log Sales.

    `fit(train_df, valid_df=None, epoch_callback=None)` fits the preprocessor on `train_df` only,
    trains and returns `self`; `predict(df)` returns Sales (exp of the log prediction).
    Learned attributes end in `_`: `preprocessor_`, `model_`, `cat_cols_`, `cont_cols_`,
    `emb_dims_`, `y_range_`, `history_`, `fit_seconds_`.
    """

    def __init__(self, config: MLPConfig | None = None) -> None:
        self.config = config if config is not None else MLPConfig()

    # ----------------------------------------------------------------- data
    def _tensors(self, df: pd.DataFrame, with_target: bool) -> TensorData:
        cats, conts = self.preprocessor_.transform(df)
        y = y_aux = None
        if with_target:
            sales = df[TARGET].to_numpy(dtype=np.float64)
            if (sales <= 0).any():
                raise ValueError("the MLP trains on log Sales: pass rows with Sales > 0 only "
                                 "(models.common.training_frames does that)")
            y = torch.from_numpy(np.log(sales).astype(np.float32))
            if self.config.customers_weight > 0:
                if "Customers" not in df.columns:
                    raise ValueError("customers_weight > 0 needs a Customers column in the training rows")
                customers = np.maximum(df["Customers"].to_numpy(dtype=np.float64), 1.0)
                y_aux = torch.from_numpy(np.log(customers).astype(np.float32))
        # int32 codes: half the memory of int64 and cheaper index arithmetic in the embedding.
        return TensorData(torch.as_tensor(np.ascontiguousarray(cats), dtype=torch.int32),
                          torch.as_tensor(np.ascontiguousarray(conts), dtype=torch.float32), y, y_aux)

    def _build_model(self, n_cont: int) -> TabularModel:
        cfg = self.config
        return TabularModel(self.cardinalities_, self.emb_dims_, n_cont, cfg.layers, cfg.ps,
                            cfg.emb_drop, self.y_range_, n_out=cfg.n_outputs())

    def _init_output_bias(self, train: TensorData) -> None:
        """Start the sigmoid at the mean log Sales instead of mid-range (~5.8 vs ~8.7).

        With fast.ai's zero-ish start the first few hundred steps only learn the mean; this is
        the one change from its init, and it leaves every later step the same problem.
        """
        lo, hi = self.y_range_
        targets = [train.y_log] + ([] if train.y_aux is None else [train.y_aux])
        with torch.no_grad():
            for j, y in enumerate(targets):
                frac = float(((y.mean() - lo) / (hi - lo)).clamp(1e-4, 1 - 1e-4))
                self.model_.head.bias[j] = float(np.log(frac / (1 - frac)))

    # ------------------------------------------------------------------ API
    def prepare(self, train_df: pd.DataFrame) -> TensorData:
        """Fit the preprocessor and the network's shape on `train_df`; return its tensors."""
        cfg = self.config
        default_cats, default_conts = (None, None)
        if cfg.cat_cols is None or cfg.cont_cols is None:
            default_cats, default_conts = _default_columns(train_df, cfg)
        self.cat_cols_ = list(cfg.cat_cols) if cfg.cat_cols is not None else default_cats
        self.cont_cols_ = list(cfg.cont_cols) if cfg.cont_cols is not None else default_conts
        unknown = set(cfg.emb_sizes) - set(self.cat_cols_)
        if unknown:
            raise ValueError(f"emb_sizes names columns that are not categorical inputs: {sorted(unknown)}")
        self.preprocessor_ = _make_preprocessor(self.cat_cols_, self.cont_cols_, cfg)
        self.preprocessor_.fit(train_df)
        self.cardinalities_ = [int(self.preprocessor_.cardinalities_[c]) for c in self.cat_cols_]
        self.emb_dims_ = [int(cfg.emb_sizes.get(c, emb_size_rule(n)))
                          for c, n in zip(self.cat_cols_, self.cardinalities_)]
        data = self._tensors(train_df, with_target=True)  # refuses Sales <= 0
        # fast.ai's y_range: (0, 1.2 * max log Sales), so the sigmoid can reach the largest targets.
        self.y_range_ = (0.0, float(cfg.y_range_scale * np.log(train_df[TARGET].max())))
        return data

    def fit(self, train_df: pd.DataFrame, valid_df: pd.DataFrame | None = None,
            epoch_callback: EpochCallback | None = None) -> MLPRegressor:
        """Fit on `train_df` (rows with Sales > 0), reporting validation RMSPE per epoch.

        `epoch_callback(epoch, valid_rmspe)` runs after every epoch (epoch from 0; NaN RMSPE
        without `valid_df`); what it raises (e.g. `optuna.TrialPruned`) propagates.
        """
        cfg = self.config
        t0 = time.perf_counter()
        _seed_everything(cfg.seed)
        train = self.prepare(train_df)
        valid = self._tensors(valid_df, with_target=True) if valid_df is not None else None
        with torch_threads(cfg.n_threads()):
            # Seed again right before the weights are drawn, so the init does not depend on how
            # much randomness preprocessing used.
            torch.manual_seed(cfg.seed)
            self.model_ = self._build_model(train.conts.shape[1]).to(resolve_device(cfg))
            self._init_output_bias(train)
            if cfg.progress:
                print(self.model_.summary(), flush=True)
            history = fit_network(self.model_, train, cfg, valid, epoch_callback)
        return self._record(history, t0)

    def fit_more(self, train_df: pd.DataFrame | TensorData, epochs: int, valid_df: pd.DataFrame | None = None,
                 epoch_callback: EpochCallback | None = None, rows: torch.Tensor | None = None) -> MLPRegressor:
        """Warm start: train the fitted network `epochs` more one-cycle epochs on `train_df`.

        The schedule is `config`'s (peak LR, batch, seed) over `epochs` epochs. The preprocessor
        and `y_range_` stay as fitted: the network learned those codes and scales, and a category
        it has never seen gets the unknown code 0, as at prediction time. `history_`,
        `step_loss_`, `step_lr_` and `fit_seconds_` then describe this call only.
        `train_df` may also be `self.tensors(df)`, so that several continuations of one network
        (`MLPRecipe`'s refits) transform their rows once; `rows` is `fit_network`'s.
        """
        if not hasattr(self, "model_"):
            raise RuntimeError("MLPRegressor.fit_more continues a fitted network: call fit first")
        cfg = self.config.with_params({"epochs": epochs})
        t0 = time.perf_counter()
        _seed_everything(cfg.seed)
        train = train_df if isinstance(train_df, TensorData) else self._tensors(train_df, with_target=True)
        valid = self._tensors(valid_df, with_target=True) if valid_df is not None else None
        with torch_threads(cfg.n_threads()):
            history = fit_network(self.model_, train, cfg, valid, epoch_callback, desc="refit", rows=rows)
        return self._record(history, t0)

    def tensors(self, df: pd.DataFrame) -> TensorData:
        """`df` (rows with Sales > 0) as the fitted preprocessor's tensors, with the log target."""
        if not hasattr(self, "preprocessor_"):
            raise RuntimeError("MLPRegressor.tensors needs the fitted preprocessor: call fit first")
        return self._tensors(df, with_target=True)

    def _record(self, history: History, t0: float) -> MLPRegressor:
        """Keep what a training call measured (`fit` and `fit_more` alike)."""
        self.history_ = history.epochs
        self.step_loss_ = history.step_loss
        self.step_lr_ = history.step_lr
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def predict_log(self, df: pd.DataFrame) -> np.ndarray:
        """Predicted log Sales, float64 [len(df)]."""
        data = self._tensors(df, with_target=False)
        with torch_threads(self.config.n_threads()):
            out = predict_log(self.model_, data, self.config)
        return out.double().numpy()

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predicted Sales, float64 [len(df)] (not log Sales)."""
        return np.exp(self.predict_log(df))

    def summary(self) -> str:
        return self.model_.summary()

    # ---------------------------------------------------------- persistence
    def save(self, directory: Path) -> Path:
        """Write `config.json`, `weights.pt`, `preprocessor.json` and `history.json` to `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory / "config.json")
        # The fitted shape of the network travels with the weights it describes.
        arch = {"cat_cols": self.cat_cols_, "cont_cols": self.cont_cols_,
                "cardinalities": self.cardinalities_, "emb_dims": self.emb_dims_,
                "n_cont": int(self.model_.n_cont), "y_range": list(self.y_range_)}
        state = {"arch": arch, "state_dict": {k: v.cpu() for k, v in self.model_.state_dict().items()}}
        write_with(directory / "weights.pt", lambda tmp: torch.save(state, tmp))
        write_text_atomic(directory / "preprocessor.json", json.dumps(self.preprocessor_.to_dict()) + "\n")
        write_text_atomic(directory / "history.json", json.dumps(
            {"epochs": self.history_, "fit_seconds": self.fit_seconds_}, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: Path) -> MLPRegressor:
        """Restore a regressor written by `save`: config, preprocessor, weights and history."""
        directory = Path(directory)
        self = cls(MLPConfig.load(directory / "config.json"))
        saved = torch.load(directory / "weights.pt", map_location="cpu", weights_only=True)
        arch = saved["arch"]
        self.cat_cols_, self.cont_cols_ = list(arch["cat_cols"]), list(arch["cont_cols"])
        self.cardinalities_, self.emb_dims_ = list(arch["cardinalities"]), list(arch["emb_dims"])
        self.y_range_ = tuple(arch["y_range"])
        self.preprocessor_ = _preprocessor_from_dict(json.loads((directory / "preprocessor.json").read_text()))
        self.model_ = self._build_model(int(arch["n_cont"]))
        self.model_.load_state_dict(saved["state_dict"])
        # Saved from any device, loaded onto this machine's (a GPU build predicts on a CPU).
        self.model_.to(resolve_device(self.config)).eval()
        hist_path = directory / "history.json"
        hist = json.loads(hist_path.read_text()) if hist_path.exists() else {}
        self.history_ = hist.get("epochs", [])
        self.fit_seconds_ = hist.get("fit_seconds", float("nan"))
        return self


def load(directory: Path) -> MLPRegressor:
    """`MLPRegressor.load(directory)`."""
    return MLPRegressor.load(directory)


__all__ = ["MLPRegressor", "load", "History"]
