"""The same model fitted twice saves to byte-identical model files."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import dockyard
from dockyard.bundle import skopsfile
from dockyard.training.reproducible import compare
from tests.conftest import churn_frame


def _fit() -> Any:
    X, y = churn_frame()
    return Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("numbers", StandardScaler(), ["tenure_months", "monthly_spend"]),
                        ("categories", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
                    ]
                ),
            ),
            ("classify", LogisticRegression(max_iter=500)),
        ]
    ).fit(X, y)


def test_two_fits_save_byte_identical_model_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764547200")  # 2025-12-01T00:00:00Z
    X, y = churn_frame()
    first, second = _fit(), _fit()  # both alive: their arrays have different object ids
    dockyard.save_bundle(first, X, y, name="churn", path=tmp_path / "a")
    dockyard.save_bundle(second, X, y, name="churn", path=tmp_path / "b")
    for name in ("model.skops", "model.onnx"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert compare(tmp_path / "a", tmp_path / "b") == []
    with zipfile.ZipFile(tmp_path / "a" / "model.skops") as archive:
        entries = archive.infolist()
    assert {e.date_time for e in entries} == {(2025, 12, 1, 0, 0, 0)}
    assert [e.filename for e in entries][-1] == "schema.json"
    assert all(e.filename.split(".")[0].isdigit() for e in entries[:-1])
    # The rewritten file still passes the trusted-type check and predicts as the model does.
    loaded = dockyard.load_bundle(tmp_path / "a").model
    assert (loaded.predict(X) == first.predict(X)).all()


def test_shared_objects_stay_shared(tmp_path: Path) -> None:
    import numpy as np
    import skops.io as sio

    shared = np.arange(4.0)
    skopsfile.dump({"a": shared, "b": shared, "c": np.arange(4.0)}, tmp_path / "m.skops")
    loaded = sio.load(tmp_path / "m.skops", trusted=[])
    assert loaded["a"] is loaded["b"]
    assert loaded["c"] is not loaded["a"]
    assert (loaded["c"] == shared).all()


def test_zip_timestamp_defaults_to_1980_and_refuses_nonsense(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert skopsfile.zip_timestamp() == (1980, 1, 1, 0, 0, 0)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert skopsfile.zip_timestamp() == (1980, 1, 1, 0, 0, 0)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(dockyard.DockyardError, match="SOURCE_DATE_EPOCH='yesterday'"):
        skopsfile.zip_timestamp()
