"""Tree ensembles scored once per cell give every row the answer it gets alone, bit for
bit, and other graphs are left alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import dockyard
from dockyard.runtime import cells as cells_module
from dockyard.runtime.cells import MIN_ROWS, TreeCells
from dockyard.runtime.onnx import OnnxModel

FEATURES = ["a", "b", "c"]


def rounded(rows: int, seed: int = 0) -> np.ndarray:
    """Whole-number rows, as counts or rounded measurements are: many share a cell."""
    return np.round(np.random.default_rng(seed).normal(5, 1.5, (rows, len(FEATURES))))


def saved(model: object, path: Path, regression: bool = False) -> Path:
    X = pd.DataFrame(rounded(300), columns=FEATURES)
    score = X["a"] + X["b"] * X["c"] / 5
    y = score if regression else pd.Series(np.where(score > 10, "high", "low"), name="kind")
    dockyard.save_bundle(model.fit(X.to_numpy(), y.to_numpy()), X, y, name="trees", path=path)  # type: ignore[attr-defined]
    onnx = path / "model.onnx"
    assert onnx.exists()
    return onnx


@pytest.fixture(scope="module")
def forest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = RandomForestClassifier(n_estimators=10, random_state=0)
    return saved(model, tmp_path_factory.mktemp("forest") / "bundle")


@pytest.fixture(scope="module")
def boosted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = GradientBoostingRegressor(n_estimators=20, random_state=0)
    return saved(model, tmp_path_factory.mktemp("boosted") / "bundle", regression=True)


def test_the_thresholds_are_those_the_onnx_package_reads(forest: Path, boosted: Path) -> None:
    import onnx

    for path in (forest, boosted):
        read = TreeCells.read(path, "X")
        assert read is not None
        [node] = onnx.load(path).graph.node
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        modes = np.asarray(attributes["nodes_modes"])
        features = np.asarray(attributes["nodes_featureids"])
        values = np.asarray(attributes["nodes_values"], dtype=np.float32)
        branch = modes != b"LEAF"
        assert read.features == sorted(set(features[branch].tolist()))
        for feature, thresholds in zip(read.features, read.thresholds, strict=True):
            expected = np.unique(values[branch & (features == feature)])
            assert thresholds.tolist() == expected.tolist()


@pytest.mark.parametrize("which", ["forest", "boosted"])
def test_every_row_gets_its_own_answer_from_fewer_rows_scored(
    which: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(which)
    X = rounded(4000, seed=1)
    alone = OnnxModel(path)
    alone._cells_read = True  # never looks for cells
    expected = [alone.run_matrix(X[i : i + 1]) for i in range(0, 4000, 97)]
    model = OnnxModel(path)
    sizes: list[int] = []
    run = model._run

    def counting(outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        sizes.append(len(feeds["X"]))
        return run(outputs, feeds)

    model._run = counting
    labels, probabilities = model.run_matrix(X)
    assert sizes[0] < len(X) / 2  # one row per cell
    for i, (label, probability) in zip(range(0, 4000, 97), expected, strict=True):
        assert labels[i] == label[0]
        if probabilities is None:
            assert probability is None
        else:
            assert probability is not None
            assert probabilities[i].tobytes() == probability[0].tobytes()
    # And the same as the whole batch scored without cells, bit for bit.
    batch, batch_probabilities = alone.run_matrix(X)
    assert list(labels) == list(batch)
    if probabilities is not None:
        assert batch_probabilities is not None
        assert probabilities.tobytes() == batch_probabilities.tobytes()


def test_other_graphs_small_batches_and_missing_values_are_scored_as_they_are(
    tmp_path: Path, forest: Path
) -> None:
    pipeline = make_pipeline(StandardScaler(), LogisticRegression())
    assert TreeCells.read(saved(pipeline, tmp_path / "pipeline"), "X") is None
    read = TreeCells.read(forest, "X")
    assert read is not None
    assert read.pick(rounded(MIN_ROWS - 1)) is None
    with pytest.MonkeyPatch.context() as patch:  # an older protobuf
        patch.delattr(cells_module.message_factory, "GetMessageClass")
        assert TreeCells.read(forest, "X") is None
    X = rounded(2 * MIN_ROWS).astype(np.float32)
    assert read.pick(X) is not None
    X[5, 0] = np.nan
    assert read.pick(X) is None


def test_rows_that_never_repeat_stop_the_search_for_a_while(forest: Path) -> None:
    read = TreeCells.read(forest, "X")
    assert read is not None
    assert read.pick(rounded(2000).astype(np.float32)) is not None
    assert read.features == [0, 1, 2]
    # Each row in a cell of its own: every threshold, and every gap between two.
    places = [
        np.concatenate([t, (t[:-1] + t[1:]) / 2, [t[0] - 1, t[-1] + 1]]) for t in read.thresholds
    ]
    grid = np.stack(np.meshgrid(*places), axis=-1).reshape(-1, 3).astype(np.float32)
    assert len(grid) > 2000
    apart = np.random.default_rng(2).permutation(grid)[:2000]
    for _ in range(cells_module._MISSES):
        assert read.pick(apart) is None
    assert read.paused == cells_module._PAUSE
    assert read.pick(rounded(2000).astype(np.float32)) is None  # not looked at
