"""Entity-embedding MLP for Rossmann (fast.ai's tabular model), fast on a small CPU.

Model: one embedding per categorical column (width `min(600, round(1.6 * n**0.56))`, overridable
through `MLPConfig.emb_sizes`), embedding dropout, BatchNorm on the continuous inputs, blocks of
Linear -> ReLU -> BatchNorm -> Dropout (`layers=[1000, 500]`, `ps=[0.001, 0.01]`,
`emb_drop=0.04`), and a sigmoid squashed into `(0, 1.2 * max log Sales)`; MSE on log Sales.

Training: AdamW with a one-cycle LR (`OneCycleLR`, fast.ai's shape: 25% warm-up, cosine
annealing, momentum 0.95 -> 0.85 -> 0.95). Rows live in tensors; each epoch shuffles the table
once and slices it into equal batches, so there is no per-row Python work. The Linear layers run
under bfloat16 autocast (about 2x the fp32 matmul rate on this AVX-512 BF16 CPU); the output
layer and the loss stay in fp32 (see `network.py`). The embeddings live in one flat parameter
and dropout touches only the dropped positions (see `network.py` for both, and why).

Final fit for the test set (`python -m models.mlp`):
1. The validation fit trains on the training part (`models.common.training_frames`) with the
   full schedule of `MLPConfig` (epochs, peak LR, batch size), reporting validation RMSPE after
   every epoch. The schedule is chosen on this split: by the defaults measured here, by
   `B/tuning/mlp.json` from the Optuna study, or by `--params/--epochs`. A one-cycle schedule has
   no useful early-stopping point (the LR is only small at its end), so "chosen on validation"
   means choosing the number of epochs and peak LR, never stopping mid-cycle.
2. The refit (`MLPConfig.refit`). By default ("continue") the validated network, preprocessor
   included, trains `refit_epochs` (1) more one-cycle epoch with the same peak LR, batch and
   seed on the training + validation rows of the test stores; "scratch" trains a fresh network
   and preprocessor with the full schedule instead. On a pseudo split of build-real (fit before
   2015-03-16, refit through 2015-05-02, scored on 2015-05-03..06-19) no refit scored 0.1194,
   "scratch" 0.1089 and "continue" 0.1081, for half the refit's time. Its test predictions are
   the submission.
Measured on build-real (2 cores, under /tmp/heavy.lock): 15-19 s per epoch over 760,983 rows
at batch 1024, depending on the machine's load; 2 epochs -> validation RMSPE 0.1089.
Validation predictions (`predictions/mlp.valid.parquet`) come from step 1, test predictions
(`predictions/mlp.test.parquet`, `submissions/mlp.csv`) from step 2.
"""
from __future__ import annotations

from models.mlp.bench import BenchResult, bench_epoch
from models.mlp.config import MLPConfig
from models.mlp.network import TabularModel, emb_size_rule
from models.mlp.regressor import MLPRegressor, load

__all__ = ["MLPConfig", "MLPRegressor", "TabularModel", "emb_size_rule", "load", "bench_epoch",
           "BenchResult"]
