"""Clusterers and novelty detectors: saved with y=None, served through the predictor, and
everything Dockyard cannot serve refused at save time in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dockyard
from dockyard.bundle.store import read_metadata
from dockyard.errors import TrainingError
from dockyard.predictor import Predictor
from tests.unsupervised import INLIER, OUTLIER, iris_features


def test_kmeans_bundle_records_clusters_and_sizes(unsupervised_bundles: dict[str, Path]) -> None:
    meta = read_metadata(unsupervised_bundles["segments"])
    assert meta.task == "clustering"
    assert meta.target.name == "cluster"
    assert meta.target.classes == [0, 1, 2]
    assert meta.target.scores == "distances"
    assert meta.evaluation.method == "training_data"
    assert meta.evaluation.rows == 150
    assert sum(meta.evaluation.counts.values()) == 150
    assert set(meta.evaluation.counts) == {"0", "1", "2"}
    assert 0.4 < meta.evaluation.metrics["silhouette"] < 1
    assert meta.headline_metric()[0] == "silhouette"
    assert meta.runtime.kind == "onnx"


def test_outlier_bundle_records_the_share_flagged(unsupervised_bundles: dict[str, Path]) -> None:
    meta = read_metadata(unsupervised_bundles["anomalies"])
    assert meta.task == "outlier_detection"
    assert meta.target.classes == ["inlier", "outlier"]
    assert meta.target.scores == "score"
    flagged = meta.evaluation.counts["outlier"]
    assert meta.evaluation.counts["inlier"] + flagged == 150
    assert meta.evaluation.metrics["outlier_share"] == pytest.approx(flagged / 150, abs=1e-6)
    assert meta.headline_metric() == ("outlier_share", meta.evaluation.metrics["outlier_share"])
    # IsolationForest converts (with the older ai.onnx.ml domain) and verifies.
    assert meta.runtime.kind == "onnx", meta.runtime.reason


def test_lof_stays_on_scikit_learn_with_the_reason(unsupervised_bundles: dict[str, Path]) -> None:
    meta = read_metadata(unsupervised_bundles["novelty"])
    assert meta.task == "outlier_detection"
    assert meta.runtime.kind == "sklearn"
    assert "score" in meta.runtime.reason


@pytest.mark.parametrize("runtime", ["sklearn", "auto"])
def test_predictor_answers_cluster_and_distances(
    unsupervised_bundles: dict[str, Path], runtime: Any
) -> None:
    predictor = Predictor.from_path(unsupervised_bundles["segments"], runtime=runtime)
    [row] = predictor.to_json(predictor.predict_columns(predictor.validator.records([INLIER])))
    assert set(row) == {"cluster", "distances"}
    assert set(row["distances"]) == {"0", "1", "2"}
    nearest = min(row["distances"], key=row["distances"].get)
    assert row["cluster"] == int(nearest)
    assert predictor.output_columns == ["cluster", "distance_0", "distance_1", "distance_2"]


@pytest.mark.parametrize("runtime", ["sklearn", "auto"])
def test_predictor_answers_membership_probabilities(
    unsupervised_bundles: dict[str, Path], runtime: Any
) -> None:
    predictor = Predictor.from_path(unsupervised_bundles["mixture"], runtime=runtime)
    assert predictor.runtime == ("onnx" if runtime == "auto" else "sklearn")
    [row] = predictor.to_json(predictor.predict_columns(predictor.validator.records([INLIER])))
    assert set(row) == {"cluster", "probabilities"}
    assert sum(row["probabilities"].values()) == pytest.approx(1.0)
    assert row["probabilities"][str(row["cluster"])] > 0.9


@pytest.mark.parametrize("name", ["anomalies", "novelty"])
@pytest.mark.parametrize("runtime", ["sklearn", "auto"])
def test_predictor_answers_inlier_or_outlier_and_score(
    unsupervised_bundles: dict[str, Path], name: str, runtime: Any
) -> None:
    predictor = Predictor.from_path(unsupervised_bundles[name], runtime=runtime)
    rows = predictor.to_json(
        predictor.predict_columns(predictor.validator.records([INLIER, OUTLIER]))
    )
    assert [r["label"] for r in rows] == ["inlier", "outlier"]
    assert rows[0]["score"] > 0 > rows[1]["score"]
    assert predictor.output_columns == ["label", "score"]


def _other_families() -> list[Any]:
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.covariance import EllipticEnvelope
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import OneClassSVM

    return [
        pytest.param(MiniBatchKMeans(n_clusters=2, n_init=3, random_state=0), id="MiniBatchKMeans"),
        pytest.param(OneClassSVM(nu=0.1), id="OneClassSVM"),
        pytest.param(EllipticEnvelope(random_state=0), id="EllipticEnvelope"),
        pytest.param(
            make_pipeline(StandardScaler(), KMeans(n_clusters=2, n_init=3, random_state=0)),
            id="Pipeline-KMeans",
        ),
    ]


@pytest.mark.parametrize("model", _other_families())
def test_other_families_save_and_predict(tmp_path: Path, model: Any) -> None:
    X = iris_features()
    model.fit(X.to_numpy())
    meta = dockyard.save_bundle(model, X, None, name="m", path=tmp_path / "m")
    predictor = Predictor.from_path(tmp_path / "m")
    [row] = predictor.to_json(predictor.predict_columns(predictor.validator.records([INLIER])))
    expected = model.predict(np.array([list(INLIER.values())]))[0]
    if meta.task == "clustering":
        assert row["cluster"] == expected
        assert len(row["distances"]) == 2
    else:
        assert row["label"] == ("outlier" if expected == -1 else "inlier")
        assert row["score"] == pytest.approx(
            model.decision_function(np.array([list(INLIER.values())]))[0], rel=1e-4
        )


def _unservable() -> list[Any]:
    from sklearn.cluster import DBSCAN, Birch
    from sklearn.decomposition import PCA
    from sklearn.neighbors import LocalOutlierFactor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return [
        pytest.param(DBSCAN(), "DBSCAN: it has no predict()", id="DBSCAN"),
        pytest.param(LocalOutlierFactor(), "novelty=True", id="LocalOutlierFactor"),
        pytest.param(Birch(n_clusters=3), "skops cannot save its CF-tree", id="Birch"),
        pytest.param(StandardScaler(), "it is a transformer", id="StandardScaler"),
        pytest.param(
            make_pipeline(StandardScaler(), PCA(2)),
            "Pipeline: it is a transformer (PCA comes last)",
            id="Pipeline-PCA",
        ),
    ]


@pytest.mark.parametrize(("model", "why"), _unservable())
def test_what_cannot_be_served_is_refused_in_one_line(tmp_path: Path, model: Any, why: str) -> None:
    X = iris_features()
    model.fit(X.to_numpy())
    with pytest.raises(TrainingError) as caught:
        dockyard.save_bundle(model, X, None, name="m", path=tmp_path / "m")
    message = str(caught.value)
    assert "\n" not in message
    assert why in message
    assert "Dockyard serves classifiers and regressors (with y)" in message
    assert "KMeans" in message
    assert "IsolationForest" in message
    assert not (tmp_path / "m").exists()


def test_a_target_for_a_clusterer_is_refused(tmp_path: Path) -> None:
    from sklearn.cluster import KMeans

    X = iris_features()
    model = KMeans(n_clusters=2, n_init=2, random_state=0).fit(X)
    with pytest.raises(TrainingError, match="it has no target; pass y=None"):
        dockyard.save_bundle(model, X, np.zeros(len(X)), name="m", path=tmp_path / "m")


def test_a_classifier_without_its_target_says_so(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    X = iris_features()
    model = LogisticRegression(max_iter=200).fit(X, np.arange(len(X)) % 2)
    with pytest.raises(TrainingError, match="needs its target: pass y"):
        dockyard.save_bundle(model, X, None, name="m", path=tmp_path / "m")


def test_holdout_rows_are_summarised_when_given(tmp_path: Path) -> None:
    from sklearn.ensemble import IsolationForest

    X = iris_features()
    model = IsolationForest(n_estimators=10, random_state=0).fit(X.iloc[:100])
    meta = dockyard.save_bundle(
        model, X.iloc[:100], None, X_test=X.iloc[100:], name="m", path=tmp_path / "m"
    )
    assert meta.evaluation.method == "holdout"
    assert meta.evaluation.rows == 50
    assert sum(meta.evaluation.counts.values()) == 50


def test_report_shows_cluster_sizes_and_scores(unsupervised_bundles: dict[str, Path]) -> None:
    clusters = json.loads((unsupervised_bundles["segments"] / "report" / "report.json").read_text())
    assert clusters["task"] == "clustering"
    assert clusters["evaluation"] == {"method": "training_data", "rows": 150}
    assert [f["file"] for f in clusters["figures"]] == ["cluster_sizes.png", "feature_pairs.png"]
    assert "silhouette" in clusters["metrics"]
    html = (unsupervised_bundles["segments"] / "report" / "index.html").read_text()
    assert "Cluster sizes" in html
    assert "evaluated on 150 training rows" in html
    outliers = json.loads(
        (unsupervised_bundles["anomalies"] / "report" / "report.json").read_text()
    )
    assert [f["file"] for f in outliers["figures"]] == ["outlier_scores.png", "feature_pairs.png"]
    assert (
        "Flagged as outliers"
        in (unsupervised_bundles["anomalies"] / "report" / "index.html").read_text()
    )


def test_a_clusterer_saved_as_a_classifier_says_what_to_do(tmp_path: Path) -> None:
    # The hints used to go in a circle: "pass task=...", then "has no classes_".
    from sklearn.cluster import KMeans

    X = iris_features()
    model = KMeans(n_clusters=2, n_init=2, random_state=0).fit(X)
    with pytest.raises(TrainingError, match="is a clusterer, not a classification model"):
        dockyard.save_bundle(
            model, X, np.zeros(len(X)), task="classification", name="m", path=tmp_path / "m"
        )


def test_an_untagged_predictor_is_asked_for_its_task(tmp_path: Path) -> None:
    from sklearn.base import BaseEstimator

    class Custom(BaseEstimator):  # type: ignore[misc]
        def fit(self, X: Any, y: Any = None) -> Custom:
            self.fitted_ = True
            return self

        def predict(self, X: Any) -> np.ndarray:
            return np.zeros(len(X))

    X = iris_features()
    with pytest.raises(TrainingError, match="does not say what it predicts; pass task="):
        dockyard.save_bundle(Custom().fit(X), X, None, name="m", path=tmp_path / "m")


def test_an_older_bundle_without_the_new_fields_still_parses(
    unsupervised_bundles: dict[str, Path],
) -> None:
    from dockyard.bundle.metadata import parse_metadata

    doc = json.loads((unsupervised_bundles["segments"] / "bundle.json").read_text())
    doc["task"] = "classification"
    doc["target"] = {"name": "species", "classes": ["a", "b"]}
    doc["evaluation"] = {"method": "holdout", "rows": 10, "metrics": {"accuracy": 0.9}}
    meta = parse_metadata(doc)
    assert meta.target.scores is None
    assert meta.evaluation.counts == {}
    assert meta.headline_metric() == ("accuracy", 0.9)


@pytest.mark.parametrize("name", ["segments", "mixture", "anomalies"])
def test_onnx_answers_as_scikit_learn_does(
    unsupervised_bundles: dict[str, Path], name: str
) -> None:
    records = iris_features().sample(40, random_state=1).to_dict(orient="records")
    onnx = Predictor.from_path(unsupervised_bundles[name], runtime="onnx")
    sklearn = Predictor.from_path(unsupervised_bundles[name], runtime="sklearn")
    fast, slow = (p.predict_columns(p.validator.records(records)) for p in (onnx, sklearn))
    assert fast.outputs == slow.outputs
    assert fast.probabilities is not None
    assert slow.probabilities is not None
    np.testing.assert_allclose(fast.probabilities, slow.probabilities, rtol=1e-4, atol=1e-4)


def test_supervised_bundles_do_not_carry_the_new_fields(iris_bundle: Path) -> None:
    # Older Dockyard versions forbid unknown keys: classifiers and regressors stay readable.
    doc = json.loads((iris_bundle / "bundle.json").read_text())
    assert "scores" not in doc["target"]
    assert "counts" not in doc["evaluation"]
