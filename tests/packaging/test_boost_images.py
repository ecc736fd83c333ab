"""Images of XGBoost and LightGBM pipelines: built offline, CPU-only, with the OpenMP
runtime LightGBM's wheel links, and serving like the bundle does here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import dockyard
from dockyard.bundle.environment import installed_version
from tests.conftest import churn_frame, require
from tests.packaging import served

lightgbm = require("lightgbm")
xgboost = require("xgboost")

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# What an XGBoost or LightGBM image may add over the same pipeline ending in scikit-learn.
MAX_EXTRA_BYTES = 60 * 10**6


def _pipeline_bundle(path: Path, final: Any) -> Path:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, churned = churn_frame(rows=120)
    y = (churned == "yes").astype(int).rename("churned")
    prepare = ColumnTransformer(
        [
            ("numbers", "passthrough", ["tenure_months", "monthly_spend"]),
            ("categories", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
        ]
    )
    model = Pipeline([("prepare", prepare), ("model", final)]).fit(X, y)
    dockyard.save_bundle(model, X, y, name=path.name, path=path)
    return path


@pytest.fixture(scope="module")
def sklearn_image(
    docker_client: Any, base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    from dockyard.packaging.images import build_image

    root = tmp_path_factory.mktemp("sk")
    bundle = _pipeline_bundle(root / "churn-sk", GradientBoostingClassifier(n_estimators=4))
    return build_image(
        [bundle], console=served.console(), tag="dockyard-test/boost-sk:e2e",
        base_image=base_image, offline=True, client=docker_client, sbom_dir=root,
    )  # fmt: skip


def _listing(client: Any, tag: str, module: str) -> list[str]:
    """The distributions installed in ``tag``, after importing ``module`` there (LightGBM
    loads libgomp.so.1 on import)."""
    return served.python_in(
        client,
        tag,
        f"import importlib.metadata as md, {module}; "
        "print('\\n'.join(sorted(d.metadata['Name'].lower() for d in md.distributions())))",
    ).split()


@pytest.fixture(scope="module")
def xgb_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    final = xgboost.XGBClassifier(n_estimators=4, max_depth=2)
    return _pipeline_bundle(tmp_path_factory.mktemp("xgb") / "churn-xgb", final)


def test_an_xgboost_image_serves_offline_without_cuda(
    docker_client: Any,
    base_image: str,
    sklearn_image: Any,
    xgb_bundle: Path,
    containers: list[Any],
    tmp_path: Path,
) -> None:
    from dockyard.packaging import engine
    from dockyard.packaging.images import build_image

    bundle = xgb_bundle
    tag = "dockyard-test/boost-xgb:e2e"
    build_image(
        [bundle], console=served.console(), tag=tag, base_image=base_image, offline=True,
        client=docker_client, sbom_dir=tmp_path,
    )  # fmt: skip
    listing = _listing(docker_client, tag, "xgboost")
    assert "xgboost-cpu" in listing
    assert not [name for name in listing if name.startswith("nvidia")]
    version = served.python_in(docker_client, tag, "import xgboost; print(xgboost.__version__)")
    assert version.strip() == installed_version("xgboost-cpu")
    served.assert_serves_like_local(docker_client, tag, bundle, containers)
    size = engine.image_size(docker_client, tag)
    assert size is not None
    assert size - sklearn_image.size <= MAX_EXTRA_BYTES, (
        f"xgboost adds {(size - sklearn_image.size) / 1e6:.1f} MB"
    )


@pytest.fixture(scope="module")
def lgbm_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    final = lightgbm.LGBMClassifier(n_estimators=4, num_leaves=4, min_child_samples=5, verbose=-1)
    return _pipeline_bundle(tmp_path_factory.mktemp("lgbm") / "churn-lgbm", final)


def test_a_lightgbm_image_loads_the_openmp_runtime_of_its_base(
    docker_client: Any, build_base: str, lgbm_bundle: Path, containers: list[Any], tmp_path: Path
) -> None:
    from dockyard.packaging.images import build_image

    # An offline build cannot apt-get: the base must have libgomp.so.1 (the build image,
    # with gcc, does); the build loads lib_lightgbm.so to prove it.
    tag = "dockyard-test/boost-lgbm:e2e"
    build_image(
        [lgbm_bundle], console=served.console(), tag=tag, base_image=build_base, offline=True,
        client=docker_client, sbom_dir=tmp_path,
    )  # fmt: skip
    assert "lightgbm" in _listing(docker_client, tag, "lightgbm")
    served.assert_serves_like_local(docker_client, tag, lgbm_bundle, containers)


def test_an_offline_lightgbm_build_names_what_the_base_lacks(
    docker_client: Any, base_image: str, lgbm_bundle: Path, tmp_path: Path
) -> None:
    from dockyard.errors import DockerError
    from dockyard.packaging.images import build_image

    with pytest.raises(DockerError, match="cannot install the Debian packages libgomp1"):
        build_image(
            [lgbm_bundle], console=served.console(), tag="dockyard-test/boost-lgbm:no-omp",
            base_image=base_image, offline=True, client=docker_client, sbom_dir=tmp_path,
        )  # fmt: skip


def test_a_slim_image_serves_both_without_either_library(
    docker_client: Any,
    base_image: str,
    xgb_bundle: Path,
    lgbm_bundle: Path,
    containers: list[Any],
    tmp_path: Path,
) -> None:
    from dockyard.packaging import engine
    from dockyard.packaging.images import build_image
    from dockyard.runtime.export import PROBABILITY_TOLERANCE

    tag = "dockyard-test/boost:e2e-slim"
    build_image(
        [xgb_bundle, lgbm_bundle], console=served.console(), tag=tag, base_image=base_image,
        offline=True, slim=True, numpy_wheel=True, client=docker_client, sbom_dir=tmp_path,
    )  # fmt: skip
    found = served.python_in(
        docker_client,
        tag,
        "import importlib.util as u; "
        "print(*(u.find_spec(m) is not None for m in ('xgboost', 'lightgbm', 'sklearn')))",
    )
    assert found.split() == ["False", "False", "False"]
    container, url = engine.run(docker_client, tag, port=None)
    containers.append(container)
    engine.wait_ready(url, timeout=60, container=container)
    for bundle in (xgb_bundle, lgbm_bundle):
        rows = served.records(bundle)
        # ONNX Runtime there against the library here: labels exact, probabilities close.
        served.assert_same(
            served.predict(url, bundle.name, rows),
            served.local(bundle, rows),
            tolerance=PROBABILITY_TOLERANCE,
        )


def _bare_bundles(root: Path) -> tuple[Path, Path]:
    """An XGBClassifier and an LGBMRegressor fitted alone (no Pipeline) on numeric columns."""
    import numpy as np
    import pandas as pd

    X, churned = churn_frame(rows=120)
    X = X[["tenure_months", "monthly_spend"]]
    classifier = xgboost.XGBClassifier(n_estimators=4, max_depth=2)
    classifier.fit(X, (churned == "yes").astype(int))
    noise = np.random.default_rng(0).normal(0, 3, len(X))
    lifetime = pd.Series(0.5 * X["tenure_months"] + X["monthly_spend"] + noise, name="lifetime")
    regressor = lightgbm.LGBMRegressor(
        n_estimators=8, num_leaves=4, min_child_samples=5, verbose=-1
    ).fit(X, lifetime)
    churn = (churned == "yes").astype(int)
    xgb = dockyard.save_bundle(classifier, X, churn, name="bare-xgb", path=root / "bare-xgb")
    lgbm = dockyard.save_bundle(regressor, X, lifetime, name="bare-lgbm", path=root / "bare-lgbm")
    assert xgb.model.estimator == "xgboost.sklearn.XGBClassifier"
    assert lgbm.model.estimator == "lightgbm.sklearn.LGBMRegressor"
    return root / "bare-xgb", root / "bare-lgbm"


def test_an_image_of_each_bare_estimator_serves_like_local_predict(
    docker_client: Any, build_base: str, containers: list[Any], tmp_path: Path
) -> None:
    from dockyard.packaging import engine
    from dockyard.packaging.images import build_image

    # One image for both (one build, not two); the build base has LightGBM's libgomp.so.1.
    xgb, lgbm = _bare_bundles(tmp_path)
    tag = "dockyard-test/boost-bare:e2e"
    build_image(
        [xgb, lgbm], console=served.console(), tag=tag, base_image=build_base, offline=True,
        client=docker_client, sbom_dir=tmp_path,
    )  # fmt: skip
    listing = _listing(docker_client, tag, "lightgbm, xgboost")
    assert {"xgboost-cpu", "lightgbm"} <= set(listing)
    assert not [name for name in listing if name.startswith("nvidia")]
    container, url = engine.run(docker_client, tag, port=None)
    containers.append(container)
    engine.wait_ready(url, timeout=60, container=container)
    rows = served.records(xgb)
    served.assert_same(served.predict(url, xgb.name, rows), served.local(xgb, rows))
    rows = served.records(lgbm)
    there = served.predict(url, lgbm.name, rows)["predictions"]
    here = served.local(lgbm, rows)["predictions"]
    assert len(there) == len(rows)
    assert [p["value"] for p in there] == pytest.approx([p["value"] for p in here], rel=1e-6)
