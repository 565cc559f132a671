"""Blend weights, the RMSPE factor and segment factors on constructed data with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from competition.metric import rmspe
from competition.pseudo_test import Window
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


def _spans(n: int = 4, days: int = 14) -> dict[int, Window]:
    """``n`` consecutive windows, window 1 the latest, each one's train ending the day before it."""
    first = pd.Timestamp("2015-01-01")
    out = {}
    for k in range(1, n + 1):
        start = first + pd.Timedelta(days=(n - k) * days)
        out[k] = Window(k, start - pd.Timedelta(days=1), start, start + pd.Timedelta(days=days - 1))
    return out


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
    honest, choices = blend.causal_predictions(P, y, windows, _spans(), {}, 0.0005, 20.0)
    assert blend.mean_window_rmspe(y, honest, windows) < min(singles) - 0.01
    assert sorted(choices) == [1, 2, 3, 4] and choices[4].windows == [] and choices[1].windows == [2, 3, 4]


def test_causal_fit_never_uses_a_window_after_the_train_end():
    """The planted trap: whatever the later windows hold (here: random answers, and a model that is
    perfect there only), a window's ensemble prediction is the same, so a fit that peeked at them
    could have gained but did not."""
    rng, y, windows = _truth()
    a = y * rng.lognormal(0, 0.05, len(y))
    b = y * rng.lognormal(0, 0.25, len(y))
    P = np.column_stack([a, b])
    spans = _spans()
    reference, _ = blend.causal_predictions(P, y, windows, spans, {}, 0.0005, 20.0)
    for w in (4, 3, 2):
        later = windows < w  # window 1 is the latest: smaller index, later dates
        trap_y = np.where(later, rng.uniform(100, 20000, len(y)), y)
        trap_P = np.where(later[:, None], np.column_stack([trap_y * 1.3, trap_y]), P)
        pred, choices = blend.causal_predictions(trap_P, trap_y, windows, spans, {}, 0.0005, 20.0)
        assert np.array_equal(pred[windows == w], reference[windows == w]), w
        assert all(v > w for v in choices[w].windows)
    # The earliest window has nothing before it: the prior, the models' geometric mean.
    assert np.allclose(reference[windows == 4], np.expm1(np.log1p(P[windows == 4]).mean(axis=1)))


def test_a_factor_learned_later_never_reaches_an_earlier_window():
    # Window 1 (the latest) alone is biased: a fit that saw it would pull the factor towards it.
    rng, y, windows = _truth()
    P = (y * rng.lognormal(0, 0.05, len(y)))[:, None] * np.where(windows == 1, 1.3, 1.0)[:, None]
    _, choices = blend.causal_predictions(P, y, windows, _spans(), {}, 0.0005, 20.0, ("equal+factor",))
    earlier = windows >= 2
    assert choices[1].fit.factor == pytest.approx(blend.optimal_factor(P[earlier, 0], y[earlier]))
    assert choices[2].fit.factor == pytest.approx(blend.optimal_factor(P[windows >= 3, 0], y[windows >= 3]))


def test_segment_factors_rejected_on_noise():
    rng, y, windows = _truth(n=6000)
    P = np.column_stack([y * rng.lognormal(0, 0.1, len(y)), y * rng.lognormal(0, 0.15, len(y))])
    segs = {"Store": rng.integers(1, 300, len(y)).astype(str),
            "StoreType": rng.choice(list("abcd"), len(y)),
            "Promo": rng.integers(0, 2, len(y)).astype(str)}
    choice = blend.choose(P, y, windows, _spans(), [1, 2, 3, 4], segs, 0.0005, 20.0)
    assert [c.column for c in choice.segment_checks] == ["Store", "StoreType", "Promo"]
    assert not any(c.accepted for c in choice.segment_checks) and choice.segment is None
    # Scored on the windows that have an earlier one: 3 of 4.
    assert all(len(c.gains) == 3 for c in choice.segment_checks)


def test_segment_factors_accepted_when_one_segment_is_biased():
    rng, y, windows = _truth(n=6000)
    stype = rng.choice(list("abcd"), len(y))
    bias = np.where(stype == "b", 1.25, 1.0)  # every model over-predicts store type b
    P = np.column_stack([y * bias * rng.lognormal(0, 0.08, len(y)), y * bias * rng.lognormal(0, 0.1, len(y))])
    choice = blend.choose(P, y, windows, _spans(), [1, 2, 3, 4], {"StoreType": stype}, 0.0005, 20.0)
    assert choice.segment == "StoreType" and choice.segment_checks[0].accepted
    assert choice.segment_factors["b"] < choice.segment_factors["a"] - 0.15


def test_procedure_choice_prefers_a_blend_only_when_it_carries_over():
    rng, y, windows = _truth()
    a = y * rng.lognormal(0, 0.10, len(y))
    b = y * rng.lognormal(0, 0.10, len(y))
    choice = blend.choose(np.column_stack([a, b]), y, windows, _spans(), [1, 2, 3, 4], {}, 0.0005, 20.0)
    # Two equally good models with independent errors: averaging them carries over, fitted or not.
    assert choice.procedure.startswith(("equal", "blend")) and set(choice.procedure_rmspe) == set(blend.PROCEDURES)
    assert choice.procedure_rmspe["equal"] < blend.mean_window_rmspe(y, a, windows) - 0.005
    # A second model far worse than the first: not the plain average; the first carries the blend.
    poor = y * rng.lognormal(0, 0.35, len(y))
    choice = blend.choose(np.column_stack([a, poor]), y, windows, _spans(), [1, 2, 3, 4], {}, 0.0005, 20.0)
    assert choice.procedure_rmspe[choice.procedure] < choice.procedure_rmspe["equal"]
    assert choice.fit.weights[0] > 0.85


def test_with_no_earlier_window_the_prior_is_chosen():
    rng, y, windows = _truth()
    P = np.column_stack([y * rng.lognormal(0, 0.1, len(y)), y * rng.lognormal(0, 0.3, len(y))])
    one = windows == 2
    choice = blend.choose(P[one], y[one], windows[one], _spans(), [2], {}, 0.0005, 20.0)
    assert choice.procedure == "equal" and len(set(choice.procedure_rmspe.values())) == 1
    empty = blend.choose(P, y, windows, _spans(), [], {}, 0.0005, 20.0)
    assert empty.procedure == "equal" and empty.fit.weights.tolist() == [0.5, 0.5] and empty.fit.factor == 1.0


def test_equal_procedure_averages_the_good_models_and_leaves_out_a_poor_one():
    rng, y, _ = _truth()
    a, b = y * rng.lognormal(0, 0.10, len(y)), y * rng.lognormal(0, 0.12, len(y))
    poor = y * rng.lognormal(0, 0.40, len(y))
    fit = blend.fit_procedure(np.column_stack([poor, a, b]), y, "equal")
    assert fit.weights.tolist() == [0.0, 0.5, 0.5] and fit.factor == 1.0 and fit.space == "geometric"
    assert fit.rmspe == pytest.approx(rmspe(y, np.expm1((np.log1p(a) + np.log1p(b)) / 2)))


def test_an_unknown_procedure_is_refused_not_fitted_as_a_blend():
    rng, y, _ = _truth()
    P = np.column_stack([y * rng.lognormal(0, 0.3, len(y)), y * rng.lognormal(0, 0.05, len(y))])
    with pytest.raises(ValueError, match="unknown ensemble procedure 'single'"):
        blend.fit_procedure(P, y, "single")


def test_segment_factors_need_two_windows_scored_causally():
    """With two windows only the later one is scored causally: one window's word is not enough."""
    rng, y, windows = _truth(n=6000)
    stype = rng.choice(list("abcd"), len(y))
    bias = np.where(stype == "b", 1.25, 1.0)
    P = np.column_stack([y * bias * rng.lognormal(0, 0.08, len(y)), y * bias * rng.lognormal(0, 0.1, len(y))])
    two = np.isin(windows, [1, 2])
    choice = blend.choose(P[two], y[two], windows[two], _spans(), [1, 2], {"StoreType": stype[two]}, 0.0005, 20.0)
    check = choice.segment_checks[0]
    assert len(check.gains) == 1 and check.gains[0] > 0.0005 and not check.accepted and choice.segment is None
