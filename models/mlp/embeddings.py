"""The MLP's learned embeddings as 2-D maps: the entity-embedding paper's pictures.

Guo & Berkhahn (2016) showed that the ``State`` embedding of a Rossmann network, projected to
2-D, recovers something of the map of Germany, and that days of the week and months fall into
order. Here each embedding table of a trained :class:`MLPRegressor` (one vector per category it
saw in fit) is projected to 2-D (PCA by default, or t-SNE) and drawn:

- ``states.png``: the projection beside the states' places on the map, and the projection
  rotated, reflected and scaled onto the map (Procrustes). Any 2-D cloud can be aligned
  somewhat, so the agreement is measured against chance: the share of random relabellings of
  the states that align as well (a permutation p-value), and the correlation between distances
  in the full embedding and on the map (Mantel test);
- ``stores.png``: every store, coloured by ``StoreType``;
- ``weekdays.png`` and ``months.png``: joined in calendar order.

``embeddings.json`` beside them holds the measured numbers. ``python -m models.mlp --embeddings
DIR`` (``make embeddings``) draws them from a trained build; ``notebooks/rossmann.ipynb`` from a
network it has just fitted.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import procrustes
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from core.errors import DataError
from core.io import pyplot, save_png, write_json_atomic
from models.mlp.regressor import MLPRegressor

PROJECTIONS = ("pca", "tsne")
# (longitude, latitude) of each state's centre, approximately. "HB,NI" is the fast.ai tables' one
# code for Bremen and Niedersachsen (Bremen lies inside Niedersachsen); its point is Niedersachsen's.
STATE_CENTRES: dict[str, tuple[float, float]] = {
    "BW": (9.0, 48.6), "BY": (11.4, 48.9), "BE": (13.4, 52.5), "BB": (13.2, 52.4), "HB": (8.8, 53.1),
    "HH": (10.0, 53.55), "HE": (9.0, 50.6), "MV": (12.4, 53.8), "NI": (9.2, 52.8), "HB,NI": (9.2, 52.8),
    "NW": (7.6, 51.5), "RP": (7.4, 49.9), "SL": (6.95, 49.4), "SN": (13.3, 51.0), "ST": (11.7, 52.0),
    "SH": (9.8, 54.2), "TH": (11.0, 50.9),
}
# Kaggle's DayOfWeek: 1 = Monday.
WEEKDAYS = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}
MONTHS = {m: name for m, name in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1)}
PERMUTATIONS = 999


def _plain(value: Any) -> Any:
    """A category as written in the data: the preprocessor keeps numbers as floats (3.0 -> 3)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def embedding_table(reg: MLPRegressor, column: str) -> pd.DataFrame:
    """The learned vectors of ``column``: one row per category seen in fit, indexed by the
    category's value (the row of the unknown code, 0, is left out), columns ``e0``, ``e1``, ..."""
    if column not in reg.cat_cols_:
        raise ValueError(f"{column!r} is not one of the network's embedded columns; they are {reg.cat_cols_}")
    j = reg.cat_cols_.index(column)
    weights = reg.model_.embeds.table(j).detach().float().numpy()
    values = [_plain(v) for v in reg.preprocessor_.categories_[column]]
    return pd.DataFrame(weights[1:len(values) + 1], index=pd.Index(values, name=column),
                        columns=[f"e{i}" for i in range(weights.shape[1])])


def project(table: pd.DataFrame, method: str = "pca", seed: int = 0) -> pd.DataFrame:
    """``table``'s rows in 2-D (columns ``x``, ``y``); with PCA, ``attrs["explained"]`` holds the
    share of the variance each axis keeps."""
    if method not in PROJECTIONS:
        raise ValueError(f"method must be one of {PROJECTIONS}, got {method!r}")
    values = table.to_numpy(np.float64)
    if len(values) < 3 or values.shape[1] < 2:
        raise ValueError(f"a 2-D map needs >= 3 categories with >= 2 dimensions, got {values.shape}")
    if method == "pca":
        pca = PCA(n_components=2, random_state=seed).fit(values)
        out = pd.DataFrame(pca.transform(values), index=table.index, columns=["x", "y"])
        out.attrs["explained"] = [float(v) for v in pca.explained_variance_ratio_]
        return out
    tsne = TSNE(n_components=2, perplexity=min(30.0, (len(values) - 1) / 3), init="pca", random_state=seed)
    return pd.DataFrame(tsne.fit_transform(values), index=table.index, columns=["x", "y"])


def map_positions(states: pd.Index) -> pd.DataFrame:
    """Map coordinates (``x`` east, ``y`` north, in degrees of latitude) of the states in
    :data:`STATE_CENTRES`; others are left out."""
    known = [s for s in states if s in STATE_CENTRES]
    lon_lat = np.array([STATE_CENTRES[s] for s in known]).reshape(-1, 2)
    # A degree of longitude is cos(latitude) degrees of latitude long: 0.62 in Germany.
    scale = np.cos(np.radians(51.0))
    return pd.DataFrame({"x": lon_lat[:, 0] * scale, "y": lon_lat[:, 1]}, index=pd.Index(known, name=states.name))


def _distances(points: np.ndarray) -> np.ndarray:
    upper = np.triu_indices(len(points), k=1)
    return np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)[upper]


def map_agreement(table: pd.DataFrame, flat: pd.DataFrame, seed: int = 0,
                  permutations: int = PERMUTATIONS) -> dict[str, Any]:
    """How much of the map the ``State`` embedding holds, measured against chance.

    ``table`` is the embedding (one row per state), ``flat`` its 2-D projection. Returns the
    Procrustes disparity between the projection and the map (0: the same shape up to rotation,
    reflection and scale; 1: nothing in common), the share of random relabellings of the states
    that align at least as well (``procrustes_p``), and the Pearson correlation between pairwise
    distances in the full embedding and on the map with its permutation p-value (``mantel_*``).
    """
    where = map_positions(table.index)
    if len(where) < 4:
        raise ValueError(f"need >= 4 states with a known place, got {list(where.index)}")
    geo = where.to_numpy()
    emb2 = flat.loc[where.index].to_numpy()
    full = table.loc[where.index].to_numpy(np.float64)
    rng = np.random.default_rng(seed)
    _, _, disparity = procrustes(geo, emb2)
    geo_d, full_d = _distances(geo), _distances(full)
    mantel = float(np.corrcoef(geo_d, full_d)[0, 1])
    as_good, as_correlated = 0, 0
    for _ in range(permutations):
        order = rng.permutation(len(geo))
        as_good += procrustes(geo[order], emb2)[2] <= disparity
        as_correlated += np.corrcoef(_distances(geo[order]), full_d)[0, 1] >= mantel
    return {"states": [str(s) for s in where.index], "procrustes_disparity": float(disparity),
            "procrustes_p": (1 + as_good) / (1 + permutations), "mantel_r": mantel,
            "mantel_p": (1 + as_correlated) / (1 + permutations), "permutations": permutations}


def _axis_labels(ax: Any, flat: pd.DataFrame, method: str) -> None:
    explained = flat.attrs.get("explained")
    if explained:
        ax.set(xlabel=f"{method.upper()} 1 ({explained[0]:.0%} of the variance)",
               ylabel=f"{method.upper()} 2 ({explained[1]:.0%})")
    else:
        ax.set(xlabel=f"{method} 1", ylabel=f"{method} 2")


def plot_states(table: pd.DataFrame, path: str | Path, method: str = "pca", seed: int = 0
                ) -> tuple[Path, dict[str, Any]]:
    """The ``State`` embedding in 2-D, the states on the map, and the one aligned onto the other;
    returns the PNG and :func:`map_agreement`'s numbers."""
    flat = project(table, method, seed)
    stats = map_agreement(table, flat, seed)
    where = map_positions(table.index)
    geo, emb = where.to_numpy(), flat.loc[where.index].to_numpy()
    geo_std, emb_aligned, _ = procrustes(geo, emb)
    lon_lat = pd.DataFrame([STATE_CENTRES[s] for s in where.index], index=where.index, columns=["x", "y"])
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    for ax, points, title in ((axes[0], flat, f"{method.upper()} of the State embedding"),
                              (axes[1], lon_lat, "where the states are (centres)")):
        ax.scatter(points["x"], points["y"], color="tab:blue")
        for name, row in points.iterrows():
            ax.annotate(str(name), (row["x"], row["y"]), xytext=(4, 3), textcoords="offset points", fontsize=9)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    _axis_labels(axes[0], flat, method)
    axes[1].set(xlabel="longitude (east)", ylabel="latitude (north)")
    axes[1].set_aspect(1 / np.cos(np.radians(51.0)))
    ax = axes[2]
    ax.scatter(geo_std[:, 0], geo_std[:, 1], color="lightgray", s=60, label="map")
    ax.scatter(emb_aligned[:, 0], emb_aligned[:, 1], color="tab:red", s=25, label="embedding, aligned")
    for (gx, gy), (ex, ey), name in zip(geo_std, emb_aligned, where.index, strict=True):
        ax.plot([gx, ex], [gy, ey], color="tab:red", lw=0.7, alpha=0.5)
        ax.annotate(str(name), (gx, gy), xytext=(4, 3), textcoords="offset points", fontsize=8, color="gray")
    ax.set(aspect="equal", title=f"aligned onto the map (Procrustes): disparity {stats['procrustes_disparity']:.2f}\n"
                                 f"random states align as well: p = {stats['procrustes_p']:.3f}; "
                                 f"distances r = {stats['mantel_r']:.2f} (p = {stats['mantel_p']:.3f})")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return save_png(fig, path), stats


def plot_ordered(table: pd.DataFrame, names: Mapping[Any, str], path: str | Path, title: str,
                 method: str = "pca", seed: int = 0) -> Path:
    """A cyclic category (days of the week, months) in 2-D, joined in its natural order."""
    flat = project(table, method, seed)
    flat = flat.loc[[k for k in names if k in flat.index]]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    loop = pd.concat([flat, flat.iloc[:1]])
    ax.plot(loop["x"], loop["y"], color="lightgray", zorder=1)
    ax.scatter(flat["x"], flat["y"], c=np.arange(len(flat)), cmap="twilight", s=80, zorder=2, edgecolor="black")
    for key, row in flat.iterrows():
        ax.annotate(names[key], (row["x"], row["y"]), xytext=(5, 4), textcoords="offset points", fontsize=10)
    _axis_labels(ax, flat, method)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)


def plot_stores(table: pd.DataFrame, store_types: Mapping[int, str] | None, path: str | Path,
                method: str = "pca", seed: int = 0) -> Path:
    """Every store's embedding in 2-D, coloured by its ``StoreType`` where known."""
    flat = project(table, method, seed)
    types = pd.Series([(store_types or {}).get(int(s), "?") for s in flat.index], index=flat.index)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 5.5))
    for kind in sorted(types.unique()):
        part = flat[types == kind]
        ax.scatter(part["x"], part["y"], s=12, alpha=0.7, label=f"StoreType {kind} ({len(part)})")
    _axis_labels(ax, flat, method)
    ax.set_title(f"{method.upper()} of the Store embedding ({len(flat)} stores)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)


def save_embedding_maps(reg: MLPRegressor, out_dir: str | Path, *, store_types: Mapping[int, str] | None = None,
                        method: str = "pca", seed: int = 0) -> dict[str, Path]:
    """Draw every map the network's columns allow into ``out_dir`` (``states.png``, ``stores.png``,
    ``weekdays.png``, ``months.png``) and write ``embeddings.json`` (the projection, the map
    agreement, each column's categories and width). Returns the files by name."""
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    record: dict[str, Any] = {"method": method, "seed": seed, "columns": {}}
    for column in ("State", "Store", "DayOfWeek", "Month"):
        if column not in reg.cat_cols_:
            continue
        table = embedding_table(reg, column)
        record["columns"][column] = {"categories": len(table), "width": table.shape[1]}
        if column == "State":
            if len(map_positions(table.index)) < 4:
                continue
            written["states"], record["states"] = plot_states(table, out_dir / "states.png", method, seed)
        elif column == "Store":
            written["stores"] = plot_stores(table, store_types, out_dir / "stores.png", method, seed)
        elif column == "DayOfWeek":
            written["weekdays"] = plot_ordered(table, WEEKDAYS, out_dir / "weekdays.png",
                                               f"{method.upper()} of the DayOfWeek embedding", method, seed)
        else:
            written["months"] = plot_ordered(table, MONTHS, out_dir / "months.png",
                                             f"{method.upper()} of the Month embedding", method, seed)
    record["files"] = {name: path.name for name, path in written.items()}
    write_json_atomic(out_dir / "embeddings.json", record)
    written["json"] = out_dir / "embeddings.json"
    return written


def embeddings_of_build(build_dir: str | Path, out_dir: str | Path, *, method: str = "pca",
                        seed: int = 0) -> dict[str, Path]:
    """:func:`save_embedding_maps` for the network a build trained (``B/models/mlp``), the stores
    coloured by the types in its feature table. Reads the build, writes only ``out_dir``."""
    model_dir = Path(build_dir) / "models" / "mlp"
    if not (model_dir / "weights.pt").exists():
        raise DataError("no trained MLP in this build", file=model_dir / "weights.pt",
                        fix=f"train it first: `make train-mlp BUILD_DIR={build_dir}` (or `make submit`)")
    reg = MLPRegressor.load(model_dir)
    features = Path(build_dir) / "features" / "train.parquet"
    store_types = None
    if features.exists():
        stores = pd.read_parquet(features, columns=["Store", "StoreType"]).drop_duplicates("Store")
        store_types = dict(zip(stores["Store"].astype(int), stores["StoreType"].astype(str)))
    return save_embedding_maps(reg, out_dir, store_types=store_types, method=method, seed=seed)
