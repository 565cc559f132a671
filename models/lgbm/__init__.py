"""LightGBM on log(Sales): the gradient-boosting baseline every neural net is checked against.

    python -m models.lgbm --build-dir build --seed 42 [--params '{"num_leaves": 63}']

One recipe (``LGBMRecipe``: a fixed number of rounds on every open train day) runs on each
pseudo-test window and then on all of train for the test (``models.common.run_stage``), and writes
the files described in ARCHITECTURE.md. No correction factor here: the ensembler fits the one
factor of the chain on the out-of-window predictions. Parameters are layered: defaults < ``B/tuning/lgbm.json``
(written by ``python -m models.tune --model lgbm``) < ``--params``.

API (the CLI calls the same): ``LGBMRecipe`` (one window: ``recipe(train, test, meta)``),
``train_and_predict`` (the stage), ``save_importance_plot``, ``DEFAULT_PARAMS``.

Modules: ``params`` (defaults and their layering), ``estimator`` (``LGBMSalesRegressor`` and the
feature frames), ``recipe`` (``LGBMRecipe``), ``plots``, ``cli``.
"""
from models.lgbm.cli import main, train_and_predict
from models.lgbm.estimator import LGBMSalesRegressor, feature_columns, lgb_frame, make_preprocessor, tree_columns
from models.lgbm.params import DEFAULT_NUM_BOOST_ROUND, DEFAULT_PARAMS, NAME, resolve_params
from models.lgbm.plots import save_importance_plot
from models.lgbm.recipe import LGBMRecipe

__all__ = ["DEFAULT_NUM_BOOST_ROUND", "DEFAULT_PARAMS", "LGBMRecipe", "LGBMSalesRegressor", "NAME", "feature_columns",
           "lgb_frame", "main", "make_preprocessor", "resolve_params", "save_importance_plot", "train_and_predict",
           "tree_columns"]
