"""The 30-second version of scripts/soak.py; the 10-minute figures are in docs/reliability.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_soak_30_seconds(bundles: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "soak.py"),
            "--duration",
            "30",
            "--bundles",
            str(bundles),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=ROOT,
    )
    summary = json.loads(done.stdout)
    assert summary["unexpected"] == {}, summary
    assert summary["connection_errors"] == 0, summary["first_errors"]
    assert summary["rss_growth"] <= 0.10, summary
    assert summary["requests"] > 1000
    assert done.returncode == 0, done.stderr[-2000:]
