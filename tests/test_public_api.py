"""The public API: what each package exports at its top is importable, documented and typed.

The notebooks (``notebooks/*.ipynb``) and the command lines call these names; a name in ``__all__``
that is missing, undocumented or untyped is a broken promise to both.
"""
from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = ("competition", "features", "models", "models.baseline", "models.lgbm", "models.mlp", "models.tune",
            "ensembling", "submissions", "pets")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_is_documented_and_typed(package: str) -> None:
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")
                                                 and inspect.isfunction(getattr(module, n))
                                                 and getattr(module, n).__module__ == package]
    assert names, f"{package} exports nothing"
    undocumented, untyped = [], []
    for name in names:
        obj = getattr(module, name)  # AttributeError: a name in __all__ that is not there
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if not inspect.getdoc(obj):
            undocumented.append(name)
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            if sig.return_annotation is inspect.Signature.empty or any(
                    p.annotation is inspect.Parameter.empty for p in sig.parameters.values()):
                untyped.append(name)
    assert undocumented == [], f"{package}: no docstring: {undocumented}"
    assert untyped == [], f"{package}: missing type hints: {untyped}"


def test_the_notebooks_calls_are_at_the_tops_of_the_packages() -> None:
    """The calls the issue names: load, features of the test and the windows, a model on a window,
    score, ensemble, submission; photos, augmentations, fit, predict, heatmap."""
    wanted = {
        "competition": ["load_competition", "write_dataset", "windows", "pseudo_test", "rmspe", "plot_windows"],
        "features": ["build", "build_features"],
        "models": ["load_windows", "score_windows", "window_score", "run_stage"],
        "models.baseline": ["MedianBaseline", "train_and_predict"],
        "models.lgbm": ["LGBMRecipe", "train_and_predict"],
        "models.mlp": ["MLPRecipe", "lr_find", "plot_loss_curves", "train_and_predict", "save_embedding_maps"],
        "models.tune": ["run_study", "TuneConfig"],
        "ensembling": ["run_ensemble"],
        "submissions": ["write_submission", "check_submission"],
        "pets": ["load_pets", "save_augment_grid", "PetsClassifier", "heatmap_for_image", "most_confused"],
    }
    for package, names in wanted.items():
        module = importlib.import_module(package)
        assert [n for n in names if not hasattr(module, n)] == [], package
