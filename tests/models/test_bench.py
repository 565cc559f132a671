"""The benchmark's measuring tools (the benchmark itself is `make bench`, never a timed test)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from models.bench import (
    README_END,
    README_START,
    linear_fit,
    linearity_note,
    markdown,
    parse_model_args,
    run_measured,
    update_readme,
)


def test_run_measured_reports_the_child_alone(tmp_path: Path) -> None:
    # The child allocates ~200 MB and spins for a while; the parent stays small.
    code = "import time; b = bytearray(200 * 2**20); t = time.time()\nwhile time.time() - t < 0.3: pass"
    usage = run_measured([sys.executable, "-c", code], tmp_path / "log.txt")
    assert usage.peak_rss_mb > 200
    assert usage.wall_s >= 0.3 and usage.cpu_s >= 0.2


def test_run_measured_failure_shows_the_log(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        run_measured([sys.executable, "-c", "raise SystemExit('boom')"], tmp_path / "log.txt")


def test_linear_fit_and_verdicts() -> None:
    rows = [100_000, 200_000, 400_000, 800_000]
    fit = linear_fit(rows, [1.0 + r * 2e-6 for r in rows])
    assert fit["s_per_million_rows"] == pytest.approx(2.0) and fit["intercept_s"] == pytest.approx(1.0)
    assert fit["r2"] == pytest.approx(1.0)
    assert "linear" in linearity_note("x", fit, rows, [1.0 + r * 2e-6 for r in rows])
    quad = [(r / 1e5) ** 2 for r in rows]
    assert "super-linear" in linearity_note("x", linear_fit(rows, quad), rows, quad)


def test_update_readme_replaces_only_the_section(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold\n{README_END}\nrest\n")
    update_readme(readme, "new table\n![scaling](scaling.png)\n")
    assert readme.read_text() == (f"intro\n{README_START}\nnew table\n![scaling](docs/bench-scaling.png)\n"
                                  f"{README_END}\nrest\n")


def test_model_args_reach_each_model_as_make_gives_them() -> None:
    parsed = parse_model_args(["mlp=--seed 42 --members 2 --refits all recent", "lgbm=--threads 2", "baseline="])
    assert parsed == {"mlp": ["--seed", "42", "--members", "2", "--refits", "all", "recent"],
                      "lgbm": ["--threads", "2"], "baseline": []}
    with pytest.raises(ValueError, match="NAME=ARGS"):
        parse_model_args(["--members 2"])


def test_markdown_names_the_bf16_peak_only_where_the_cpu_has_one() -> None:
    epoch = {"seconds": 30.0, "rows": 600_000, "rows_per_s": 20_000.0, "gflops": 90.0, "fraction_of_fp32_peak": 0.6,
             "bf16": False, "batch_size": 1024}
    results = {"data": "d", "source": "kaggle", "seed": 42, "finished": "now", "stages": {}, "mlp_epoch": epoch,
               "machine": {"cpus": 2, "cpu": "x86_64", "torch": "2", "torch_threads": 2},
               "matmul": {"fp32_gflops": 150.0, "bf16_gflops": None}}
    md = markdown(results)
    assert "fp32 150 GFLOP/s; no native bf16 (the MLP trains in fp32)." in md
    assert "60% of the measured fp32 peak (fp32, batch 1024)." in md and "bf16 peak" not in md
    native = {**results, "matmul": {"fp32_gflops": 150.0, "bf16_gflops": 900.0},
              "mlp_epoch": {**epoch, "bf16": True}}
    assert "fp32 peak and 10% of the bf16 peak (bf16 autocast, batch 1024)." in markdown(native)
