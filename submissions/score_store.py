"""`BUILD_DIR/reports/scores.json`, the store of every model's and the ensemble's pseudo-test scores:
the mean RMSPE over the windows, each window's, the expected test RMSPE and what made them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.io import write_json_atomic

try:  # POSIX: models trained in parallel processes must not lose each other's entries.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


def scores_path(build_dir: str | Path) -> Path:
    return Path(build_dir) / "reports" / "scores.json"


def read_scores(build_dir: str | Path) -> dict[str, Any]:
    """``reports/scores.json`` as a dict: ``models.<name>.rmspe`` (mean over the windows) and
    ``windows``; ``{"models": {}}`` before any model was scored."""
    path = scores_path(build_dir)
    if not path.exists():
        return {"models": {}}
    return json.loads(path.read_text())


def model_scores(doc: dict[str, Any]) -> dict[str, float]:
    """Each recorded entry's mean pseudo-test RMSPE in a scores.json document, by name."""
    models = doc.get("models", {})
    return {k: float(v["rmspe"]) for k, v in models.items() if isinstance(v, dict) and "rmspe" in v}


def update_scores(build_dir: str | Path, updates: dict[str, Any]) -> dict[str, Any]:
    """Merge ``updates`` into scores.json (``models`` merged per model) under a file lock."""
    path = scores_path(build_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The lock file stays: deleting it would let a second process lock a file nobody else sees.
    lock = path.parent / ".scores.lock"
    with open(lock, "w") as fh:
        if fcntl is not None:
            fcntl.flock(fh, fcntl.LOCK_EX)
        doc = read_scores(build_dir)
        for key, value in updates.items():
            if key == "models":
                models = doc.setdefault("models", {})
                # An entry of another dataset describes data this build no longer serves: it goes,
                # so that the file never mixes the scores of two datasets.
                datasets = {e["dataset"] for e in value.values() if isinstance(e, dict) and "dataset" in e}
                for name in [n for n, e in models.items() if datasets and e.get("dataset") not in datasets]:
                    del models[name]
                models.update(value)
            else:
                doc[key] = value
        write_json_atomic(path, doc)
    return doc


def record_model(build_dir: str | Path, name: str, rmspe: float, extra: dict[str, Any] | None = None) -> None:
    """Record one model's pseudo-test RMSPE (and anything else worth keeping next to it)."""
    entry = {"rmspe": float(rmspe), **(extra or {})}
    update_scores(build_dir, {"models": {name: entry}})


def best_model(build_dir: str | Path, candidates: list[str] | None = None) -> tuple[str, float]:
    """The model with the lowest pseudo-test RMSPE among ``candidates`` (default: all)."""
    scored = {k: v for k, v in model_scores(read_scores(build_dir)).items() if candidates is None or k in candidates}
    if not scored:
        raise FileNotFoundError(f"no model has a pseudo-test score in {scores_path(build_dir)}; run `make train`")
    name = min(scored, key=scored.__getitem__)
    return name, scored[name]
