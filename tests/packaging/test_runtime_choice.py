"""One runtime decision per bundle: what it records is what every image serves it with."""

from __future__ import annotations

from pathlib import Path

import pytest

import dockyard
from dockyard.packaging import dockerfile
from dockyard.packaging.lock import requirements_for

ONNX = dockerfile.ModelSpec("iris", "1", "ab" * 32, runtime="onnx")
SKLEARN = dockerfile.ModelSpec("text", "1", "cd" * 32, runtime="sklearn")


def _names(requirements: list[str]) -> set[str]:
    return {r.split("=", 1)[0].split(">", 1)[0] for r in requirements}


def test_a_full_image_installs_onnxruntime_only_for_a_bundle_that_records_it(
    iris_bundle: Path, sentiment_bundle: Path
) -> None:
    onnx = dockyard.read_metadata(iris_bundle)
    text = dockyard.read_metadata(sentiment_bundle)
    assert (onnx.runtime.kind, text.runtime.kind) == ("onnx", "sklearn")
    pin = f"onnxruntime=={onnx.runtime.versions['onnxruntime']}"
    assert pin in requirements_for([onnx])
    assert "scikit-learn" in _names(requirements_for([onnx]))
    assert "onnxruntime" not in _names(requirements_for([text]))


@pytest.mark.parametrize(
    ("models", "runtime"),
    [((ONNX,), "onnx"), ((SKLEARN,), "sklearn"), ((ONNX, SKLEARN), "auto")],
)
def test_a_full_image_serves_each_bundle_with_its_recorded_runtime(
    models: tuple[dockerfile.ModelSpec, ...], runtime: str
) -> None:
    spec = dockerfile.ImageSpec("b", "3.11", "0.1.0", True, models)
    text = dockerfile.render(spec)
    assert f"DOCKYARD_RUNTIME={runtime} \\" in text
    assert f'io.dockyard.runtime="{runtime}"' in text
    for model in models:
        assert f'io.dockyard.model.{model.name}.runtime="{model.runtime}"' in text


def test_the_builder_stage_checks_the_golden_answers_with_the_serving_runtime() -> None:
    spec = dockerfile.ImageSpec("b", "3.11", "0.1.0", True, (ONNX, SKLEARN))
    builder, final = dockerfile.render(spec).split("\nFROM b\n")
    check = (
        f"RUN DOCKYARD_RUNTIME=auto {dockerfile.VENV}/bin/python -I -m dockyard.predictor.golden "
        f"{dockerfile.STAGING}/models/iris {dockerfile.STAGING}/models/text"
    )
    assert check in builder
    assert "golden" not in final
    # The final stage still takes the bundles from the context, last.
    copies = [line for line in final.splitlines() if line.startswith("COPY models/")]
    assert copies == [f"COPY models/{m}/ {dockerfile.MODELS_DIR}/{m}/" for m in ("iris", "text")]


def test_a_training_image_checks_nothing() -> None:
    spec = dockerfile.ImageSpec("b", "3.11", "0.1.0", True, (), "train")
    assert "golden" not in dockerfile.render(spec)
