"""How many averaged networks pay off? The window score against the number of MLP members.

``python -m experiments.mlp_members --build-dir B [--max-members 4] [--seed 42]`` trains
``--max-members`` members (seeds ``seed``, ``seed + 1``, ...; each member's final networks are
its ``--refits``) on every pseudo-test window and scores the geometric mean of the networks of the
first k members, for each k. The seed order is fixed, so k members here are exactly what
``MLPConfig.members = k`` submits. Writes ``B/models/mlp/members.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from competition.pseudo_test import LAST_DAYS
from core.cli import run_cli
from core.io import write_json_atomic, write_text_atomic
from core.seed import DEFAULT_SEED, seed_everything
from models.common import closed_to_zero, load_windows, window_score
from models.mlp.config import REFIT_KINDS, MLPConfig
from models.mlp.recipe import MLPRecipe


def network_names(config: MLPConfig) -> list[str]:
    """What each of ``MLPRecipe``'s final networks is, in its order: member seed, refit."""
    return [f"seed {config.seed + k} (refit {how})" for k in range(config.members) for how in config.refits]


def member_curve(build_dir: Path, config: MLPConfig) -> dict[str, dict[str, float]]:
    """``{window: {"k": rmspe, ...}}`` for k = 1..config.members, plus each network alone ("net<i>")."""
    out: dict[str, dict[str, float]] = {}
    for t in load_windows(build_dir):
        recipe = MLPRecipe(config)
        recipe(t.train, t.test, t.meta)
        logs = np.log(np.maximum(np.stack(recipe.member_predictions_), 1e-9))
        member_of = np.asarray(recipe.member_of_)
        row: dict[str, float] = {}
        for k in range(1, config.members + 1):
            pred = closed_to_zero(t.test, np.exp(logs[member_of < k].mean(axis=0)))
            score = window_score(t.labels, pred)
            row[f"{k}"] = score["rmspe"]
            row[f"{k}_last{LAST_DAYS}"] = score[f"rmspe_last{LAST_DAYS}"]
        for i, log_pred in enumerate(logs):
            row[f"net{i}"] = window_score(t.labels, closed_to_zero(t.test, np.exp(log_pred)))["rmspe"]
        out[t.window.name] = row
    return out


def to_markdown(curve: dict[str, dict[str, float]], members: int, command: str,
                config: MLPConfig | None = None) -> str:
    windows = sorted(curve)
    lines = [f"`{command}`", "", "| members | " + " | ".join(windows) + f" | mean | mean, last {LAST_DAYS} days |",
             "|---:|" + "---:|" * (len(windows) + 2)]
    for k in range(1, members + 1):
        vals = [curve[w][f"{k}"] for w in windows]
        last = [curve[w][f"{k}_last{LAST_DAYS}"] for w in windows]
        lines.append(f"| {k} | " + " | ".join(f"{v:.4f}" for v in vals)
                     + f" | {np.mean(vals):.4f} | {np.mean(last):.4f} |")
    singles = [np.mean([curve[w][key] for w in windows]) for key in curve[windows[0]] if key.startswith("net")]
    names = network_names(config) if config else [f"network {i}" for i in range(len(singles))]
    one_recipe = config is None or len(set(config.refits)) == 1
    spread = "seed-to-seed sd" if one_recipe else "sd"
    lines += ["", f"Single networks (mean over windows): {', '.join(f'{n} {v:.4f}' for v, n in zip(singles, names))}; "
              f"{spread} {np.std(singles, ddof=1):.4f}." if len(singles) > 1 else ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.mlp_members", description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--max-members", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--refits", nargs="+", choices=REFIT_KINDS, default=None,
                        help="each member's final networks (default: MLPConfig.refits), e.g. all all recent")
    parser.add_argument("--params", type=json.loads, default={},
                        help='MLPConfig parameters as JSON, e.g. \'{"ordinal_numbers": false}\'')
    args = parser.parse_args(argv)
    seed_everything(args.seed)
    config = MLPConfig(seed=args.seed, members=args.max_members, threads=args.threads, progress=False)
    config = config.with_params({**args.params, **({"refits": args.refits} if args.refits else {})})
    t0 = time.perf_counter()
    curve = member_curve(args.build_dir, config)
    command = f"python -m experiments.mlp_members --build-dir {args.build_dir} --max-members {args.max_members} " \
              f"--seed {args.seed}" + (f" --refits {' '.join(args.refits)}" if args.refits else "") \
              + (f" --params '{json.dumps(args.params)}'" if args.params else "")
    out_dir = args.build_dir / "models" / "mlp"
    write_json_atomic(out_dir / "members.json", {"curve": curve, "seconds": round(time.perf_counter() - t0, 1)})
    text = to_markdown(curve, args.max_members, command, config)
    write_text_atomic(out_dir / "members.md", text)
    print(text)
    print(json.dumps({"seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    run_cli(main)
