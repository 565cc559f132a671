"""`bench_epoch`: time one training epoch (for `make bench`); `matmul_gflops`: the peak it is compared
with; `profile_steps`: where a training step's time goes, by kind of operator."""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from models.common import load_feature_tables, training_frames
from models.mlp.config import MLPConfig
from models.mlp.regressor import MLPRegressor
from models.mlp.training import (
    TensorData,
    bf16_enabled,
    fit_network,
    make_optimizer,
    native_bf16,
    resolve_device,
    torch_threads,
    train_step,
)

# The operators of a training step by what they do (self CPU time of torch.profiler's aten ops and
# autograd functions); anything else is "other".
OP_GROUPS: dict[str, tuple[str, ...]] = {
    "matmul": ("aten::mm", "aten::addmm"),
    "batchnorm": ("aten::native_batch_norm", "aten::native_batch_norm_backward"),
    "bf16 casts": ("aten::copy_", "aten::_to_copy"),
    "embeddings": ("aten::index", "aten::index_select", "aten::index_add_", "aten::cat"),
    "optimizer": ("aten::_fused_adamw_", "Optimizer.step#AdamW.step", "Optimizer.zero_grad#AdamW.zero_grad"),
    "relu": ("aten::threshold_backward", "aten::clamp_min_", "aten::relu_"),
    "dropout": ("aten::index_fill_", "aten::random_", "_DropPositions", "_DropPositionsBackward",
                "aten::poisson"),
}


def matmul_gflops(n: int = 2048, repeats: int = 7, dtype: str = "float32") -> float:
    """Median GFLOP/s of an n x n matmul with torch on this CPU (2 n^3 FLOPs each): the peak an
    epoch's dense throughput is compared with."""
    dt = getattr(torch, dtype)
    a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
    torch.mm(a, b)  # warm-up: thread pool, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def bf16_matmul_gflops() -> float | None:
    """``matmul_gflops`` in bf16 where this CPU computes bf16 in hardware; None elsewhere (an
    emulated bf16 matmul is no peak, and 2048^3 of them take minutes)."""
    return matmul_gflops(dtype="bfloat16") if native_bf16(torch.device("cpu")) else None


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

    def __str__(self) -> str:
        return (f"mlp epoch: {self.seconds:.2f} s for {self.rows:,} rows = {self.rows_per_s:,.0f} rows/s; "
                f"{self.gflops:.0f} GFLOP/s dense (batch {self.batch_size}, {self.threads} threads, "
                f"{'bf16' if self.bf16 else 'fp32'}, {self.device})")


def _training_tensors(build_dir: Path, config: MLPConfig, n_rows: int | None) -> tuple[MLPRegressor, TensorData]:
    """A regressor prepared on the training rows of ``build_dir``'s feature files (the first
    ``n_rows`` if given) and those rows as tensors."""
    train_df, _, meta = load_feature_tables(Path(build_dir))
    fit_df, _ = training_frames(train_df, meta)
    reg = MLPRegressor(config)
    return reg, reg.prepare(fit_df if n_rows is None else fit_df.iloc[:n_rows])


def bench_epoch(build_dir: Path, config: MLPConfig | None = None, n_rows: int | None = None) -> BenchResult:
    """Time one training epoch of the default network on the training rows of ``build_dir``'s
    feature files (the first ``n_rows`` of them if given) and return seconds, rows and FLOPs."""
    config = dataclasses.replace(config or MLPConfig(), epochs=1, progress=False)
    reg, data = _training_tensors(build_dir, config, n_rows)
    device = resolve_device(config)
    with torch_threads(config.n_threads()):
        torch.manual_seed(config.seed)
        model = reg._build_model(data.conts.shape[1]).to(device)
        t0 = time.perf_counter()
        fit_network(model, data, config)
        seconds = time.perf_counter() - t0
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return BenchResult(seconds=seconds, rows=len(data), flops=float(model.dense_flops_per_row()) * len(data),
                       threads=config.n_threads(), batch_size=config.batch_size, bf16=bf16_enabled(config, device),
                       device=name)


def profile_steps(build_dir: Path, config: MLPConfig | None = None, steps: int = 30,
                  n_rows: int = 200_000) -> dict[str, float]:
    """The share of ``steps`` training steps' CPU time (after 5 warm-up steps) that each group of
    ``OP_GROUPS`` takes, on the first ``n_rows`` training rows of ``build_dir``'s feature files."""
    config = config or MLPConfig()
    reg, data = _training_tensors(build_dir, config, n_rows)
    bs = min(config.batch_size, max(2, len(data) // (steps + 5)))
    with torch_threads(config.n_threads()):
        torch.manual_seed(config.seed)
        model = reg._build_model(data.conts.shape[1]).train()
        opt = make_optimizer(model, config, config.lr / config.div_factor)

        def step(i: int) -> None:
            sl = slice(i * bs, (i + 1) * bs)
            y_aux = None if data.y_aux is None else data.y_aux[sl]
            train_step(model, opt, data.cats[sl], data.conts[sl], data.y_log[sl], config, y_aux)

        for i in range(5):
            step(i)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(5, 5 + steps):
                step(i)
    self_us = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    total = sum(self_us.values())
    shares = {g: sum(self_us.get(op, 0.0) for op in ops) / total for g, ops in OP_GROUPS.items()}
    shares["other"] = 1.0 - sum(shares.values())
    return shares


def main() -> None:
    p = argparse.ArgumentParser(description="Time one MLP training epoch on a build's feature files "
                                "(make features) and compare its throughput with this machine's matmul peak.")
    p.add_argument("--build-dir", type=Path, default=Path("build"))
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="auto: bf16 autocast where the device runs bf16 in hardware, else fp32 (MLPConfig.use_bf16)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu or cuda[:N]")
    p.add_argument("--profile-steps", type=int, default=0,
                   help="also profile this many training steps and print each kind of operator's share")
    a = p.parse_args()
    cfg = MLPConfig(threads=a.threads, use_bf16={"auto": None, "bf16": True, "fp32": False}[a.precision],
                    device=a.device)
    if a.batch_size:
        cfg = dataclasses.replace(cfg, batch_size=a.batch_size)
    with torch_threads(cfg.n_threads()):
        fp32, bf16 = matmul_gflops(dtype="float32"), bf16_matmul_gflops()
    result = bench_epoch(a.build_dir, cfg, a.rows)
    print(f"{result}\n= {result.gflops / fp32:.0%} of this machine's fp32 matmul peak ({fp32:.0f} GFLOP/s), "
          + (f"{result.gflops / bf16:.0%} of its bf16 peak ({bf16:.0f} GFLOP/s)" if bf16
             else "and the CPU has no native bf16"))
    if a.profile_steps:
        shares = profile_steps(a.build_dir, cfg, steps=a.profile_steps)
        print(f"a training step's CPU time ({a.profile_steps} steps, torch.profiler): "
              + ", ".join(f"{g} {v:.0%}" for g, v in sorted(shares.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
