"""Built-in example models, trained from datasets that ship inside scikit-learn.

Fixed seeds and single-threaded estimators: the same metrics on every run and machine.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from dockyard.bundle.metadata import BundleMetadata
from dockyard.errors import UsageError
from dockyard.training.save import save_bundle

SEED = 42


@dataclass(frozen=True, slots=True)
class Example:
    name: str
    description: str
    build: Callable[[], Any]
    load: Callable[[], Any]


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def _frame(bunch: Any) -> tuple[pd.DataFrame, pd.Series]:
    X = pd.DataFrame(
        bunch.data, columns=[_snake(n.replace(" (cm)", "")) for n in bunch.feature_names]
    )
    y = pd.Series([str(bunch.target_names[t]) for t in bunch.target], name="species")
    return X, y


def _iris_model() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED))


def _wine_model() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, max_depth=8, random_state=SEED, n_jobs=1)


def _load_iris() -> Any:
    from sklearn.datasets import load_iris

    return load_iris()


def _load_wine() -> Any:
    from sklearn.datasets import load_wine

    return load_wine()


EXAMPLES: dict[str, Example] = {
    "iris": Example(
        "iris",
        "Iris species from sepal and petal measurements (cm); logistic regression.",
        _iris_model,
        _load_iris,
    ),
    "wine": Example(
        "wine",
        "Wine cultivar from 13 chemical measurements; random forest.",
        _wine_model,
        _load_wine,
    ),
}


def train_example(
    name: str, out: str | os.PathLike[str], *, version: str = "1.0.0", overwrite: bool = False
) -> BundleMetadata:
    """Train the built-in example ``name`` and save it as a bundle at ``out``."""
    from sklearn.model_selection import train_test_split

    example = EXAMPLES.get(name)
    if example is None:
        raise UsageError(f"Unknown example '{name}'. Choose one of: {', '.join(sorted(EXAMPLES))}.")
    X, y = _frame(example.load())
    if name == "wine":
        y = y.rename("cultivar")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=SEED, stratify=y
    )
    model = example.build()
    # Fitted on a plain array: serving then needs no DataFrame per request.
    model.fit(X_train.to_numpy(), y_train.to_numpy())
    return save_bundle(
        model,
        X_train,
        y_train,
        X_test=X_test,
        y_test=y_test,
        name=name,
        version=version,
        description=example.description,
        path=out,
        overwrite=overwrite,
    )
