"""`bench_epoch`: time one training epoch (for `make bench`)."""
from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from models.common import load_feature_tables, training_frames
from models.mlp.config import MLPConfig
from models.mlp.network import TabularModel, emb_size_rule
from models.mlp.regressor import MLPRegressor
from models.mlp.training import TensorData, fit_network, resolve_device, torch_threads

# Cardinalities (unknown included) and continuous width of the real feature set, so that the
# synthetic benchmark has the real network's shape when no feature files are at hand.
# (22 categorical columns; 63 continuous, the 15 ordered categories among them, + 20 NaN flags:
# read from the `weights.pt` of `make submit DATA_DIR=../shared/rossmann`, issue 13's third round.)
ROSSMANN_CARDINALITIES = [1116, 8, 4, 13, 32, 3, 26, 27, 5, 4, 5, 24, 9, 13, 53, 22, 7, 7, 4, 4, 9, 9]
ROSSMANN_N_CONT = 83
# fp32 matmul peak of the 2-core reference machine, the unit of the benchmark's efficiency figure.
FP32_PEAK_GFLOPS = 210.0


@dataclass
class BenchResult:
    seconds: float        # one training epoch (forward, backward, AdamW, scheduler)
    rows: int
    flops: float          # dense matmul FLOPs of that epoch
    threads: int
    batch_size: int
    bf16: bool
    device: str = "cpu"   # where the epoch ran (a GPU's name on CUDA)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def gflops(self) -> float:
        return self.flops / self.seconds / 1e9

    @property
    def fraction_of_fp32_peak(self) -> float:
        return self.gflops / FP32_PEAK_GFLOPS

    def __str__(self) -> str:
        return (f"mlp epoch: {self.seconds:.2f} s for {self.rows:,} rows = {self.rows_per_s:,.0f} rows/s; "
                f"{self.gflops:.0f} GFLOP/s dense = {self.fraction_of_fp32_peak:.0%} of the "
                f"{FP32_PEAK_GFLOPS:.0f} GFLOP/s fp32 peak (batch {self.batch_size}, "
                f"{self.threads} threads, {'bf16' if self.bf16 else 'fp32'})")


def synthetic_tensors(n_rows: int, cardinalities: list[int], n_cont: int, seed: int = 0) -> TensorData:
    """Random codes and normal continuous values with learnable log-Sales- and log-Customers-like targets."""
    g = torch.Generator().manual_seed(seed)
    cats = torch.stack([torch.randint(1, n, (n_rows,), generator=g) for n in cardinalities], 1)
    conts = torch.randn(n_rows, n_cont, generator=g)
    y = 8.5 + 0.3 * conts[:, 0] + 0.05 * (cats[:, 0] % 7).float() + 0.1 * torch.randn(n_rows, generator=g)
    return TensorData(cats, conts, y, y - 2.2 + 0.05 * torch.randn(n_rows, generator=g))


def bench_epoch(build_dir: Path | None = None, config: MLPConfig | None = None,
                n_rows: int | None = None) -> BenchResult:
    """Time one training epoch of the default network and return seconds, rows and FLOPs.

    With `build_dir` holding feature files, the epoch runs on the real training rows; otherwise
    on synthetic tensors of the real shape (800K rows unless `n_rows` says otherwise).
    """
    config = dataclasses.replace(config or MLPConfig(), epochs=1, progress=False)
    if build_dir is not None and (Path(build_dir) / "features" / "meta.json").exists():
        train_df, _, meta = load_feature_tables(Path(build_dir))
        fit_df, _ = training_frames(train_df, meta)
        if n_rows is not None:
            fit_df = fit_df.iloc[:n_rows]
        reg = MLPRegressor(config)
        data = reg.prepare(fit_df)
        cards, emb_dims = reg.cardinalities_, reg.emb_dims_
    else:
        cards = ROSSMANN_CARDINALITIES
        emb_dims = [emb_size_rule(n) for n in cards]
        data = synthetic_tensors(n_rows or 800_000, cards, ROSSMANN_N_CONT)
    with torch_threads(config.n_threads()):
        torch.manual_seed(config.seed)
        model = TabularModel(cards, emb_dims, data.conts.shape[1], config.layers, config.ps,
                             config.emb_drop, (0.0, 12.0),
                             n_out=config.n_outputs()).to(resolve_device(config))
        t0 = time.perf_counter()
        history = fit_network(model, data, config)
        seconds = time.perf_counter() - t0
    del history
    device = resolve_device(config)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return BenchResult(seconds=seconds, rows=len(data), flops=float(model.dense_flops_per_row()) * len(data),
                       threads=config.n_threads(), batch_size=config.batch_size, bf16=config.use_bf16, device=name)


def main() -> None:
    p = argparse.ArgumentParser(description="Time one MLP training epoch.")
    p.add_argument("--build-dir", type=Path, default=None)
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--fp32", action="store_true")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu or cuda[:N]")
    a = p.parse_args()
    cfg = MLPConfig(threads=a.threads, use_bf16=not a.fp32, device=a.device)
    if a.batch_size:
        cfg = dataclasses.replace(cfg, batch_size=a.batch_size)
    print(bench_epoch(a.build_dir, cfg, a.rows))


if __name__ == "__main__":
    main()
