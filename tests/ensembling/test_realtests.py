"""`make realtests`: each window scheme is judged by how far its report lies from the real test's score."""
from __future__ import annotations

import pytest

from ensembling.realtests import SCHEMES, summarize


def test_schemes_are_scored_by_their_error_against_the_real_test() -> None:
    def entry(reported: float, real: float, sd: float = 0.004) -> dict:
        return {"reported": reported, "sd": sd, "real": real}

    results = {
        c: {"schemes": {s: {"models": {"lgbm": entry(0.10 + (0.01 if s == "recent 2" else 0), 0.10),
                                       "ensemble": entry(0.095, 0.097), "baseline": entry(0.2, 0.1)}}
                        for s in SCHEMES}}
        for c in ("a", "b")}
    summary = summarize(results)
    assert summary["table"]["recent 2"]["lgbm"] == {"mae": pytest.approx(0.01), "bias": pytest.approx(0.01),
                                                   "coverage": 0.0}
    assert summary["table"]["season 1y"]["ensemble"]["coverage"] == 1.0
    # The reference baseline is shown but does not choose the scheme.
    assert summary["table"]["season 1y"]["all"]["mae"] == pytest.approx(0.001)
    assert summary["best"] != "recent 2"
