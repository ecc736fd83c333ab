"""The slim image: ONNX Runtime serves the bundle's verified export; no scikit-learn stack."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

import dockyard
from dockyard.cli.main import main
from dockyard.errors import PackagingError
from dockyard.packaging import dockerfile, engine
from dockyard.packaging.images import build_image
from dockyard.packaging.lock import requirements_for
from tests.packaging import served

# What the tutorial image (bench/baseline: pip install --no-cache-dir flask scikit-learn
# pandas) adds to the same base, as bench/run measures it (docs/containers.md); a slim image
# may add at most a quarter of it.
TUTORIAL_ADDED_BYTES = 379e6
STACK = ("sklearn", "scipy", "pandas", "skops", "onnx", "skl2onnx")


def _names(requirements: list[str]) -> set[str]:
    return {r.split("=", 1)[0].split(">", 1)[0] for r in requirements}


def test_slim_requirements_leave_the_scikit_learn_stack_out(iris_bundle: Path) -> None:
    meta = dockyard.read_metadata(iris_bundle)
    names = _names(requirements_for([meta], slim=True))
    assert {"onnxruntime", "numpy", "uvicorn", "pydantic"} <= names
    assert not names & {"scikit-learn", "scipy", "pandas", "skops", "joblib", "skl2onnx", "onnx"}
    assert f"onnxruntime=={meta.runtime.versions['onnxruntime']}" in requirements_for(
        [meta], slim=True
    )
    # The full image serves the recorded ONNX export too, with the same onnxruntime.
    assert f"onnxruntime=={meta.runtime.versions['onnxruntime']}" in requirements_for([meta])


def test_the_slim_image_leaves_the_postgresql_driver_out(iris_bundle: Path) -> None:
    meta = dockyard.read_metadata(iris_bundle)
    assert {"psycopg", "psycopg-binary"} <= _names(requirements_for([meta]))
    assert not {"psycopg", "psycopg-binary"} & _names(requirements_for([meta], slim=True))


def test_a_churn_bundle_goes_slim_without_pandas(churn_bundle: Path) -> None:
    meta = dockyard.read_metadata(churn_bundle)
    # Every supported scikit-learn exports this pipeline: no export is a bug, not a skip.
    assert meta.runtime.kind == "onnx", meta.runtime.reason
    assert "pandas" not in _names(requirements_for([meta], slim=True))


def test_slim_dockerfile_pins_the_onnx_runtime() -> None:
    spec = dockerfile.ImageSpec(
        "b", "3.11", "0.1.0", True, (dockerfile.ModelSpec("iris", "1", "ab" * 32),), slim=True
    )
    text = dockerfile.render(spec)
    assert "DOCKYARD_RUNTIME=onnx" in text
    assert 'io.dockyard.runtime="onnx"' in text


def test_a_bundle_without_a_verified_export_is_refused(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "iris"
    shutil.copytree(iris_bundle, bundle)
    meta = json.loads((bundle / "bundle.json").read_text())
    meta["runtime"] = {"kind": "sklearn", "reason": "ONNX Runtime disagreed on 3 rows"}
    (bundle / "bundle.json").write_text(json.dumps(meta))
    code = main(["build", str(bundle), "--slim", "--context-only", str(tmp_path / "ctx")])
    assert code == PackagingError.exit_code
    message = capsys.readouterr().err
    assert "cannot go into a slim image" in message
    assert "ONNX Runtime disagreed on 3 rows" in message
    assert not (tmp_path / "ctx").exists()


def test_a_base_with_no_known_build_image_names_both_ways_out(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = tmp_path / "ctx"
    code = main(
        [
            "build",
            str(iris_bundle),
            "--slim",
            "--base-image",
            "debian:bookworm",
            "--context-only",
            str(ctx),
        ]
    )
    assert code == PackagingError.exit_code
    message = capsys.readouterr().err
    assert "debian:bookworm" in message
    assert "--build-base" in message
    assert "--numpy-wheel" in message
    assert not ctx.exists()
    code = main(["build", str(iris_bundle), "--numpy-wheel", "--context-only", str(ctx)])
    assert code == PackagingError.exit_code
    assert "only to a --slim image" in capsys.readouterr().err
    both = ["--slim", "--numpy-wheel", "--build-base", "python:3.11"]
    code = main(["build", str(iris_bundle), *both, "--context-only", str(ctx)])
    assert code == PackagingError.exit_code
    assert "--numpy-wheel compiles nothing" in capsys.readouterr().err


@pytest.mark.slow  # downloads numpy's source archive and its build tools, once
def test_a_slim_context_holds_numpys_pinned_source_and_build_tools(
    iris_bundle: Path, tmp_path: Path
) -> None:
    from dockyard.packaging.lock import Lock

    ctx = tmp_path / "ctx"
    assert main(["build", str(iris_bundle), "--slim", "--context-only", str(ctx)]) == 0
    # python:3.11-slim → numpy compiled in python:3.11; its wheel is not in the lock.
    assert "FROM python:3.11 AS numpy" in (ctx / "Dockerfile").read_text()
    assert "numpy==" not in (ctx / "requirements.lock").read_text()
    (source,) = Lock.parse((ctx / dockerfile.SOURCE_LOCK).read_text()).pins
    tools = Lock.parse((ctx / dockerfile.TOOLS_LOCK).read_text()).pins
    assert source.filename == f"numpy-{source.version}.tar.gz"
    assert {"meson-python", "cython", "ninja", "pip"} <= {t.name for t in tools}
    placed = sorted(f.name for f in (ctx / "sources").iterdir())
    assert placed == sorted([source.filename, *(t.filename for t in tools)])


def test_numpy_wheel_keeps_numpys_wheel_and_compiles_nothing(
    iris_bundle: Path, tmp_path: Path
) -> None:
    ctx = tmp_path / "ctx"
    args = ["build", str(iris_bundle), "--slim", "--numpy-wheel", "--context-only", str(ctx)]
    assert main(args) == 0
    assert "numpy==" in (ctx / "requirements.lock").read_text()
    assert not (ctx / "sources").exists()
    assert not (ctx / dockerfile.SOURCE_LOCK).exists()
    assert " AS numpy" not in (ctx / "Dockerfile").read_text()


@pytest.fixture(scope="module")
def slim_image(
    docker_client: Any,
    base_image: str,
    build_base: str,
    iris_bundle: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> engine.Built:
    return build_image(
        [iris_bundle], console=served.console(), tag="dockyard-test/iris:e2e-slim",
        base_image=base_image, build_base=build_base, offline=True, slim=True,
        client=docker_client, sbom_dir=tmp_path_factory.mktemp("sbom"),
    )  # fmt: skip


@pytest.mark.docker
@pytest.mark.slow
def test_slim_image_is_a_quarter_and_has_no_scikit_learn(
    docker_client: Any, slim_image: engine.Built
) -> None:
    assert slim_image.base_size is not None
    added = slim_image.size - slim_image.base_size
    print(f"slim image adds {added / 1e6:.1f} MB")
    assert added <= TUTORIAL_ADDED_BYTES / 4, f"slim image adds {engine.mb(added)}"
    config = docker_client.images.get(slim_image.tag).attrs["Config"]
    assert config["Labels"]["io.dockyard.runtime"] == "onnx"
    assert "DOCKYARD_RUNTIME=onnx" in config["Env"]
    assert config["User"] == "10001:10001"
    probe = ", ".join(repr(m) for m in (*STACK, "onnxruntime"))
    listing = served.python_in(
        docker_client,
        slim_image.tag,
        f"import importlib.util as u; print(*(u.find_spec(m) is not None for m in ({probe})))",
    )
    assert listing.split() == ["False"] * len(STACK) + ["True"]


@pytest.mark.docker
@pytest.mark.slow
def test_slim_numpy_is_compiled_from_its_pinned_source_without_blas(
    docker_client: Any, slim_image: engine.Built
) -> None:
    import numpy

    blas, version, libs = served.python_in(
        docker_client,
        slim_image.tag,
        "import numpy, pathlib; "
        "print(numpy.show_config(mode='dicts')['Build Dependencies']['blas']['name'], "
        "numpy.__version__, (pathlib.Path(numpy.__file__).parent.parent / 'numpy.libs').exists())",
    ).split()
    # The version the bundle was tested with, with no OpenBLAS and no bundled libraries.
    assert (blas, version, libs) == ("none", numpy.__version__, "False")
    assert slim_image.sbom is not None
    sbom = json.loads(slim_image.sbom.read_text())
    (entry,) = [c for c in sbom["components"] if c["name"] == "numpy"]
    assert entry["properties"] == [
        {"name": "dockyard:source", "value": f"numpy-{numpy.__version__}.tar.gz"}
    ]


@pytest.mark.docker
@pytest.mark.slow
def test_slim_predictions_match_the_full_image_and_scikit_learn(
    docker_client: Any,
    slim_image: engine.Built,
    iris_image: engine.Built,
    iris_bundle: Path,
    containers: list[Any],
) -> None:
    from sklearn.datasets import load_iris

    meta = dockyard.read_metadata(iris_bundle)
    tolerance = meta.runtime.tolerance
    assert tolerance is not None
    names = [f.name for f in meta.features]
    data = load_iris().data
    records = [dict(zip(names, map(float, row), strict=True)) for row in data]
    records += served.records(iris_bundle)

    started = time.monotonic()
    slim, slim_url = engine.run(docker_client, slim_image.tag, port=None)
    containers.append(slim)
    answer, took = served.first_prediction(slim_url, "iris", records, since=started)
    print(f"slim container start → first prediction: {took:.2f} s")

    full, full_url = engine.run(docker_client, iris_image.tag, port=None)
    containers.append(full)
    engine.wait_ready(full_url, timeout=60, container=full)
    from_full = served.predict(full_url, "iris", records)

    # The full image serves the recorded ONNX export too: the same answers.
    served.assert_same(answer, from_full)
    # Labels exact, probabilities within the tolerance the export was verified to, against
    # scikit-learn here.
    served.assert_same(
        answer, served.local(iris_bundle, records, runtime="sklearn"), tolerance=tolerance
    )
    # And to float32 precision against ONNX Runtime here: the same graph, the same answers.
    served.assert_same(answer, served.local(iris_bundle, records, runtime="onnx"))
