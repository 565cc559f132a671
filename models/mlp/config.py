"""`MLPConfig`: every hyperparameter of the entity-embedding MLP, saved as `config.json`."""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.io import write_text_atomic
from core.seed import DEFAULT_SEED

REFIT_KINDS = ("all", "recent")
# Settings that were removed and never changed a network's weights (how it ran, not what it
# learned): a saved config.json that still has them loads without them. `compile` went in issue 24.
RETIRED_RUNTIME_FIELDS = ("compile",)


@dataclass
class MLPConfig:
    """Hyperparameters of the model and of its training schedule.

    Architecture defaults are fast.ai's lesson model (`layers=[1000, 500]`, `ps=[0.001, 0.01]`,
    `emb_drop=0.04`). The schedule, the columns and the refits are what won on the pseudo-test
    windows within `make submit`'s time budget on a 2-core CPU (docs/RESULTS.md).
    """

    # --- architecture ---
    layers: list[int] = field(default_factory=lambda: [1000, 500])
    ps: list[float] = field(default_factory=lambda: [0.001, 0.01])
    emb_drop: float = 0.04
    # Per-column embedding size overrides; other columns get min(600, round(1.6 * n**0.56)).
    emb_sizes: dict[str, int] = field(default_factory=dict)
    # Output range is (0, y_range_scale * max log Sales of the training rows), as in fast.ai.
    y_range_scale: float = 1.2
    # None: every column of features.columns.CAT_COLS / CONT_COLS present in the frame.
    cat_cols: list[str] | None = None
    cont_cols: list[str] | None = None
    # With the default cont_cols, the ordered categories (features.columns.ORDINAL_CAT_COLS: day,
    # week, month, year, day counters, ...) also enter as numbers, besides their embeddings: a
    # number lets the network share what it learns between neighbouring values (docs/RESULTS.md,
    # "MLP: ordered categories as numbers too").
    ordinal_numbers: bool = True
    # A second output learns log Customers with this weight on its loss (an auxiliary task that
    # shares the body); 0: one output, log Sales only. Predictions are always the Sales output
    # (docs/RESULTS.md, issue 24).
    customers_weight: float = 0.5
    # --- input preprocessing (features.preprocess.TabularPreprocessor options) ---
    # None: regressor.MLP_LOG_COLS present among the inputs (sales and customer levels, distance).
    log_cols: list[str] | None = None
    na_flag_min_rate: float = 0.01  # no `<col>_na` flag for columns NaN on < 1% of training rows

    # --- optimisation (AdamW + OneCycleLR) ---
    # More optimizer steps beat bigger batches on this data (docs/RESULTS.md).
    epochs: int = 2
    batch_size: int = 1024
    # Small datasets (the synthetic default, a subsample) get smaller batches so that the one-cycle
    # schedule has at least this many optimizer steps; the LR is scaled by sqrt(batch ratio).
    min_steps: int = 300
    lr: float = 8.5e-3          # peak LR of the one-cycle schedule
    weight_decay: float = 0.1   # decoupled (AdamW), applied to every parameter like fast.ai
    pct_start: float = 0.25     # fast.ai's fit_one_cycle warm-up fraction
    div_factor: float = 25.0    # initial LR = lr / div_factor
    final_div_factor: float = 1e4
    beta1_range: tuple[float, float] = (0.85, 0.95)  # one-cycle momentum, as fast.ai
    beta2: float = 0.99
    eps: float = 1e-5

    # --- final fit (for the test predictions) ---
    # The validated network trains `refit_epochs` more one-cycle epochs on all the train rows of
    # the test stores, keeping its preprocessor (docs/RESULTS.md, "Refits").
    refit_epochs: int = 2
    # Members averaged: first fits of seeds seed, seed + 1, ...; each gives the networks of
    # `refits` below; the prediction is the geometric mean over all networks.
    members: int = 1
    # The final networks one first fit spawns: refit j continues a copy of the first fit with seed
    # `seed + k + 100 * j` (its row order and dropout) on the refit rows once ("all") or with the
    # last `recent_days` days counted twice ("recent"). One member with ["all", "recent"] scored
    # level with two members of ["all"] at 84% of the time: two final networks from one first fit
    # (docs/RESULTS.md, issue 24's fourteenth round).
    refits: list[str] = field(default_factory=lambda: ["all", "recent"])
    recent_days: int = 365

    # --- runtime ---
    seed: int = DEFAULT_SEED
    # Where the network trains: "auto" is CUDA when torch sees a GPU (Kaggle's notebooks, most
    # workstations), else the CPU; or "cpu", "cuda", "cuda:1". The data moves to it once per fit.
    device: str = "auto"
    threads: int = 0            # 0: every core this process may use
    # bfloat16 autocast for the dense layers; None: where the device runs bf16 in hardware (a CPU
    # with AVX-512 BF16 or AMX, a recent GPU), fp32 elsewhere (training.bf16_enabled).
    use_bf16: bool | None = None
    eval_batch_size: int = 32768
    progress: bool = True       # tqdm bar per epoch

    def __post_init__(self) -> None:
        if len(self.ps) != len(self.layers):
            raise ValueError(f"ps has {len(self.ps)} entries but layers has {len(self.layers)}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2 (BatchNorm needs 2 rows)")
        if self.members < 1:
            raise ValueError(f"members must be >= 1, got {self.members}")
        unknown = [r for r in self.refits if r not in REFIT_KINDS]
        if not self.refits or unknown:
            raise ValueError(f"refits must be a non-empty list of {REFIT_KINDS}, got {self.refits!r}")
        if self.members > 100 and len(self.refits) > 1:
            raise ValueError(f"members={self.members} with {len(self.refits)} refits: refit seeds step by 100, "
                             "so members must stay <= 100")
        if self.recent_days < 1:
            raise ValueError(f"recent_days must be >= 1, got {self.recent_days}")
        if self.customers_weight < 0:
            raise ValueError(f"customers_weight must be >= 0, got {self.customers_weight}")
        if self.refit_epochs < 1:
            raise ValueError(f"refit_epochs must be >= 1, got {self.refit_epochs}")
        if self.device != "auto" and not (self.device == "cpu" or self.device.split(":")[0] == "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        self.beta1_range = tuple(self.beta1_range)  # JSON gives lists

    def n_outputs(self) -> int:
        """The network's outputs: log Sales, and log Customers when `customers_weight` > 0."""
        return 2 if self.customers_weight > 0 else 1

    def n_threads(self) -> int:
        """The thread count to use: `threads`, or every core available to this process."""
        if self.threads > 0:
            return self.threads
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["beta1_range"] = list(self.beta1_range)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MLPConfig:
        return cls().with_params(d)

    def with_params(self, params: Mapping[str, Any]) -> MLPConfig:
        """A copy with `params` applied; unknown names raise (a typo must not pass silently).

        Besides field names, flat Optuna-style keys `ps_<i>` and `layers_<i>` set one list entry,
        so a tuner can store `{"emb_drop": .., "ps_0": .., "ps_1": .., "weight_decay": ..}`.
        """
        d = dataclasses.asdict(self)
        names = {f.name for f in dataclasses.fields(self)}
        for key, value in params.items():
            base, _, index = key.rpartition("_")
            if key in names:
                d[key] = list(value) if isinstance(value, tuple) else value
            elif base in ("ps", "layers") and index.isdigit() and int(index) < len(d[base]):
                d[base] = list(d[base])
                d[base][int(index)] = value
            else:
                raise ValueError(f"unknown MLP parameter {key!r}; known: {sorted(names)}")
        return MLPConfig(**d)

    def save(self, path: Path) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> MLPConfig:
        saved = json.loads(Path(path).read_text())
        return cls.from_dict({k: v for k, v in saved.items() if k not in RETIRED_RUNTIME_FIELDS})
