from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

import dockyard
from dockyard.bundle.store import sha256_file, write_metadata
from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.settings import Settings
from dockyard.web.fields import SELECT_LIMIT


@pytest.fixture(scope="module")
def client(bundles: Path) -> Iterator[TestClient]:
    predictors = [Predictor.from_path(bundles / n) for n in ("iris", "churn", "diabetes")]
    settings = Settings(max_upload_bytes=64 * 1024, show_versions=True)
    app = create_app(settings, predictors=predictors)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def inputs(html: str) -> dict[str, str]:
    """Each form control's opening tag, by feature name."""
    return {
        m.group(2): m.group(0)
        for m in re.finditer(r'<(input|select) id="f-\d+" name="([^"]+)"[^>]*>', html)
    }


def test_index_lists_every_model(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for name in ("iris", "churn", "diabetes"):
        assert f'href="/models/{name}"' in html
    assert "v1.0.0" in html
    assert "92.1%" in html  # iris accuracy, the headline metric
    assert "R²" in html  # the regressor's headline metric
    assert "Regression" in html
    assert "Classification" in html


def test_model_page_form_follows_the_schema(client: TestClient, churn_bundle: Path) -> None:
    html = client.get("/models/churn").text
    controls = inputs(html)
    assert set(controls) == {"plan", "region", "tenure_months", "monthly_spend"}
    assert controls["plan"].startswith("<select")
    assert controls["tenure_months"].startswith("<input")
    assert 'type="number"' in controls["tenure_months"]
    assert 'step="1"' in controls["tenure_months"]
    assert 'min="1.0"' in controls["tenure_months"]
    assert 'max="71.0"' in controls["tenure_months"]
    assert 'step="any"' in controls["monthly_spend"]
    example = json.loads((churn_bundle / "bundle.json").read_text())["input_example"][0]
    assert f'value="{example["tenure_months"]}"' in controls["tenure_months"]
    assert re.search(rf'<option value="{example["plan"]}" selected>', html)
    # Every control has a label and a description for screen readers.
    for control in controls.values():
        identifier = re.search(r'id="(f-\d+)"', control)
        assert identifier is not None
        assert f'<label for="{identifier.group(1)}">' in html
        assert f'aria-describedby="{identifier.group(1)}-hint"' in control
        assert f'id="{identifier.group(1)}-error"' in html


def test_model_page_has_every_section(client: TestClient) -> None:
    html = client.get("/models/iris").text
    for anchor in ('id="try"', 'id="result"', 'id="batch"', 'id="card"', 'id="report"'):
        assert anchor in html
    assert 'data-url="/v1/models/iris/predict"' in html
    assert 'action="/v1/models/iris/predict/csv"' in html
    assert 'aria-live="polite"' in html
    assert "Up to 64 KiB" in html
    # The model card: metrics, training date, features, recorded versions.
    assert "F1 (macro average)" in html
    assert "Trained</dt>" in html
    assert "<code>sepal_length</code>" in html
    assert "scikit-learn" in html
    assert "StandardScaler \u2192 LogisticRegression" in html
    # The training report's figures, with their descriptions for screen readers.
    images = re.findall(r'<img src="([^"]+)" alt="([^"]+)"', html)
    assert [src for src, _ in images] == [
        "/models/iris/report/confusion_matrix.png",
        "/models/iris/report/feature_distributions.png",
        "/models/iris/report/pair_plot.png",
    ]
    assert all(alt for _, alt in images)


def test_regressor_page(client: TestClient) -> None:
    html = client.get("/models/diabetes").text
    assert 'data-task="regression"' in html
    assert 'data-mae="' in html
    assert "predicted_vs_actual.png" in html
    assert "Per class" not in html


def test_pages_use_only_local_assets(client: TestClient) -> None:
    for path in ("/", "/models/iris"):
        response = client.get(path)
        assert not re.search(r'(src|href)="(https?:)?//', response.text), path
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self'" in policy
    css = client.get("/static/web/dockyard.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    script = client.get("/static/web/dockyard.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "://" not in script.text


def test_report_files_are_served(client: TestClient) -> None:
    image = client.get("/models/iris/report/confusion_matrix.png")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    index = client.get("/models/iris/report/index.html")
    assert index.status_code == 200
    assert 'src="confusion_matrix.png"' in index.text


@pytest.mark.parametrize(
    "path",
    [
        "/models/iris/report/model.skops",
        "/models/iris/report/..%2Fbundle.json",
        "/models/iris/report/..%2Fmodel.skops",
        "/models/iris/report/missing.png",
        "/models/nope/report/index.html",
    ],
)
def test_only_report_files_are_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_unknown_model_page_is_a_friendly_404(client: TestClient) -> None:
    response = client.get("/models/nope")
    assert response.status_code == 404
    assert "No model named &#39;nope&#39;" in response.text
    assert 'href="/"' in response.text


def test_example_csv_scores(client: TestClient) -> None:
    response = client.get("/models/churn/example.csv")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["plan", "region", "tenure_months", "monthly_spend"]
    assert len(rows) == 2
    scored = client.post(
        "/v1/models/churn/predict/csv",
        files={"file": ("example.csv", response.content, "text/csv")},
    )
    assert scored.status_code == 200
    assert "predicted_churned" in scored.text.splitlines()[0]


def test_pages_respect_a_path_prefix(bundles: Path) -> None:
    app = create_app(Settings(), predictors=[Predictor.from_path(bundles / "iris")])
    with TestClient(app, root_path="/ml") as prefixed:
        html = prefixed.get("/models/iris").text
    assert 'href="/ml/static/web/dockyard.css' in html
    assert 'data-url="/ml/v1/models/iris/predict"' in html
    assert 'src="/ml/models/iris/report/confusion_matrix.png"' in html


@pytest.fixture(scope="module")
def odd_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Booleans, a nullable number, many categories, and markup in the description."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    rows = 120
    X = pd.DataFrame(
        {
            "member": rng.random(rows) > 0.5,
            "score": np.where(rng.random(rows) > 0.9, np.nan, rng.normal(size=rows)),
            "city": rng.choice([f"city {i:02d}" for i in range(60)], rows),
        }
    )
    y = np.where(X["member"], "<b>yes</b>", "no")
    model = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("flags", "passthrough", ["member"]),
                        ("numbers", SimpleImputer(), ["score"]),
                        ("cities", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                    ]
                ),
            ),
            ("classify", make_pipeline(LogisticRegression())),
        ]
    ).fit(X, y)
    path = tmp_path_factory.mktemp("odd") / "odd"
    dockyard.save_bundle(
        model, X, y, name="odd", path=path, description="<script>alert('x')</script> & more"
    )
    return path


def test_odd_schema_and_escaping(odd_bundle: Path) -> None:
    app = create_app(Settings(), predictors=[Predictor.from_path(odd_bundle)])
    with TestClient(app) as odd:
        html = odd.get("/models/odd").text
        index = odd.get("/").text
    controls = inputs(html)
    assert 'type="checkbox"' in controls["member"]
    assert 'type="number"' in controls["score"]
    assert "required" not in controls["score"]  # nullable: may be left empty
    assert 'type="text"' in controls["city"]
    assert 'list="f-2-list"' in controls["city"]
    assert html.count('<option value="city ') > SELECT_LIMIT
    for page in (html, index):
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in page
    assert "<b>yes</b>" not in html
    assert "&lt;b&gt;yes&lt;/b&gt;" in html


def test_bundle_without_a_report(iris_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "iris"
    shutil.copytree(iris_bundle, copy)
    shutil.rmtree(copy / "report")
    metadata = dockyard.read_metadata(copy, verify=False)
    files = {k: v for k, v in metadata.files.items() if not k.startswith("report/")}
    write_metadata(copy, metadata.model_copy(update={"files": files}))
    app = create_app(Settings(), predictors=[Predictor.from_path(copy)])
    with TestClient(app) as plain:
        html = plain.get("/models/iris").text
        assert plain.get("/models/iris/report/index.html").status_code == 404
    assert "This bundle has no training report" in html
    assert "<img" not in html


def test_pages_import_no_plotting_library(iris_bundle: Path) -> None:
    # The template engine loads with the first page, not with the route list (an API-only
    # server never needs it); rendering pages never loads a plotting library.
    code = (
        "import sys\n"
        "from starlette.testclient import TestClient\n"
        "from dockyard.server.app import create_app\n"
        "from dockyard.settings import Settings\n"
        f"app = create_app(Settings(bundles=[{str(iris_bundle)!r}]))\n"
        "assert 'jinja2' not in sys.modules\n"
        "with TestClient(app) as client:\n"
        "    assert client.get('/models/iris').status_code == 200\n"
        "assert 'jinja2' in sys.modules\n"
        "assert 'matplotlib' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_unreadable_report_entries_are_left_out(iris_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "iris"
    shutil.copytree(iris_bundle, copy)
    manifest = copy / "report" / "report.json"
    doc = json.loads(manifest.read_text())
    doc["figures"] += [
        {"file": "confusion_matrix.png", "width": "wide"},
        {"file": "../model.skops"},
    ]
    doc["per_class"] += [{"class": "incomplete"}, "not a row"]
    manifest.write_text(json.dumps(doc))
    metadata = dockyard.read_metadata(copy, verify=False)
    files = {**metadata.files, "report/report.json": sha256_file(manifest)}
    write_metadata(copy, metadata.model_copy(update={"files": files}))
    app = create_app(Settings(), predictors=[Predictor.from_path(copy)])
    with TestClient(app) as client:
        response = client.get("/models/iris")
    assert response.status_code == 200
    assert response.text.count("<img ") == 3
    assert "incomplete" not in response.text
    assert "virginica</th>" in response.text
