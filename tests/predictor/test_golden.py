from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from dockyard.bundle.store import checksum_files, read_metadata, write_metadata
from dockyard.predictor import Predictor
from dockyard.predictor.golden import (
    GOLDEN_FILE,
    SPREAD_ROWS,
    GoldenMismatch,
    check_golden,
    probe_rows,
)
from dockyard.predictor.golden import (
    main as golden_main,
)
from dockyard.server.app import load_predictors
from dockyard.settings import Settings


def _golden(bundle: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads((bundle / GOLDEN_FILE).read_text("utf-8"))
    return document


@pytest.mark.parametrize("name", ["iris", "diabetes", "churn"])
def test_a_bundle_records_both_runtimes_answers_and_checksums_them(
    bundles: Path, name: str
) -> None:
    metadata = read_metadata(bundles / name)
    assert GOLDEN_FILE in metadata.files
    golden = _golden(bundles / name)
    rows = golden["rows"]
    assert isinstance(rows, list)
    assert rows[0] == metadata.input_example[0]
    assert len(rows) == len(metadata.input_example) + SPREAD_ROWS
    runtimes = golden["runtimes"]
    assert isinstance(runtimes, dict)
    expected = {"sklearn", "onnx"} if metadata.runtime.kind == "onnx" else {"sklearn"}
    assert set(runtimes) == expected
    for runtime, entry in runtimes.items():
        assert entry["environment"]["runtime"] == runtime
        assert len(entry["answers"]) == len(rows)


def test_probe_rows_span_every_range_and_category(churn_bundle: Path) -> None:
    metadata = read_metadata(churn_bundle)
    rows = probe_rows(metadata)[len(metadata.input_example) :]
    for feature in metadata.features:
        values = [row[feature.name] for row in rows]
        if feature.type == "category":
            assert set(feature.categories or []) <= set(values)
        elif feature.minimum is not None:
            assert min(values) == pytest.approx(feature.minimum)
            assert max(values) == pytest.approx(feature.maximum)


@pytest.mark.parametrize("runtime", ["sklearn", "onnx"])
def test_each_runtime_reproduces_its_own_answers_bit_for_bit(
    iris_bundle: Path, runtime: str
) -> None:
    predictor = Predictor.from_path(iris_bundle, runtime=runtime)  # type: ignore[arg-type]
    check = check_golden(predictor)
    assert (check.runtime, check.exact, check.rows) == (runtime, True, 1 + SPREAD_ROWS)
    assert check.bounded == ({"sklearn": "onnx", "onnx": "sklearn"}[runtime],)


def test_a_perturbed_model_is_refused_naming_row_values_and_environments(
    iris_bundle: Path,
) -> None:
    predictor = Predictor.from_path(iris_bundle, runtime="sklearn")
    # A real change to the loaded model: one coefficient moves by one part in 10^9.
    estimator = predictor.model.steps[-1][1]
    estimator.coef_ = np.array(estimator.coef_, copy=True)
    estimator.coef_[0, -1] *= 1 + 1e-9
    with pytest.raises(GoldenMismatch) as caught:
        check_golden(predictor)
    message = str(caught.value)
    found = re.search(
        r"probe row (\d+) .* gives (\S+) = (\S+) here \((.*?)\), and (\S+) was recorded \((.*?)\)",
        message,
    )
    assert found is not None, message
    _row, where, here, env_here, recorded, env_there = found.groups()
    assert where.startswith("probabilities.")
    assert float(here) != float(recorded)
    assert "runtime sklearn" in env_here
    assert "runtime sklearn" in env_there
    assert "scikit-learn" in env_here
    assert "platform" in env_there


def test_a_server_refuses_to_start_when_its_library_answers_differently(
    iris_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.linear_model import LogisticRegression

    settings = Settings(bundles=[iris_bundle], runtime="sklearn")
    assert [p.name for p in load_predictors(settings)] == ["iris"]
    original = LogisticRegression.predict_proba

    def last_bit_off(self: LogisticRegression, X: object) -> np.ndarray:
        # What a library upgrade that rounds differently looks like: one ulp.
        return np.nextafter(original(self, X), 0.0)

    monkeypatch.setattr(LogisticRegression, "predict_proba", last_bit_off)
    with pytest.raises(GoldenMismatch, match="probe row 0"):
        load_predictors(settings)


def _resign_with_sklearn_answers_moved(source: Path, dest: Path, factor: float) -> None:
    """A copy whose recorded scikit-learn probabilities are scaled by ``factor``, with a
    bundle.json that checksums the edited golden.json (as a re-saved bundle would)."""
    shutil.copytree(source, dest)
    golden = _golden(dest)
    for answer in golden["runtimes"]["sklearn"]["answers"]:  # type: ignore[index]
        answer["probabilities"] = {k: v * factor for k, v in answer["probabilities"].items()}
    (dest / GOLDEN_FILE).write_text(json.dumps(golden), encoding="utf-8")
    metadata = read_metadata(dest, verify=False)
    write_metadata(dest, metadata.model_copy(update={"files": checksum_files(dest)}))


@pytest.mark.parametrize(("factor", "onnx_serves"), [(1 + 1e-14, True), (1 + 1e-6, False)])
def test_the_other_runtime_is_held_to_the_recorded_tolerance(
    iris_bundle: Path, tmp_path: Path, factor: float, onnx_serves: bool
) -> None:
    copy = tmp_path / "iris"
    _resign_with_sklearn_answers_moved(iris_bundle, copy, factor)
    tolerance = read_metadata(copy).runtime.tolerance
    assert tolerance is not None
    assert 1e-14 < tolerance < 1e-6
    # scikit-learn must reproduce its own answers bit for bit: both edits are refused.
    with pytest.raises(GoldenMismatch, match="bit for bit"):
        check_golden(Predictor.from_path(copy, runtime="sklearn"))
    # ONNX is held to its own answers exactly and to scikit-learn's within the tolerance.
    onnx = Predictor.from_path(copy, runtime="onnx")
    if onnx_serves:
        assert check_golden(onnx).bounded == ("sklearn",)
    else:
        with pytest.raises(GoldenMismatch, match=r"runtime sklearn.*must agree within"):
            check_golden(onnx)


def test_a_bundle_without_golden_answers_still_serves_and_says_so(
    iris_bundle: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = tmp_path / "iris"
    shutil.copytree(iris_bundle, copy)
    doc = json.loads((copy / "bundle.json").read_text("utf-8"))
    del doc["files"][GOLDEN_FILE]
    (copy / "bundle.json").write_text(json.dumps(doc), encoding="utf-8")
    (copy / GOLDEN_FILE).unlink()
    check = check_golden(Predictor.from_path(copy))
    assert check.rows == 0
    assert "no golden answers recorded" in caplog.text


def test_the_check_an_image_runs_prints_one_line_a_bundle_and_fails_on_a_mismatch(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = tmp_path / "moved"
    _resign_with_sklearn_answers_moved(iris_bundle, moved, 1 + 1e-6)
    assert golden_main([str(iris_bundle)]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert golden_main([str(iris_bundle), str(moved)]) == 1
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [(r["model"], r["ok"]) for r in lines] == [("iris", True), ("moved", False)]
    assert "probe row 0" in lines[1]["problem"]
    assert "moved: Bundle 'iris' no longer answers" in captured.err


def test_other_library_versions_are_held_to_the_platform_bound_not_bit_for_bit(
    iris_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.linear_model import LogisticRegression

    from dockyard.predictor import golden

    original = LogisticRegression.predict_proba
    monkeypatch.setattr(
        LogisticRegression,
        "predict_proba",
        lambda self, X: np.nextafter(original(self, X), 0.0),
    )
    predictor = Predictor.from_path(iris_bundle, runtime="sklearn")
    with pytest.raises(GoldenMismatch, match="bit for bit"):
        check_golden(predictor)
    # Served with another numpy (--allow-version-mismatch): the last bit may differ.
    real = golden.installed_version
    monkeypatch.setattr(
        golden, "installed_version", lambda name: "0.0" if name == "numpy" else real(name)
    )
    check = check_golden(predictor)
    assert not check.exact
    assert "within 1e-09 (another platform or other library versions)" in check.describe()
