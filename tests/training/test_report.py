from __future__ import annotations

import ast
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dockyard.cli.main import main
from dockyard.training.charts import MAX_FEATURES
from dockyard.training.evaluation import EvaluationData
from dockyard.training.report import describe_estimator, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def manifest(bundle: Path) -> dict:
    return json.loads((bundle / "report" / "report.json").read_text())


def test_classification_report_is_in_the_bundle(iris_bundle: Path) -> None:
    doc = manifest(iris_bundle)
    files = json.loads((iris_bundle / "bundle.json").read_text())["files"]
    names = [f["file"] for f in doc["figures"]]
    assert names == ["confusion_matrix.png", "feature_distributions.png", "pair_plot.png"]
    # Every report file is checksummed, so the bundle's integrity check covers it.
    for name in [*names, "index.html", "report.json"]:
        assert f"report/{name}" in files
    for figure in doc["figures"]:
        assert png_size(iris_bundle / "report" / figure["file"]) == (
            figure["width"],
            figure["height"],
        )
        assert figure["alt"]
        assert figure["title"]
        assert figure["caption"]
    assert doc["evaluation"] == {"method": "holdout", "rows": 38}
    assert set(doc["metrics"]) == {"accuracy", "f1_macro"}
    bundle_metrics = json.loads((iris_bundle / "bundle.json").read_text())["evaluation"]["metrics"]
    assert doc["metrics"] == bundle_metrics
    assert [row["class"] for row in doc["per_class"]] == ["setosa", "versicolor", "virginica"]
    assert sum(row["support"] for row in doc["per_class"]) == 38
    assert doc["estimator"] == "Pipeline: StandardScaler \u2192 LogisticRegression"


def test_index_html_opens_from_disk_alone(iris_bundle: Path) -> None:
    html = (iris_bundle / "report" / "index.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert sources == ["confusion_matrix.png", "feature_distributions.png", "pair_plot.png"]
    for source in sources:
        assert (iris_bundle / "report" / source).is_file()
    # Nothing from the network: no scripts, no external stylesheets or fonts.
    assert "http://" not in html
    assert "https://" not in html
    assert "<script" not in html
    assert "Accuracy" in html
    assert "setosa" in html


def test_regression_report(diabetes_bundle: Path) -> None:
    doc = manifest(diabetes_bundle)
    names = [f["file"] for f in doc["figures"]]
    assert names == ["predicted_vs_actual.png", "residuals.png", "feature_relationships.png"]
    assert doc["per_class"] is None
    assert set(doc["metrics"]) == {"r2", "mae", "rmse"}
    assert doc["metrics"]["rmse"] >= doc["metrics"]["mae"]
    for name in names:
        png_size(diabetes_bundle / "report" / name)


def test_categorical_features_are_plotted(churn_bundle: Path) -> None:
    doc = manifest(churn_bundle)
    distributions = next(f for f in doc["figures"] if f["file"] == "feature_distributions.png")
    for name in ("plan", "region", "tenure_months", "monthly_spend"):
        assert name in distributions["alt"]
    # Two numeric features: still a pair plot of those two.
    pair = next(f for f in doc["figures"] if f["file"] == "pair_plot.png")
    assert "tenure_months" in pair["alt"]
    assert "plan" not in pair["alt"]
    assert doc["evaluation"]["method"] == "cross_validation"


def test_inspect_points_to_the_report(
    iris_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(iris_bundle)]) == 0
    out = capsys.readouterr().out
    assert "training report:" in out
    assert "index.html" in out


def _evaluation(rows: int = 120, classes: int = 3, seed: int = 0) -> EvaluationData:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, rows)
    X = pd.DataFrame(
        {
            "width": rng.normal(y, 1.0),
            "height": rng.normal(-y, 2.0),
            "colour": rng.choice(["red", "green", "blue"], rows),
            "member": rng.random(rows) > 0.5,
        }
    )
    predicted = np.where(rng.random(rows) < 0.8, y, (y + 1) % classes)
    return EvaluationData(X, y, predicted, "holdout")


def test_output_is_deterministic(tmp_path: Path) -> None:
    """The files are checksummed into bundle.json: the same data must give the same bytes."""
    evaluation = _evaluation()
    write_report(tmp_path / "a", None, evaluation, "classification", [0, 1, 2])
    write_report(tmp_path / "b", None, evaluation, "classification", [0, 1, 2])
    first = sorted((tmp_path / "a" / "report").iterdir())
    assert [p.name for p in first] == [
        "confusion_matrix.png",
        "feature_distributions.png",
        "index.html",
        "pair_plot.png",
        "report.json",
    ]
    for path in first:
        assert path.read_bytes() == (tmp_path / "b" / "report" / path.name).read_bytes(), path.name
    # No software tag in the PNGs: a matplotlib patch release must not change a bundle.
    assert b"matplotlib" not in (tmp_path / "a" / "report" / "confusion_matrix.png").read_bytes()


def test_awkward_data_still_gives_a_report(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows = 5000
    labels = np.array([f"class {i}" for i in range(14)])
    y = labels[rng.integers(0, 14, rows)]
    X = pd.DataFrame({f"feature_{i}": rng.normal(size=rows) for i in range(9)})
    X.loc[::7, "feature_0"] = np.nan  # missing values
    X["feature_1"] = 3.0  # constant
    X["mot_\u00e9l\u00e8ve"] = rng.choice(["a", "b"], rows)
    evaluation = EvaluationData(X, y, y[::-1].copy(), "cross_validation")
    index = write_report(tmp_path, None, evaluation, "classification", sorted(labels.tolist()))
    doc = json.loads((tmp_path / "report" / "report.json").read_text())
    assert index == tmp_path / "report" / "index.html"
    assert len(doc["per_class"]) == 14
    distributions = next(f for f in doc["figures"] if f["file"] == "feature_distributions.png")
    assert distributions["alt"].count("feature_") == MAX_FEATURES


def test_regression_with_a_categorical_feature(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"size": rng.normal(size=80), "kind": rng.choice(["x", "y", "z"], 80)})
    y = X["size"].to_numpy() * 3 + rng.normal(size=80)
    write_report(tmp_path, None, EvaluationData(X, y, y + 0.5, "holdout"), "regression", None)
    doc = json.loads((tmp_path / "report" / "report.json").read_text())
    assert doc["metrics"]["mae"] == pytest.approx(0.5)
    assert doc["metrics"]["r2"] < 1


def test_describe_estimator() -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    assert describe_estimator(LinearRegression()) == "LinearRegression"
    pipeline = make_pipeline(StandardScaler(), LinearRegression())
    assert describe_estimator(pipeline) == "Pipeline: StandardScaler \u2192 LinearRegression"


def test_matplotlib_is_imported_only_when_a_report_is_written() -> None:
    code = (
        "import sys, dockyard.training.report, dockyard.server.app, dockyard.web\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported at import time'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_writing_a_report_leaves_plotting_state_alone(tmp_path: Path) -> None:
    """Saving from a notebook must not switch its backend or restyle its plots."""
    code = (
        "import sys, matplotlib\n"
        "from pathlib import Path\n"
        "from tests.training.test_report import _evaluation\n"
        "from dockyard.training.report import write_report\n"
        # Reading rcParams['backend'] would itself import pyplot to resolve it.
        "style = lambda: {k: matplotlib.rcParams[k] for k in matplotlib.rcParams if k != 'backend'}\n"
        "before = style()\n"
        f"write_report(Path({str(tmp_path)!r}), None, _evaluation(), 'classification', [0, 1, 2])\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert style() == before\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=root)


def _training_imports() -> dict[str, set[str]]:
    """Each module of ``dockyard.training`` and the sibling modules it imports, at any level
    (inside functions and ``TYPE_CHECKING`` blocks too: an import there is still a
    dependency)."""
    package = Path(__file__).resolve().parents[2] / "src" / "dockyard" / "training"
    names = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for name in names:
        found: set[str] = set()
        for node in ast.walk(ast.parse((package / f"{name}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module.removeprefix("dockyard.training.")
                found.update({module} & names)
                if node.module == "dockyard.training":
                    found.update({a.name for a in node.names} & names)
        graph[name] = found
    return graph


def test_the_report_does_not_import_saving_back() -> None:
    graph = _training_imports()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            step == goal or (step not in seen and reaches(step, goal, seen | {step}))
            for step in graph[start]
        )

    assert reaches("save", "report", set())  # saving writes the report ...
    # ... and nothing the report uses leads back to saving.
    assert not reaches("report", "save", set())
    assert not any(reaches(name, name, set()) for name in graph)
