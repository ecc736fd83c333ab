from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
import pytest

import dockyard
from dockyard.predictor import Predictor

# Starlette's TestClient sends "Host: testserver"; a server bound to 127.0.0.1 answers only
# to loopback names by default. Tests of that default pass allowed_hosts explicitly.
os.environ.setdefault("DOCKYARD_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1,[::1]")


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every example bundle, trained once per test session."""
    root = tmp_path_factory.mktemp("bundles")
    dockyard.train_example("iris", root / "iris")
    dockyard.train_example("wine", root / "wine")
    _save_categorical(root / "churn")
    _save_regressor(root / "diabetes")
    _save_reviews(root / "reviews")
    _save_sentiment(root / "sentiment")
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
def reviews_bundle(bundles: Path) -> Path:
    return bundles / "reviews"


@pytest.fixture(scope="session")
def sentiment_bundle(bundles: Path) -> Path:
    return bundles / "sentiment"


@pytest.fixture(scope="session")
def reviews(reviews_bundle: Path) -> Predictor:
    return Predictor.from_path(reviews_bundle)


@pytest.fixture(scope="session")
def sentiment(sentiment_bundle: Path) -> Predictor:
    return Predictor.from_path(sentiment_bundle)


@pytest.fixture(scope="session")
def iris(iris_bundle: Path) -> Predictor:
    return Predictor.from_path(iris_bundle)


@pytest.fixture(scope="session")
def churn(churn_bundle: Path) -> Predictor:
    return Predictor.from_path(churn_bundle)


@pytest.fixture(scope="session")
def diabetes(diabetes_bundle: Path) -> Predictor:
    return Predictor.from_path(diabetes_bundle)


def threads_scoring(monkeypatch: pytest.MonkeyPatch, predictor: Predictor) -> set[str]:
    """The names of the threads that call ``predictor.predict_matrix`` from now on (the set
    fills as they do)."""
    import threading

    names: set[str] = set()
    predict_matrix = predictor.predict_matrix

    def recording(X: Any) -> Any:
        names.add(threading.current_thread().name)
        return predict_matrix(X)

    monkeypatch.setattr(predictor, "predict_matrix", recording)
    return names


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
                        # Strict: an unseen plan or region is refused, with the list.
                        ("categories", OneHotEncoder(handle_unknown="error"), ["plan", "region"]),
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


_GOOD = ["great", "lovely", "excellent", "friendly", "quick", "wonderful"]
_BAD = ["awful", "slow", "rude", "broken", "late", "terrible"]
_THINGS = ["service", "delivery", "staff", "product", "support"]


def review_texts(rows: int = 60, seed: int = 0) -> tuple[list[str], list[str]]:
    """Short made-up reviews, every one different, and whether each is good or bad."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(rows):
        good = i % 2 == 0
        words = rng.choice(_GOOD if good else _BAD, 2, replace=False)
        texts.append(f"{words[0]} {rng.choice(_THINGS)}, {words[1]} overall {i}")
        labels.append("good" if good else "bad")
    return texts, labels


def review_frame(rows: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    """Free text, a three-value channel and an age with gaps."""
    texts, labels = review_texts(rows)
    age = np.arange(rows, dtype=float) % 50 + 18
    age[::7] = np.nan
    channel = np.array(["web", "store", "phone"])[np.arange(rows) % 3]
    X = pd.DataFrame({"review": texts, "channel": channel, "age": age})
    return X, pd.Series(labels, name="verdict")


def _save_reviews(path: Path) -> None:
    """Text through TF-IDF in a ColumnTransformer, a lenient encoder, a nullable number."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, y = review_frame()
    prepare = ColumnTransformer(
        [
            ("words", TfidfVectorizer(), "review"),
            ("channel", OneHotEncoder(handle_unknown="ignore"), ["channel"]),
            ("age", make_pipeline(SimpleImputer(), "passthrough"), ["age"]),
        ]
    )
    model = Pipeline([("prepare", prepare), ("classify", LogisticRegression())]).fit(X, y)
    dockyard.save_bundle(model, X, y, name="reviews", path=path)


def _save_sentiment(path: Path) -> None:
    """The common idiom: a one-dimensional list of texts into make_pipeline."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    texts, labels = review_texts(40, seed=1)
    model = make_pipeline(TfidfVectorizer(), LinearSVC()).fit(texts, labels)
    dockyard.save_bundle(model, texts, labels, name="sentiment", path=path)


@pytest.fixture(scope="session")
def boolean_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier whose target is a boolean: is this Iris a virginica?"""
    path = tmp_path_factory.mktemp("boolean") / "virginica"
    _save_iris_target(path, lambda species: species == 2, "is_virginica")
    return path


@pytest.fixture(scope="session")
def integer_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier whose target is an integer code (1, 2, 3) for the Iris species."""
    path = tmp_path_factory.mktemp("integer") / "species-code"
    _save_iris_target(path, lambda species: species + 1, "species_code")
    return path


def _save_iris_target(path: Path, target: Callable[[np.ndarray], np.ndarray], name: str) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, species = load_iris(return_X_y=True, as_frame=True)
    X.columns = [c.removesuffix(" (cm)").replace(" ", "_") for c in X.columns]
    y = pd.Series(target(species.to_numpy()), name=name)
    model = LogisticRegression(max_iter=1000).fit(X.to_numpy(), y.to_numpy())
    dockyard.save_bundle(model, X, y, name=path.name, path=path)


IRIS_SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def missing_prerequisite(reason: str) -> NoReturn:
    """Skip on a laptop without the engine, browser or tool; with CI=true, fail instead,
    so CI can never pass by testing nothing."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def require(module: str) -> Any:
    """``module`` imported, or :func:`missing_prerequisite` (a failure with CI=true, unlike
    ``pytest.importorskip``)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing_prerequisite(f"{module} is not installed ({exc}); pip install -e '.[dev]'")


POSTGRES_URL = "postgresql://dockyard:dockyard@127.0.0.1:55432/dockyard"
"""The test PostgreSQL that ``scripts/ci-system postgres`` starts; DOCKYARD_TEST_POSTGRES_URL
names another."""


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The test PostgreSQL, as a URL whose tables go to a schema of their own (dropped after
    the test), so that tests running at the same time never meet."""
    import psycopg

    base = os.environ.get("DOCKYARD_TEST_POSTGRES_URL", POSTGRES_URL)
    try:
        admin = psycopg.connect(base, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        missing_prerequisite(
            f"no PostgreSQL at {base.split('@')[-1]} (start it: scripts/ci-system postgres): {exc}"
        )
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


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


@pytest.fixture
def umask() -> Iterator[Callable[[int], int]]:
    """Sets the process's umask for the test; the one before comes back after it."""
    before = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(before)


@pytest.fixture(scope="session")
def unsupervised_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """KMeans, GaussianMixture, IsolationForest and LocalOutlierFactor bundles (y=None)."""
    from tests.unsupervised import save_unsupervised

    return save_unsupervised(tmp_path_factory.mktemp("unsupervised"))
