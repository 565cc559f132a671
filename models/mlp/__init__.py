"""Entity-embedding MLP for Rossmann (fast.ai's tabular model), fast on a small CPU.

Model: one embedding per categorical column (width `min(600, round(1.6 * n**0.56))`, overridable
through `MLPConfig.emb_sizes`), embedding dropout, BatchNorm on the continuous inputs, blocks of
Linear -> ReLU -> BatchNorm -> Dropout (`layers=[1000, 500]`, `ps=[0.001, 0.01]`,
`emb_drop=0.04`), and a sigmoid squashed into `(0, 1.2 * max log Sales)`; MSE on log Sales plus
`customers_weight` times the MSE of a second output on log Customers.

Training: AdamW with a one-cycle LR (`OneCycleLR`, fast.ai's shape: 25% warm-up, cosine
annealing, momentum 0.95 -> 0.85 -> 0.95). Rows live in tensors; each epoch shuffles the table
once and slices it into equal batches, so there is no per-row Python work. The Linear layers run
under bfloat16 autocast (faster than fp32 on an AVX-512 BF16 CPU, `make bench`); the output
layer and the loss stay in fp32 (see `network.py`). The embeddings live in one flat parameter
and dropout touches only the dropped positions (see `network.py` for both, and why).

The recipe (`models.mlp.recipe.MLPRecipe`), the same on every pseudo-test window and for the test
(`python -m models.mlp`, through `models.common.run_stage`):
1. The first fit trains on a table's train part up to its last test-length stretch
   (`models.common.training_frames`) with the full schedule of `MLPConfig` (epochs, peak LR,
   batch size), printing that stretch's RMSPE after every epoch. Nothing is chosen on it: a
   one-cycle schedule has no useful early-stopping point (the LR is only small at its end), and
   the schedule comes from the defaults, `B/tuning/mlp.json` or `--params/--epochs`.
2. The refits (`MLPConfig.refits`): the network, preprocessor included, trains `refit_epochs`
   more one-cycle epochs with the same peak LR and batch on all the train rows of the test
   stores, once per entry of `refits`: copies of the first fit with seeds seed, seed + 100, ...,
   an "all" one seeing every row once, a "recent" one the last `recent_days` days twice. The
   geometric mean of the final networks of all `members` is the window's (or the test's)
   prediction.

API (the CLI makes the same calls): `MLPConfig`, `MLPRecipe` (one window:
`recipe(train, test, meta)`; `recipe.curves_` for `plot_loss_curves`), `lr_find` and
`plot_lr_find`, `train_and_predict` (the stage), `load` (a saved network) and
`save_embedding_maps` / `embeddings_of_build` (the embeddings as 2-D maps).
"""
from __future__ import annotations

from models.mlp.cli import find_lr, train_and_predict
from models.mlp.config import MLPConfig
from models.mlp.embeddings import embedding_table, embeddings_of_build, project, save_embedding_maps
from models.mlp.lr_find import LRFindResult, lr_find
from models.mlp.network import TabularModel, emb_size_rule
from models.mlp.plots import plot_loss_curves, plot_lr_find
from models.mlp.recipe import MLPRecipe
from models.mlp.regressor import MLPRegressor, load

__all__ = ["LRFindResult", "MLPConfig", "MLPRecipe", "MLPRegressor", "TabularModel", "emb_size_rule",
           "embedding_table", "embeddings_of_build", "find_lr", "load", "lr_find", "plot_loss_curves", "plot_lr_find",
           "project", "save_embedding_maps", "train_and_predict"]
