from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd
import pytest

import dockyard
from dockyard.predictor import Predictor


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every example bundle, trained once per test session."""
    root = tmp_path_factory.mktemp("bundles")
    dockyard.train_example("iris", root / "iris")
    dockyard.train_example("wine", root / "wine")
    _save_categorical(root / "churn")
    _save_regressor(root / "diabetes")
    return root


@pytest.fixture(scope="session")
def iris_bundle(bundles: Path) -> Path:
    return bundles / "iris"


@pytest.fixture(scope="session")
def wine_bundle(bundles: Path) -> Path:
    return bundles / "wine"


@pytest.fixture(scope="session")
def churn_bundle(bundles: Path) -> Path:
    return bundles / "churn"


@pytest.fixture(scope="session")
def diabetes_bundle(bundles: Path) -> Path:
    return bundles / "diabetes"


@pytest.fixture(scope="session")
def iris(iris_bundle: Path) -> Predictor:
    return Predictor.from_path(iris_bundle)


@pytest.fixture(scope="session")
def churn(churn_bundle: Path) -> Predictor:
    return Predictor.from_path(churn_bundle)


@pytest.fixture(scope="session")
def diabetes(diabetes_bundle: Path) -> Predictor:
    return Predictor.from_path(diabetes_bundle)


def churn_frame(rows: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """A small synthetic customer table: numeric, integer and string categorical columns."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    region = rng.choice(["north", "south", "east", "west"], rows)
    tenure = rng.integers(1, 72, rows)
    spend = rng.normal(50, 15, rows).round(2)
    logit = 0.04 * (spend - 50) - 0.05 * (tenure - 36) + np.where(plan == "basic", 1.0, -0.5)
    churned = np.where(logit + rng.normal(0, 0.5, rows) > 0, "yes", "no")
    X = pd.DataFrame(
        {"plan": plan, "region": region, "tenure_months": tenure, "monthly_spend": spend}
    )
    return X, pd.Series(churned, name="churned")


def _save_categorical(path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = churn_frame()
    pipeline = Pipeline(
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
    dockyard.save_bundle(pipeline, X, y, name="churn", path=path, description="Synthetic churn")


def _save_regressor(path: Path) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    model = RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0).fit(
        X_train, y_train
    )
    dockyard.save_bundle(
        model, X_train, y_train, X_test=X_test, y_test=y_test, name="diabetes", path=path
    )


IRIS_SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def missing_prerequisite(reason: str) -> NoReturn:
    """Skip on a laptop without the engine, browser or tool; with CI=true, fail instead,
    so CI can never pass by testing nothing."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The processes forked during the test."""
    pids: list[int] = []
    fork = os.fork

    def counted() -> int:
        pid = fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counted)
    return pids


@pytest.fixture(scope="session")
def unsupervised_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """KMeans, GaussianMixture, IsolationForest and LocalOutlierFactor bundles (y=None)."""
    from tests.unsupervised import save_unsupervised

    return save_unsupervised(tmp_path_factory.mktemp("unsupervised"))
