"""Entity-embedding MLP on tiny synthetic data: shapes, gradients, learning, determinism, I/O."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from competition.metric import rmspe
from models.common import load_feature_tables, training_frames
from models.mlp import MLPConfig, MLPRegressor, TabularModel, emb_size_rule, load, training
from models.mlp.network import EmbeddingTables, SparseDropout
from models.mlp.throughput import OP_GROUPS, bench_epoch, bf16_matmul_gflops, matmul_gflops, profile_steps
from models.mlp.training import (
    TensorData,
    bf16_enabled,
    effective_batch_size,
    fit_network,
    native_bf16,
    resolve_device,
    train_step,
)

CAT_COLS = ["Store", "DayOfWeek", "StoreType"]
CONT_COLS = ["CompetitionDistance", "Promo"]


def synthetic_frame(n: int, seed: int) -> pd.DataFrame:
    """Sales with a store effect, a weekday effect and a promo effect, plus noise and NaNs."""
    rng = np.random.default_rng(seed)
    store = rng.integers(1, 31, n)
    dow = rng.integers(1, 8, n)
    promo = rng.integers(0, 2, n)
    dist = rng.exponential(2000.0, n)
    dist[rng.random(n) < 0.05] = np.nan
    store_effect = np.sin(store) * 0.4
    log_sales = 8.5 + store_effect + 0.15 * (dow == 1) - 0.3 * (dow == 7) + 0.25 * promo
    log_sales += rng.normal(0.0, 0.03, n)
    return pd.DataFrame({
        "Store": store, "DayOfWeek": dow, "StoreType": np.array(list("abcd"))[store % 4],
        "CompetitionDistance": dist, "Promo": promo.astype(float),
        "Sales": np.round(np.exp(log_sales)).astype(np.int64),
        "Customers": np.round(np.exp(log_sales - 2.2 + rng.normal(0.0, 0.05, n))).astype(np.int64),
    })


def small_config(**overrides: object) -> MLPConfig:
    base = dict(cat_cols=CAT_COLS, cont_cols=CONT_COLS, layers=[64, 32], ps=[0.001, 0.01],
                epochs=4, batch_size=128, lr=1e-2, weight_decay=0.01, threads=1, progress=False,
                seed=3, min_steps=1)
    base.update(overrides)
    return MLPConfig(**base)


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthetic_frame(3000, seed=0), synthetic_frame(600, seed=1)


@pytest.fixture(scope="module")
def fitted(frames: tuple[pd.DataFrame, pd.DataFrame]) -> MLPRegressor:
    train, valid = frames
    return MLPRegressor(small_config()).fit(train, valid)


def tiny_model(bf16_ok: bool = True) -> TabularModel:
    torch.manual_seed(0)
    return TabularModel([31, 8, 5], [emb_size_rule(n) for n in (31, 8, 5)], 3, [16, 8], [0.1, 0.1],
                        0.1, (0.0, 11.0))


def tiny_batch(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    cats = torch.stack([torch.randint(0, k, (n,), generator=g) for k in (31, 8, 5)], 1)
    return cats, torch.randn(n, 3, generator=g)


def test_emb_size_rule_matches_fastai() -> None:
    # fast.ai: min(600, round(1.6 * n**0.56)); 1116 stores (+ unknown) -> 81 wide.
    assert emb_size_rule(1116) == round(1.6 * 1116 ** 0.56) == 81
    assert emb_size_rule(8) == 5
    assert emb_size_rule(10 ** 7) == 600


@pytest.mark.parametrize("bf16", [False, True])
def test_output_shapes_and_range(bf16: bool) -> None:
    model = tiny_model()
    cats, conts = tiny_batch(32)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model.train()(cats, conts)
    # The head stays fp32 under autocast: bf16 would round log Sales ~9 in steps of 0.03.
    assert out.shape == (32,) and out.dtype == torch.float32
    assert bool(((out > 0) & (out < 11)).all())
    assert model.eval()(cats[:1], conts[:1]).shape == (1,)
    # Linear(no bias) -> ReLU -> BatchNorm -> Dropout per block, as fast.ai's LinBnDrop.
    kinds = [type(m).__name__ for m in model.body]
    assert kinds == ["Linear", "ReLU", "BatchNorm1d", "SparseDropout"] * 2
    assert model.body[0].in_features == sum(emb_size_rule(n) for n in (31, 8, 5)) + 3
    assert model.body[0].bias is None


def test_every_parameter_gets_a_gradient() -> None:
    model = tiny_model().train()
    cats, conts = tiny_batch(64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(cats, conts)
    ((out - 8.0) ** 2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_summary_lists_layers_and_shapes() -> None:
    text = tiny_model().summary()
    assert "Embedding(31, 11)" in text and "[bs, 16]" in text and "[bs, 8]" in text
    assert f"total parameters: {sum(p.numel() for p in tiny_model().parameters()):,}" in text


def test_loss_falls_within_a_few_epochs(fitted: MLPRegressor, frames: tuple) -> None:
    losses = [e["train_loss"] for e in fitted.history_]
    assert len(losses) == 4
    assert losses[-1] < 0.2 * losses[0], losses
    train, valid = frames
    # Far better than the best constant (the geometric mean), which scores about 0.3.
    constant = np.full(len(valid), np.exp(np.log(train["Sales"]).mean()))
    assert rmspe(valid["Sales"], constant) > 0.25
    assert fitted.history_[-1]["valid_rmspe"] < 0.12
    assert rmspe(valid["Sales"], fitted.predict(valid)) == pytest.approx(fitted.history_[-1]["valid_rmspe"])


def test_predict_returns_sales_not_log_sales(fitted: MLPRegressor, frames: tuple) -> None:
    _, valid = frames
    pred = fitted.predict(valid)
    assert pred.shape == (len(valid),) and pred.dtype == np.float64
    assert 1000 < np.median(pred) < 20000
    np.testing.assert_allclose(np.log(pred), fitted.predict_log(valid))


def test_same_seed_same_predictions(frames: tuple, fitted: MLPRegressor) -> None:
    train, valid = frames
    again = MLPRegressor(small_config()).fit(train, valid)
    np.testing.assert_array_equal(again.predict(valid), fitted.predict(valid))
    other = MLPRegressor(small_config(seed=4)).fit(train, valid)
    assert not np.array_equal(other.predict(valid), fitted.predict(valid))


def test_save_load_round_trip(fitted: MLPRegressor, frames: tuple, tmp_path) -> None:
    _, valid = frames
    fitted.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "weights.pt", "preprocessor.json"}
    restored = load(tmp_path)
    assert restored.config == fitted.config
    assert restored.y_range_ == fitted.y_range_ and restored.emb_dims_ == fitted.emb_dims_
    np.testing.assert_array_equal(restored.predict(valid), fitted.predict(valid))
    # Unseen categories map to the reserved code 0 rather than failing.
    odd = valid.head(5).assign(Store=999, StoreType="z")
    assert np.isfinite(restored.predict(odd)).all()


def test_epoch_callback_called_after_every_epoch(frames: tuple) -> None:
    train, valid = frames
    calls: list[tuple[int, float]] = []
    reg = MLPRegressor(small_config(epochs=3)).fit(train, valid, epoch_callback=lambda e, r: calls.append((e, r)))
    assert [e for e, _ in calls] == [0, 1, 2]
    assert [r for _, r in calls] == [h["valid_rmspe"] for h in reg.history_]
    assert all(math.isfinite(r) for _, r in calls)


def test_epoch_callback_exception_stops_training(frames: tuple) -> None:
    train, valid = frames

    class Pruned(Exception):
        pass

    seen: list[int] = []

    def prune_at_second(epoch: int, value: float) -> None:
        seen.append(epoch)
        if epoch == 1:
            raise Pruned()

    with pytest.raises(Pruned):
        MLPRegressor(small_config(epochs=4)).fit(train, valid, epoch_callback=prune_at_second)
    assert seen == [0, 1]


def test_no_validation_reports_nan(frames: tuple) -> None:
    train, _ = frames
    calls: list[float] = []
    MLPRegressor(small_config(epochs=1)).fit(train, epoch_callback=lambda e, r: calls.append(r))
    assert len(calls) == 1 and math.isnan(calls[0])


def test_training_rejects_zero_sales(frames: tuple) -> None:
    train, _ = frames
    with pytest.raises(ValueError, match="Sales > 0"):
        MLPRegressor(small_config(epochs=1)).fit(train.assign(Sales=0))


def test_fit_network_restores_thread_count_and_keeps_no_graph() -> None:
    before = torch.get_num_threads()
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.randint(0, 5, (500, 3), generator=g), torch.randn(500, 3, generator=g),
                      8 + torch.randn(500, generator=g) * 0.1)
    model = tiny_model()
    hist = fit_network(model, data, small_config(epochs=2, batch_size=100))
    assert len(hist.step_loss) == 10 and all(isinstance(v, float) for v in hist.step_loss)
    assert torch.get_num_threads() == before


def test_config_params_and_json(tmp_path) -> None:
    cfg = MLPConfig().with_params({"emb_drop": 0.1, "ps_1": 0.2, "weight_decay": 1e-3})
    assert cfg.ps == [0.001, 0.2] and cfg.emb_drop == 0.1
    with pytest.raises(ValueError, match="unknown MLP parameter"):
        MLPConfig().with_params({"dropuot": 0.1})
    with pytest.raises(ValueError, match="ps has"):
        MLPConfig(ps=[0.1])
    cfg.save(tmp_path / "c.json")
    assert MLPConfig.load(tmp_path / "c.json") == cfg


def test_a_saved_config_with_a_retired_runtime_setting_still_loads(tmp_path) -> None:
    # Builds written before `compile` went have "compile": false in config.json; the setting never
    # changed the weights, so their networks must still load. A typo passed as a parameter still raises.
    saved = MLPConfig(emb_drop=0.1).to_dict() | {"compile": False}
    (tmp_path / "c.json").write_text(json.dumps(saved))
    assert MLPConfig.load(tmp_path / "c.json") == MLPConfig(emb_drop=0.1)
    with pytest.raises(ValueError, match="unknown MLP parameter 'compile'"):
        MLPConfig().with_params({"compile": True})


@pytest.mark.parametrize("p", [0.01, 0.04, 0.5])
def test_sparse_dropout_rate_and_expectation(p: float) -> None:
    torch.manual_seed(0)
    drop = SparseDropout(p).train()
    x = torch.ones(4000, 250)
    y = drop(x.clone())
    zero = float((y == 0).float().mean())
    # A Poisson number of positions drawn with replacement gives exactly rate p (0.5, not 0.39).
    assert zero == pytest.approx(p, rel=0.03)
    # Classic (not inverted) dropout: kept values are untouched while training, and eval mode
    # scales by 1 - p, so the expected activation is the same in both modes.
    assert torch.equal(y[y != 0], torch.ones(int((y != 0).sum())))
    assert torch.allclose(drop.eval()(x), torch.full_like(x, 1 - p))
    assert float(y.mean()) == pytest.approx(float(drop.eval()(x).mean()), rel=0.01)
    with pytest.raises(ValueError):
        SparseDropout(1.0)


def test_sparse_dropout_zeroes_the_gradient_where_it_dropped() -> None:
    torch.manual_seed(1)
    drop = SparseDropout(0.3).train()
    leaf = torch.randn(50, 40, requires_grad=True)
    y = drop(leaf * 1.0)  # in place on a non-leaf, as after BatchNorm in the network
    (y * 2.0).sum().backward()
    dropped = y == 0
    assert dropped.any()
    assert torch.equal(leaf.grad[dropped], torch.zeros(int(dropped.sum())))
    assert torch.equal(leaf.grad[~dropped], torch.full((int((~dropped).sum()),), 2.0))


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_embedding_tables_match_separate_embeddings(dtype: torch.dtype) -> None:
    cards, dims = [31, 8, 1, 5], [11, 5, 1, 4]
    torch.manual_seed(0)
    tables = EmbeddingTables(cards, dims)
    refs = [torch.nn.Embedding(n, d) for n, d in zip(cards, dims)]
    with torch.no_grad():
        for j, ref in enumerate(refs):
            ref.weight.copy_(tables.table(j))
    g = torch.Generator().manual_seed(2)
    x = torch.stack([torch.randint(0, n, (64,), generator=g) for n in cards], 1)
    upstream = torch.randn(64, sum(dims), generator=g)
    out = tables(x.to(dtype))
    expected = torch.cat([ref(x[:, j]) for j, ref in enumerate(refs)], 1)
    assert torch.equal(out, expected)
    (out * upstream).sum().backward()
    (expected * upstream).sum().backward()
    for j, ref in enumerate(refs):
        start = tables.starts[j]
        grad_j = tables.weight.grad[start:start + cards[j] * dims[j]].view(cards[j], dims[j])
        torch.testing.assert_close(grad_j, ref.weight.grad)


def test_a_two_step_run_trains_without_a_one_cycle_division_by_zero() -> None:
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.randint(0, 5, (100, 3), generator=g), torch.randn(100, 3, generator=g),
                      8 + torch.randn(100, generator=g) * 0.1)
    for steps in (1, 2, 3, 4):
        hist = fit_network(tiny_model(), data, small_config(epochs=1, batch_size=100 // steps))
        assert len(hist.step_loss) == steps and all(math.isfinite(v) for v in hist.step_loss)


def test_device_setting(frames: tuple, tmp_path) -> None:
    """"auto" trains where torch finds a GPU, else on the CPU (here); asking for a GPU that is not
    there says what to use instead; the weights are saved device-free and load anywhere."""
    assert resolve_device(MLPConfig()) == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(MLPConfig(device="cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda"):
        MLPConfig(device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device(MLPConfig(device="cuda"))
    train, valid = frames
    reg = MLPRegressor(small_config(device="cpu", epochs=1)).fit(train)
    assert next(reg.model_.parameters()).device.type == "cpu"
    reg.save(tmp_path)
    saved = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert all(v.device.type == "cpu" for v in saved["state_dict"].values())
    np.testing.assert_array_equal(load(tmp_path).predict(valid), reg.predict(valid))


def test_bf16_only_where_the_device_runs_it_natively(monkeypatch: pytest.MonkeyPatch) -> None:
    """By default the MLP autocasts to bf16 only on hardware that computes it (emulated bf16 made
    an epoch 23x slower than fp32 on an AVX2 CPU); an explicit setting is obeyed either way."""
    cpu = torch.device("cpu")
    assert MLPConfig().use_bf16 is None
    assert native_bf16(cpu) == torch.ops.mkldnn._is_mkldnn_bf16_supported()
    for native in (True, False):
        monkeypatch.setattr(training, "native_bf16", lambda device, native=native: native)
        assert bf16_enabled(MLPConfig(), cpu) is native
        assert bf16_enabled(MLPConfig(use_bf16=True), cpu) and not bf16_enabled(MLPConfig(use_bf16=False), cpu)
        with training.autocast(MLPConfig(), cpu):
            assert torch.is_autocast_enabled("cpu") is native


def test_bench_epoch_reports_rows_time_and_flops(feature_build: Path) -> None:
    cfg = MLPConfig(layers=[32, 16], ps=[0.0, 0.0], batch_size=256, threads=1)
    res = bench_epoch(feature_build, config=cfg, n_rows=3000)
    assert res.rows == 3000 and res.seconds > 0 and res.batch_size == 256
    # FLOPs: 3 matmuls (forward, input grad, weight grad) of 2 * in * out per Linear per row; the
    # input is every embedding plus the continuous columns of the build's features.
    train_df, _, meta = load_feature_tables(feature_build)
    reg = MLPRegressor(cfg)
    data = reg.prepare(training_frames(train_df, meta)[0].iloc[:3000])
    width = sum(reg.emb_dims_) + data.conts.shape[1]
    # The head has two outputs: log Sales and the auxiliary log Customers (MLPConfig.customers_weight).
    assert res.flops == 3000 * 6 * (width * 32 + 32 * 16 + 16 * 2)
    assert res.gflops == pytest.approx(res.flops / res.seconds / 1e9)
    assert "rows/s" in str(res) and res.device == "cpu" and res.bf16 == native_bf16(torch.device("cpu"))
    assert matmul_gflops(n=128, repeats=3) > 0
    assert (bf16_matmul_gflops() is None) != native_bf16(torch.device("cpu"))


def test_profile_steps_splits_a_step_into_operator_groups(feature_build: Path) -> None:
    cfg = MLPConfig(layers=[64, 32], batch_size=256, threads=1)
    shares = profile_steps(feature_build, cfg, steps=4, n_rows=3000)
    assert set(shares) == set(OP_GROUPS) | {"other"} and sum(shares.values()) == pytest.approx(1.0)
    # Every group the network has is seen: Linear layers, BatchNorm, embeddings, AdamW, ReLU, dropout.
    assert all(shares[g] > 0 for g in ("matmul", "batchnorm", "embeddings", "optimizer", "relu", "dropout"))
    assert shares["other"] < 0.5  # the groups name most of the step's time


def test_small_data_gets_smaller_batches_and_a_scaled_lr() -> None:
    cfg = MLPConfig(epochs=3, batch_size=2048, min_steps=300)
    assert effective_batch_size(760_000, cfg) == 2048  # the real data keeps its batch
    assert effective_batch_size(6_000, cfg) == 64  # 3 x 94 steps instead of 3 x 3
    assert effective_batch_size(100_000, cfg) == 512  # 3 x 196 steps; at 1024 only 3 x 98
    assert effective_batch_size(6_000, MLPConfig(epochs=3, batch_size=2048, min_steps=0)) == 2048


def test_fit_more_continues_the_fitted_network(frames: tuple, fitted: MLPRegressor) -> None:
    train, valid = frames
    before = fitted.predict(valid)
    more = copy.deepcopy(fitted).fit_more(train, epochs=2, valid_df=valid)
    assert len(more.history_) == 2 and more.history_[-1]["valid_rmspe"] < 0.12
    # It starts from the fitted weights: its first epoch's loss is already near the fitted
    # network's last one, far below a fresh network's first epoch.
    assert more.history_[0]["train_loss"] < 0.5 * fitted.history_[0]["train_loss"]
    assert not np.array_equal(more.predict(valid), before)
    assert more.preprocessor_ is not fitted.preprocessor_  # a deep copy, the original is intact
    np.testing.assert_array_equal(fitted.predict(valid), before)
    with pytest.raises(RuntimeError, match="call fit first"):
        MLPRegressor(small_config()).fit_more(train, epochs=1)
    # A params file from before the refit options went says which name is unknown.
    with pytest.raises(ValueError, match="unknown MLP parameter 'refit'"):
        small_config().with_params({"refit": "scratch"})


def test_inputs_unseen_in_training_do_not_make_the_network_extrapolate(frames: tuple) -> None:
    # The backtest failure: a feature NaN on a handful of training rows but on many test rows
    # (closures next to a data gap), and values beyond the training range. With a `_na` flag
    # that BatchNorm scales to tens of standard deviations the MLP predicted several times the
    # real Sales; rare-NaN columns get no flag and every input is clipped to its training range.
    train, valid = frames
    rng = np.random.default_rng(0)
    train = train.assign(DaysUntil=rng.integers(1, 15, len(train)).astype(float))
    train.loc[train.index[:3], "DaysUntil"] = np.nan  # 0.1% of the training rows
    cfg = small_config(cont_cols=CONT_COLS + ["DaysUntil"])
    reg = MLPRegressor(cfg).fit(train)
    assert "DaysUntil" not in reg.preprocessor_.na_cols_
    edge = valid.assign(DaysUntil=np.nan, CompetitionDistance=1e7)  # all NaN, 100x the max distance
    inside = valid.assign(DaysUntil=reg.preprocessor_.medians_["DaysUntil"],
                          CompetitionDistance=float(train["CompetitionDistance"].max()))
    np.testing.assert_allclose(reg.predict(edge), reg.predict(inside), rtol=1e-6)


def test_ordered_categories_are_embedded_and_also_numbers(frames: tuple, tmp_path) -> None:
    train, valid = frames
    defaults = dict(cat_cols=None, cont_cols=None, epochs=1)
    reg = MLPRegressor(small_config(**defaults)).fit(train)
    # DayOfWeek is ordered (features.columns.ORDINAL_CAT_COLS): an embedding and a number; Store
    # and StoreType have no order and stay embeddings only.
    assert reg.cat_cols_ == ["Store", "DayOfWeek", "StoreType"]
    assert reg.cont_cols_ == ["CompetitionDistance", "Promo", "DayOfWeek"]
    assert reg.preprocessor_.means_["DayOfWeek"] == pytest.approx(train["DayOfWeek"].mean())
    again = load(reg.save(tmp_path / "m"))
    assert again.cont_cols_ == reg.cont_cols_
    np.testing.assert_allclose(again.predict(valid), reg.predict(valid), rtol=1e-6)
    plain = MLPRegressor(small_config(**defaults, ordinal_numbers=False)).fit(train)
    assert plain.cat_cols_ == reg.cat_cols_ and plain.cont_cols_ == ["CompetitionDistance", "Promo"]


def test_customers_weight_adds_a_second_output_trained_on_log_customers(frames: tuple, tmp_path) -> None:
    train, valid = frames
    reg = MLPRegressor(small_config(customers_weight=0.5)).fit(train, valid)
    assert reg.model_.head.out_features == 2
    data = reg.tensors(valid)
    with torch.inference_mode():
        out = reg.model_.eval()(data.cats, data.conts).float()
    # The second output learned log Customers, the first (the prediction) log Sales.
    assert float((out[:, 1] - data.y_aux).abs().mean()) < 0.1
    np.testing.assert_allclose(reg.predict_log(valid), out[:, 0].double().numpy(), atol=0.02)
    assert rmspe(valid["Sales"], reg.predict(valid)) < 0.12
    reg.save(tmp_path)
    np.testing.assert_array_equal(load(tmp_path).predict(valid), reg.predict(valid))
    with pytest.raises(ValueError, match="Customers column"):
        MLPRegressor(small_config(customers_weight=0.5)).fit(train.drop(columns="Customers"))
    # The default learns both; customers_weight=0 is the single-output network.
    assert MLPConfig().customers_weight == 0.5
    assert MLPRegressor(small_config(customers_weight=0.0, epochs=1)).fit(train).model_.head.out_features == 1
    with pytest.raises(ValueError, match="no auxiliary target"):
        train_step(reg.model_.train(), torch.optim.SGD(reg.model_.parameters(), lr=0.0), data.cats[:8],
                   data.conts[:8], data.y_log[:8], reg.config)
