"""Resource usage of one child process (wall, CPU, peak RSS): the benchmarks' one measurement."""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Usage:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float


def run_measured(cmd: list[str], log: Path) -> Usage:
    """Run ``cmd`` as a child process; wall, CPU and peak RSS of that child alone."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-20:])
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {proc.returncode}; log {log}:\n{tail}")
    # ru_maxrss is in KiB on Linux.
    return Usage(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
