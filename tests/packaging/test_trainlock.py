"""The training lock in a bundle pins what its serving image installs."""

from __future__ import annotations

from pathlib import Path

import pytest

import dockyard
from dockyard.cli.main import main
from dockyard.errors import PackagingError
from dockyard.packaging.lock import Lock, Pin, Target
from dockyard.packaging.trainlock import (
    check_like_training,
    find_requirements,
    pin_like_training,
    read_requirements,
)
from dockyard.training.contract import IMAGE_ENV, LOCK_ENV
from tests.conftest import churn_frame
from tests.training import scripts

SKLEARN = Pin("scikit-learn", "1.0.0", "a" * 64, "scikit_learn-1.0.0-cp311-none-any.whl")
INFLECTION = Pin("inflection", "0.5.1", "b" * 64, "inflection-0.5.1-py2.py3-none-any.whl")
TRAINING = Lock(Target("3.11"), (INFLECTION, SKLEARN))


@pytest.fixture
def trained_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bundle saved as the training container saves one: with its image and lock."""
    lock = tmp_path / "image.lock"
    lock.write_text(TRAINING.render(), encoding="utf-8")
    monkeypatch.setenv(IMAGE_ENV, "sha256:" + "c" * 64)
    monkeypatch.setenv(LOCK_ENV, str(lock))
    from sklearn.linear_model import LogisticRegression

    X, y = churn_frame()
    X = X[["tenure_months", "monthly_spend"]]
    model = LogisticRegression().fit(X, y)
    dockyard.save_bundle(model, X, y, name="churn", path=tmp_path / "bundle")
    return tmp_path / "bundle"


def test_bundle_records_the_image_and_lock(
    trained_here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meta = dockyard.read_metadata(trained_here)
    assert meta.training is not None
    assert meta.training.image == "sha256:" + "c" * 64
    assert meta.training.lock_sha256 == meta.files["training.lock"]
    assert main(["inspect", str(trained_here)]) == 0
    assert f"trained in image sha256:{'c' * 64} from training.lock" in capsys.readouterr().out


def test_serving_roots_take_the_training_versions(trained_here: Path) -> None:
    meta = dockyard.read_metadata(trained_here)
    roots = pin_like_training(["scikit-learn==9.9", "fastapi>=0.100"], [trained_here], [meta])
    assert roots == ["scikit-learn==1.0.0", "fastapi>=0.100"]
    same = Lock(Target("3.11"), (SKLEARN, Pin("fastapi", "0.1", "d" * 64, "f.whl")))
    check_like_training(same, [trained_here], [meta])
    other_file = Lock(Target("3.11"), (Pin("scikit-learn", "1.0.0", "e" * 64, SKLEARN.filename),))
    with pytest.raises(PackagingError, match=r"scikit-learn 1\.0\.0 \(trained with 1\.0\.0\)"):
        check_like_training(other_file, [trained_here], [meta])


def test_requirements_from_a_file_or_the_projects_pyproject(tmp_path: Path) -> None:
    script = scripts.project(tmp_path, requirements="inflection==0.5.1  # naming\n\n# done\n")
    assert read_requirements(tmp_path / "requirements.txt") == ["inflection==0.5.1"]
    assert find_requirements(None, script) == []
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["inflection>=0.5"]\n', encoding="utf-8"
    )
    assert find_requirements(None, script) == ["inflection>=0.5"]
    (tmp_path / "bad.txt").write_text("-e .\n", encoding="utf-8")
    with pytest.raises(PackagingError, match="not a requirement Dockyard can lock"):
        read_requirements(tmp_path / "bad.txt")
