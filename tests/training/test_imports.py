from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import joblib
import pytest
from sklearn.linear_model import LogisticRegression

from dockyard.bundle import load_bundle
from dockyard.errors import UntrustedTypes, UsageError
from dockyard.training.imports import import_model, load_pickled_model
from tests.conftest import churn_frame


class Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, ("raise SystemExit('pickle code ran')",))


@pytest.fixture
def pickled(tmp_path: Path) -> tuple[Path, Path]:
    X, y = churn_frame()
    numeric = X[["tenure_months", "monthly_spend"]]
    model = LogisticRegression(max_iter=500).fit(numeric, y)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    data = tmp_path / "train.csv"
    numeric.assign(churned=y).to_csv(data, index=False)
    return path, data


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_imports_a_verified_pickle_as_skops(pickled: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = pickled
    meta = import_model(
        model,
        sha256=digest(model),
        data=data,
        target="churned",
        name="churn-lr",
        out=tmp_path / "b",
    )
    assert meta.model.format == "skops"
    assert meta.feature_names == ["tenure_months", "monthly_spend"]
    assert load_bundle(tmp_path / "b").metadata.evaluation.method == "cross_validation"


def test_wrong_sha256_never_unpickles(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(UntrustedTypes, match="refusing to unpickle"):
        load_pickled_model(evil, sha256="0" * 64)
    with pytest.raises(UsageError, match="64 hex digits"):
        load_pickled_model(evil, sha256="abc")


def test_missing_target_column(pickled: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = pickled
    with pytest.raises(UsageError, match="no column 'label'"):
        import_model(
            model, sha256=digest(model), data=data, target="label", name="x", out=tmp_path / "x"
        )
