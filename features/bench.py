"""Benchmark a cold-cache feature build: wall, CPU, peak RSS, rows/s.

``python -m features.bench --data-dir D [--repeats N] [--json OUT]``; ``models.bench`` (``make
bench``) can call :func:`bench_features`. Each run is the real CLI (``python -m features``) in a
fresh subprocess and a fresh build folder, so imports, loading, every family and the parquet
writes are all counted, and the feature cache is cold. The issue's budget on ../shared/rossmann
(~1.01M rows, 2 cores) is <= 10 s wall and <= 3 GB peak RSS; run it while nothing else runs on
the machine, so that the numbers are not someone else's load.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from core.measure import run_measured

WALL_BUDGET_S = 10.0
RSS_BUDGET_MB = 3072.0


def _one_run(data_dir: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="features-bench-") as tmp:
        cmd = [sys.executable, "-m", "features", "--data-dir", str(data_dir), "--build-dir", tmp]
        # This child's own rusage (wait4), not RUSAGE_CHILDREN's total over every child so far.
        usage = run_measured(cmd, Path(tmp) / "features.log")
        meta = json.loads((Path(tmp) / "features" / "meta.json").read_text())
    rows = meta["n_train"] + meta["n_test"]
    return {"wall_s": round(usage.wall_s, 3), "cpu_s": round(usage.cpu_s, 3),
            "peak_rss_mb": round(usage.peak_rss_mb, 1), "rows": rows,
            "rows_per_s": round(rows / usage.wall_s), "build_s_in_process": meta["build_seconds"]}


def bench_features(data_dir: str | Path, repeats: int = 3) -> dict[str, Any]:
    """Run ``repeats`` cold-cache builds; report each run and the best/median wall time."""
    runs = [_one_run(Path(data_dir)) for _ in range(repeats)]
    walls = sorted(r["wall_s"] for r in runs)
    best = min(runs, key=lambda r: r["wall_s"])
    return {"stage": "features", "data_dir": str(data_dir), "runs": runs,
            "wall_s_best": walls[0], "wall_s_median": walls[len(walls) // 2],
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs), "cpu_s_best_run": best["cpu_s"],
            "rows": best["rows"], "rows_per_s_best": best["rows_per_s"],
            "budget": {"wall_s": WALL_BUDGET_S, "peak_rss_mb": RSS_BUDGET_MB},
            "within_budget": walls[len(walls) // 2] <= WALL_BUDGET_S
            and max(r["peak_rss_mb"] for r in runs) <= RSS_BUDGET_MB,
            "cpus": os.cpu_count(), "load_avg_1m_at_end": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    res = bench_features(args.data_dir, args.repeats)
    for r in res["runs"]:
        print(f"wall {r['wall_s']:.2f}s  cpu {r['cpu_s']:.2f}s  peak RSS {r['peak_rss_mb']:.0f} MB  "
              f"{r['rows_per_s']:,} rows/s  ({r['rows']:,} rows)")
    print(f"median wall {res['wall_s_median']:.2f}s (budget {WALL_BUDGET_S:.0f}s), max peak RSS "
          f"{res['peak_rss_mb_max']:.0f} MB (budget {RSS_BUDGET_MB:.0f} MB): "
          f"{'OK' if res['within_budget'] else 'OVER BUDGET'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
