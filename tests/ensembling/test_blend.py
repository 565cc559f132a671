"""Blend weights, the RMSPE factor and segment factors on constructed data with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from competition.metric import rmspe
from ensembling import blend


def _truth(n: int = 4000, seed: int = 0) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
    """Targets and the pseudo-test window of each row (4 windows)."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(2000, 12000, n)
    windows = np.repeat(np.arange(1, 5), n // 4)
    return rng, y, windows


@pytest.mark.parametrize("fit", [blend.fit_linear, blend.fit_geometric])
def test_weights_recover_the_better_model(fit):
    rng, y, _ = _truth()
    good = y * rng.lognormal(0, 0.04, len(y))
    bad = y * rng.lognormal(0, 0.30, len(y))
    res = fit(np.column_stack([bad, good]), y)
    assert res.weights[1] > 0.85, res.weights
    assert res.weights.sum() == pytest.approx(1.0)
    assert (res.weights >= 0).all()


@pytest.mark.parametrize("fit", [blend.fit_linear, blend.fit_geometric])
def test_weights_nonnegative_even_when_a_model_is_anticorrelated(fit):
    rng, y, _ = _truth()
    good = y * rng.lognormal(0, 0.05, len(y))
    # Negatively related to the truth: an unconstrained fit would give it a negative weight.
    anti = np.clip(2 * y.mean() - y, 100, None) * rng.lognormal(0, 0.05, len(y))
    res = fit(np.column_stack([good, anti]), y)
    assert (res.weights >= 0).all() and res.weights.sum() == pytest.approx(1.0)
    assert res.weights[1] < 0.05


def test_factor_below_one_when_predictions_are_biased_high():
    rng, y, _ = _truth()
    p = y * 1.10 * rng.lognormal(0, 0.05, len(y))
    f = blend.optimal_factor(p, y)
    assert 0.85 < f < 0.93
    assert rmspe(y, f * p) < rmspe(y, p) - 0.05


def test_factor_below_one_for_unbiased_noise():
    """RMSPE's asymmetry alone pushes the best factor under 1."""
    rng, y, _ = _truth()
    p = y * rng.lognormal(0, 0.15, len(y))
    assert blend.optimal_factor(p, y) < 0.99


def test_optimal_factor_is_the_minimum():
    rng, y, _ = _truth()
    p = y * rng.lognormal(0.05, 0.1, len(y))
    f = blend.optimal_factor(p, y)
    grid = np.linspace(f - 0.05, f + 0.05, 101)
    assert rmspe(y, f * p) <= min(rmspe(y, g * p) for g in grid) + 1e-12


def test_ensemble_beats_each_input_on_constructed_data():
    rng, y, windows = _truth()
    a = y * rng.lognormal(0.03, 0.10, len(y))
    b = y * rng.lognormal(-0.02, 0.12, len(y))
    c = y * rng.lognormal(0.00, 0.20, len(y))
    P = np.column_stack([a, b, c])
    best, fits = blend.fit_blend(P, y)
    singles = [rmspe(y, P[:, j]) for j in range(3)]
    assert best.rmspe < min(singles) - 0.01
    assert best.rmspe == min(f.rmspe for f in fits.values())
    honest, details = blend.cross_fit(P, y, windows, None, 20.0)
    assert rmspe(y, honest) < min(singles) - 0.01
    assert [d["held_out_window"] for d in details] == [1, 2, 3, 4]
    assert blend.mean_window_rmspe(y, honest, windows) < min(singles) - 0.01


def test_cross_fit_never_scores_a_window_it_was_fitted_on():
    # Window 2 alone is biased: a fit that saw it would pull its factor towards it.
    rng, y, windows = _truth()
    P = (y * rng.lognormal(0, 0.05, len(y)))[:, None] * np.where(windows == 2, 1.3, 1.0)[:, None]
    _, details = blend.cross_fit(P, y, windows, None, 20.0, "single+factor")
    by_window = {d["held_out_window"]: d["factor"] for d in details}
    assert by_window[2] == pytest.approx(blend.optimal_factor(P[windows != 2, 0], y[windows != 2]))
    assert by_window[2] > max(by_window[w] for w in (1, 3, 4))


def test_window_folds_need_two_windows():
    with pytest.raises(ValueError, match="at least two"):
        blend.window_folds(np.ones(10))


def test_segment_factors_rejected_on_noise():
    rng, y, windows = _truth(n=6000)
    P = np.column_stack([y * rng.lognormal(0, 0.1, len(y)), y * rng.lognormal(0, 0.15, len(y))])
    segs = {"Store": rng.integers(1, 300, len(y)).astype(str),
            "StoreType": rng.choice(list("abcd"), len(y)),
            "Promo": rng.integers(0, 2, len(y)).astype(str)}
    checks = blend.check_segments(P, y, windows, segs, strength=20.0, min_gain=0.0005)
    assert [c.column for c in checks] == ["Store", "StoreType", "Promo"]
    assert not any(c.accepted for c in checks), [c.to_dict() for c in checks]


def test_segment_factors_accepted_when_one_segment_is_biased():
    rng, y, windows = _truth(n=6000)
    stype = rng.choice(list("abcd"), len(y))
    bias = np.where(stype == "b", 1.25, 1.0)  # every model over-predicts store type b
    P = np.column_stack([y * bias * rng.lognormal(0, 0.08, len(y)), y * bias * rng.lognormal(0, 0.1, len(y))])
    checks = {c.column: c for c in blend.check_segments(P, y, windows, {"StoreType": stype}, 20.0, 0.0005)}
    assert checks["StoreType"].accepted
    factors = blend.fit_segment_factors(P[:, 0], y, stype, 1.0, 20.0)
    assert factors["b"] < factors["a"] - 0.15


def test_procedure_choice_prefers_a_blend_only_when_it_carries_over():
    rng, y, windows = _truth()
    a = y * rng.lognormal(0, 0.10, len(y))
    b = y * rng.lognormal(0, 0.10, len(y))
    chosen, scores = blend.choose_procedure(np.column_stack([a, b]), y, windows, 0.0005, 20.0)
    # Two equally good models with independent errors: averaging them carries over, fitted or not.
    assert chosen.startswith(("equal", "blend")) and set(scores) == set(blend.PROCEDURES)
    assert scores["equal"] < scores["single"] - 0.005
    # A second model that only repeats the first one's errors adds nothing: keep the simple one.
    chosen, _ = blend.choose_procedure(np.column_stack([a, a * 1.001]), y, windows, 0.0005, 20.0)
    assert chosen.startswith("single")


def test_equal_procedure_averages_the_good_models_and_leaves_out_a_poor_one():
    rng, y, _ = _truth()
    a, b = y * rng.lognormal(0, 0.10, len(y)), y * rng.lognormal(0, 0.12, len(y))
    poor = y * rng.lognormal(0, 0.40, len(y))
    fit = blend.fit_procedure(np.column_stack([poor, a, b]), y, "equal")
    assert fit.weights.tolist() == [0.0, 0.5, 0.5] and fit.factor == 1.0 and fit.space == "geometric"
    assert fit.rmspe == pytest.approx(rmspe(y, np.expm1((np.log1p(a) + np.log1p(b)) / 2)))


def test_single_procedure_is_one_hot():
    rng, y, _ = _truth()
    P = np.column_stack([y * rng.lognormal(0, 0.3, len(y)), y * rng.lognormal(0, 0.05, len(y))])
    fit = blend.fit_procedure(P, y, "single")
    assert fit.weights.tolist() == [0.0, 1.0] and fit.factor == 1.0
    assert blend.fit_procedure(P, y, "single+factor").factor < 1.0
