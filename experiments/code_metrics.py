"""How big the product is and how much of a lab notebook it still holds (issue 26).

``python -m experiments.code_metrics [--root DIR] [--list]`` reads the source tree at ``DIR``
(default: this checkout; point it at another checkout, e.g. ``git worktree add ../old ec1b208``,
to compare) without importing it, and prints:
- the non-blank lines of the product packages (``make submit`` and the other targets' code);
- the fields of ``MLPConfig``;
- the comment and docstring lines that quote a number looking like a measurement (a score such as
  0.1039, a percentage, seconds, minutes, megabytes, a ratio such as 20x); ``--list`` prints them.
  The pattern also catches settings and arithmetic (``ps=[0.001, 0.01]``, "25% warm-up"), so the
  list is the thing to read; the count is its size.
"""
from __future__ import annotations

import argparse
import ast
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from core.cli import run_cli

PRODUCT = ("core", "competition", "features", "models", "ensembling", "submissions", "pets")
NUMBER = re.compile(r"(\b0\.\d{3,}\b|\b\d+(\.\d+)?\s?(%|ms\b|s\b|GB\b|MB\b|GFLOP|min\b|minutes\b|seconds\b)"
                    r"|\b\d+:\d\d\b|\bx\d|\d+x\b)")


@dataclass
class CodeMetrics:
    product_lines: int = 0
    mlp_config_fields: int = 0
    number_lines: list[str] = field(default_factory=list)  # "path:line: text"


def _text_lines(source: str) -> set[int]:
    """Line numbers of the comments and docstrings of ``source`` that match ``NUMBER``."""
    lines = {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(source).readline)
             if tok.type == tokenize.COMMENT and NUMBER.search(tok.string)}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc and isinstance(node.body[0], ast.Expr):
                start = node.body[0].lineno
                lines |= {start + i for i, text in enumerate(doc.splitlines()) if NUMBER.search(text)}
    return lines


def _dataclass_fields(source: str, name: str) -> int:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return sum(isinstance(s, ast.AnnAssign) for s in node.body)
    return 0


def measure(root: Path) -> CodeMetrics:
    out = CodeMetrics()
    for pkg in PRODUCT:
        for path in sorted((root / pkg).rglob("*.py")):
            source = path.read_text()
            rel = path.relative_to(root)
            out.product_lines += sum(1 for line in source.splitlines() if line.strip())
            text = source.splitlines()
            out.number_lines += [f"{rel}:{n}: {text[n - 1].strip()}" for n in sorted(_text_lines(source))]
            if rel == Path("models/mlp/config.py"):
                out.mlp_config_fields = _dataclass_fields(source, "MLPConfig")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.code_metrics", description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--list", action="store_true", help="print every comment or docstring line that matched")
    args = ap.parse_args(argv)
    m = measure(args.root)
    print(f"product lines (non-blank, {', '.join(PRODUCT)}): {m.product_lines}")
    print(f"MLPConfig fields: {m.mlp_config_fields}")
    print(f"comment/docstring lines quoting a number: {len(m.number_lines)}")
    if args.list:
        print("\n".join(m.number_lines))
    return 0


if __name__ == "__main__":
    run_cli(main)
