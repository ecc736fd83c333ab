"""``dockyard predict`` with several processes, in-process through the entry point."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.cli.main import main

HEADER = "sepal_length,sepal_width,petal_length,petal_width"


@pytest.mark.parametrize(
    ("processes", "children"),
    [("0", min(len(os.sched_getaffinity(0)), 4) - 1), ("2", 1), ("3", 2)],
)
def test_processes_write_the_serial_bytes(
    iris_bundle: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    forks: list[int],
    processes: str,
    children: int,
) -> None:
    source = tmp_path / "in.csv"
    rows = [
        f"{4 + i % 40 / 10:.1f},{3 + i % 7 / 10},{1 + i % 60 / 10},{i % 25 / 10}"
        for i in range(1000)
    ]
    source.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    outputs = []
    for option in ("1", processes):
        target = tmp_path / f"scored-{option}.csv"
        argv = ["predict", str(iris_bundle), str(source), "-o", str(target), "--chunk-rows", "64"]
        assert main([*argv, "--processes", option]) == 0
        assert "Scored 1,000 rows" in capsys.readouterr().err
        outputs.append(target.read_bytes())
    assert len(forks) == children
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"\n") == 1001
    assert len(list(tmp_path.iterdir())) == 3  # the input, two outputs: no temporary files


def test_processes_report_a_bad_line_and_leave_no_output(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    rows = ["5.1,3.5,1.4,0.2"] * 1000
    rows[700] = "5.1,3.5,x,0.2"  # file line 702
    source.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    target = tmp_path / "scored.csv"
    argv = ["predict", str(iris_bundle), str(source), "-o", str(target), "--chunk-rows", "64"]
    assert main([*argv, "--processes", "2"]) == 2
    assert "line 702: petal_length: expected a number, got 'x'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [source]


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        ("segments", "cluster,distance_0,distance_1,distance_2"),
        ("mixture", "cluster,probability_0,probability_1,probability_2"),
        ("anomalies", "label,score"),
    ],
)
def test_clusters_and_outliers_are_appended(
    unsupervised_bundles: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    columns: str,
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(HEADER + "\n" + "5.0,3.4,1.5,0.2\n7.9,2.0,1.0,2.5\n" * 50)
    target = tmp_path / "out.csv"
    for processes in ("1", "2"):
        argv = ["predict", str(unsupervised_bundles[name]), str(source), "-o", str(target)]
        assert main([*argv, "--chunk-rows", "16", "--processes", processes]) == 0
        assert "Scored 100 rows" in capsys.readouterr().err
        lines = target.read_text().splitlines()
        assert lines[0] == HEADER + "," + columns
        assert len(lines) == 101
        if name == "anomalies":
            assert lines[1].split(",")[4] == "inlier"
            assert lines[2].split(",")[4] == "outlier"
