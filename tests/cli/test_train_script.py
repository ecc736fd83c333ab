"""``dockyard train train.py``: the user's own script, run here, and its failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import dockyard
from dockyard.cli.main import main
from tests.training import scripts


def _train(script: Path, out: Path, *extra: str) -> int:
    return main(
        ["train", str(script), "--data", str(script.parent / "data"), "--out", str(out), *extra]
    )


def test_script_saves_its_bundle_to_out(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    script = scripts.project(tmp_path / "project")
    assert _train(script, tmp_path / "bundle") == 0
    captured = capfd.readouterr()
    assert "training on 200 rows" in captured.out  # the script's own output
    assert "Trained churn-model 1.0.0" in captured.out
    meta = dockyard.read_metadata(tmp_path / "bundle")
    assert meta.name == "churn-model"
    assert meta.training is None  # not trained in a container


def test_same_script_runs_with_plain_python(tmp_path: Path) -> None:
    script = scripts.project(tmp_path / "project")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    subprocess.run(
        [sys.executable, str(script)], cwd=script.parent, env=env, check=True, capture_output=True
    )
    assert dockyard.read_metadata(script.parent / "churn-model").name == "churn-model"


def test_check_reproducible_trains_twice_and_compares(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    script = scripts.project(tmp_path / "project")
    assert _train(script, tmp_path / "bundle", "--check-reproducible") == 0
    assert "every model file is byte-identical" in capfd.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "project"]


def test_check_reproducible_finds_a_random_model(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    unseeded = scripts.CHURN.replace(
        "LogisticRegression(max_iter=500)", "RandomForestClassifier(n_estimators=5)"
    ).replace(
        "from sklearn.linear_model import LogisticRegression",
        "from sklearn.ensemble import RandomForestClassifier",
    )
    script = scripts.project(tmp_path / "project", unseeded)
    assert _train(script, tmp_path / "bundle", "--check-reproducible") == 4
    err = capfd.readouterr().err
    assert "error: Training is not reproducible: " in err
    assert "model.skops differs" in err  # an unseeded forest: other trees each time


@pytest.mark.parametrize(
    ("script", "status", "expected"),
    [
        (scripts.NEVER_SAVES, 4, "train.py finished without saving a bundle"),
        (
            scripts.MISSING_MODULE,
            4,
            "train.py imports 'dockyard_missing_package', which is not installed in the "
            "training environment: add it to your requirements file and pass --requirements",
        ),
        (scripts.EXITS, 7, "giving up"),
    ],
)
def test_failures_are_one_line_with_the_scripts_exit_code(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], script: str, status: int, expected: str
) -> None:
    path = scripts.project(tmp_path / "project", script)
    assert _train(path, tmp_path / "bundle") == status
    captured = capfd.readouterr()
    assert expected in captured.out + captured.err
    assert "Traceback" not in captured.err
    assert not (tmp_path / "bundle").exists()


def test_a_script_that_fails_otherwise_keeps_its_traceback(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = scripts.project(tmp_path / "project", "raise ValueError('bad column')\n")
    assert _train(path, tmp_path / "bundle") == 1
    err = capfd.readouterr().err
    assert "Traceback" in err
    assert "ValueError: bad column" in err


def test_container_options_need_in_container(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = scripts.project(tmp_path / "project")
    assert _train(script, tmp_path / "bundle", "--network") == 2
    assert "apply to --in-container" in capsys.readouterr().err


def test_overwrite_replaces_only_a_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = scripts.project(tmp_path / "project", scripts.NEVER_SAVES)
    assert _train(script, script.parent, "--overwrite") == 2
    assert "exists and is not a bundle: Dockyard replaces only a bundle" in capsys.readouterr().err
    assert script.is_file()
