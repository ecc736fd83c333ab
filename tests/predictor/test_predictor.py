from __future__ import annotations

import numpy as np
import pytest

from dockyard.errors import InvalidInput
from dockyard.predictor import Predictor
from tests.conftest import IRIS_SETOSA


def test_iris_labels_and_probabilities(iris: Predictor) -> None:
    prediction = iris.predict_columns(
        iris.validator.records(
            [IRIS_SETOSA, {**IRIS_SETOSA, "petal_length": 6.0, "petal_width": 2.2}]
        )
    )
    assert prediction.outputs == ["setosa", "virginica"]
    assert prediction.probabilities is not None
    assert prediction.probabilities.shape == (2, 3)
    np.testing.assert_allclose(prediction.probabilities.sum(axis=1), 1.0)
    body = iris.response(prediction)
    assert body["model"] == "iris"
    assert set(body["predictions"][0]["probabilities"]) == {"setosa", "versicolor", "virginica"}


def test_matches_the_model_directly(iris: Predictor) -> None:
    rows = np.array([[5.1, 3.5, 1.4, 0.2], [6.3, 2.8, 5.1, 1.5], [5.9, 3.0, 4.2, 1.5]])
    records = [dict(zip(iris.feature_names, row.tolist(), strict=True)) for row in rows]
    prediction = iris.predict_columns(iris.validator.records(records))
    # Whichever runtime serves (ONNX by default), the answers are the estimator's.
    model = Predictor.from_path(iris.bundle.path, runtime="sklearn").model
    assert prediction.outputs == model.predict(rows).tolist()
    np.testing.assert_allclose(prediction.probabilities, model.predict_proba(rows), rtol=1e-4)


def test_categorical_pipeline(churn: Predictor) -> None:
    record = {"plan": "basic", "region": "north", "tenure_months": 3, "monthly_spend": 80.0}
    prediction = churn.predict_columns(churn.validator.records([record]))
    assert prediction.outputs[0] in ("yes", "no")
    with pytest.raises(InvalidInput, match="unknown category 'enterprise'"):
        churn.predict_columns(churn.validator.records([{**record, "plan": "enterprise"}]))


def test_regressor(diabetes: Predictor) -> None:
    example = diabetes.metadata.input_example[0]
    prediction = diabetes.predict_columns(diabetes.validator.records([example]))
    assert prediction.probabilities is None
    assert isinstance(diabetes.to_json(prediction)[0]["value"], float)
    assert diabetes.output_columns == ["predicted_target"]


def test_non_finite_model_output_is_a_422_naming_the_row(diabetes: Predictor) -> None:
    from sklearn.linear_model import LinearRegression

    huge = LinearRegression()
    huge.coef_ = np.full(len(diabetes.feature_names), 1e308)
    huge.intercept_ = 0.0
    huge.n_features_in_ = len(diabetes.feature_names)
    huge.feature_names_in_ = np.array(diabetes.feature_names, dtype=object)
    broken = Predictor(diabetes.bundle)
    broken.model = huge
    record = dict.fromkeys(diabetes.feature_names, 1e10)
    with pytest.raises(InvalidInput, match="far outside the range"):
        broken.predict_columns(
            broken.validator.records([diabetes.metadata.input_example[0], record])
        )


def test_output_columns(iris: Predictor) -> None:
    assert iris.output_columns == [
        "predicted_species",
        "probability_setosa",
        "probability_versicolor",
        "probability_virginica",
    ]
