"""Execute the notebooks (``notebooks/*.ipynb``) top to bottom and keep the executed copies.

``python -m core.notebooks --out DIR notebooks/rossmann.ipynb notebooks/pets.ipynb`` (``make
notebooks``) runs each notebook in a fresh kernel and writes ``DIR/<name>.ipynb`` (with its
outputs) and ``DIR/<name>.html``; a notebook that stops on an error is written too, so the failing
cell can be read, and the command exits non-zero. The kernel is always this Python (the venv's),
whatever kernels the machine has installed: the run needs no Jupyter set-up.

The committed notebooks carry no outputs, so that their diffs stay readable:
``python -m core.notebooks --strip notebooks/*.ipynb`` removes them after editing in Jupyter.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

from core.cli import run_cli
from core.errors import DataError
from core.io import write_text_atomic

# A notebook that runs longer is stuck (each is meant to run in minutes on small data).
DEFAULT_TIMEOUT = 1800


@dataclass
class Executed:
    """One notebook run: the executed copy, its HTML, the wall time and the error (if a cell failed)."""

    notebook: Path
    html: Path
    seconds: float
    error: str | None = None


def kernel_manager(socket_dir: Path) -> KernelManager:
    """A manager for ipykernel on this very interpreter: only the built-in spec is searched, so a
    ``python3`` kernel installed elsewhere (another Python, another venv) can never be picked.
    The kernel talks over Unix sockets in ``socket_dir`` (TCP would be readable by other users
    of the machine, and ipykernel warns about it)."""
    specs = KernelSpecManager(kernel_dirs=[])
    return KernelManager(kernel_name=NATIVE_KERNEL_NAME, kernel_spec_manager=specs, transport="ipc",
                         ip=str(socket_dir / "kernel"))


def _cell_error(nb: nbformat.NotebookNode) -> str | None:
    """``"cell N: Name: value"`` for the first cell whose output is an error, else None."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"cell {i}: {out.get('ename')}: {out.get('evalue')}"
    return None


def execute(path: str | Path, out_dir: str | Path, *, env: Mapping[str, str] | None = None,
            timeout: int = DEFAULT_TIMEOUT) -> Executed:
    """Run the notebook at ``path`` in a fresh kernel started in its own folder (as Jupyter does),
    with the environment ``env`` (default: this process's); write the executed copy and its HTML
    into ``out_dir``. A failing cell does not raise: the result says which one failed."""
    path, out_dir = Path(path), Path(out_dir)
    if not path.is_file():
        raise DataError("no such notebook", file=path, fix="pass the path of an .ipynb file, e.g. notebooks/pets.ipynb")
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    error = None
    with tempfile.TemporaryDirectory(prefix="kernel-") as sockets:
        km = kernel_manager(Path(sockets))
        client = NotebookClient(nb, km=km, timeout=timeout, record_timing=False,
                                resources={"metadata": {"path": str(path.parent.resolve())}})
        try:
            client.execute(env=dict(os.environ if env is None else env))
        except CellExecutionError:
            error = _cell_error(nb) or "a cell failed"
        finally:
            # nbclient shuts down only the kernels it started itself; this one holds the notebook's data.
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    seconds = time.perf_counter() - t0
    nb.metadata["executed"] = {"seconds": round(seconds, 1), "error": error}
    executed = out_dir / path.name
    write_text_atomic(executed, nbformat.writes(nb))
    html, _ = HTMLExporter().from_notebook_node(nb)
    html_path = executed.with_suffix(".html")
    write_text_atomic(html_path, html)
    return Executed(executed, html_path, seconds, error)


def has_outputs(nb: nbformat.NotebookNode) -> bool:
    """True when any code cell has outputs or an execution count (what a run leaves behind)."""
    return any(cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
               for cell in nb.cells)


def strip_outputs(path: str | Path) -> bool:
    """Remove every code cell's outputs and execution count in place; True when the file changed."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    if not has_outputs(nb) and "executed" not in nb.metadata:
        return False
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("executed", None)
    write_text_atomic(path, nbformat.writes(nb))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.notebooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, help="folder for the executed copies and their HTML")
    parser.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds one cell may run")
    parser.add_argument("--strip", action="store_true", help="remove the outputs in place instead of running")
    args = parser.parse_args(argv)
    if args.strip:
        for path in args.notebooks:
            print(f"{path}: {'outputs removed' if strip_outputs(path) else 'no outputs'}")
        return 0
    if args.out is None:
        raise DataError("no folder for the executed notebooks", column="--out", fix="pass --out DIR")
    failed = []
    for path in args.notebooks:
        print(f"executing {path} ...", flush=True)
        run = execute(path, args.out, timeout=args.timeout)
        status = f"FAILED in {run.error}" if run.error else "ok"
        print(f"{path}: {status}, {run.seconds:.0f} s; wrote {run.notebook} and {run.html}", flush=True)
        if run.error:
            failed.append(f"{path} ({run.error})")
    if failed:
        print("error: " + "; ".join(failed) + "\n  fix: open the executed copy to read the failing cell",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    run_cli(main)
