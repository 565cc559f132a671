"""One seed for Python, numpy and torch (LightGBM and Optuna take it as a parameter)."""
from __future__ import annotations

import os
import random

import numpy as np

# The seed of every command and config unless one is given (make's SEED passes its own).
DEFAULT_SEED = 42


def seed_everything(seed: int) -> None:
    """Seed every random number generator the pipeline uses.

    torch is imported lazily so that stages without a neural net do not pay for importing it.
    """
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch  # noqa: PLC0415  (lazy: see the docstring)
    except ImportError:  # pragma: no cover - torch is a pinned dependency
        return
    torch.manual_seed(seed)
