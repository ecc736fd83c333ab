"""``dockyard predict`` with several processes, in-process through the entry point."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.cli.main import main
from dockyard.errors import ExitCode

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
    assert main([*argv, "--processes", "2"]) == ExitCode.DATA
    assert "line 702: petal_length: expected a number, got 'x'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [source]


def _scored_from_a_file(iris_bundle: Path, tmp_path: Path, text: str) -> bytes:
    source = tmp_path / "file.csv"
    source.write_text(text)
    target = tmp_path / "file-scored.csv"
    assert main(["predict", str(iris_bundle), str(source), "-o", str(target)]) == 0
    return target.read_bytes()


def test_reads_dev_stdin_from_a_pipe_and_writes_dev_stdout(
    iris_bundle: Path, tmp_path: Path
) -> None:
    text = HEADER + "\n" + "5.1,3.5,1.4,0.2\n6.3,2.8,5.1,1.5\n" * 50
    command = [sys.executable, "-m", "dockyard", "predict", str(iris_bundle), "/dev/stdin"]
    piped = subprocess.run(
        [*command, "-o", "/dev/stdout"],
        input=text.encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr.decode()[-2000:]
    assert piped.stdout == _scored_from_a_file(iris_bundle, tmp_path, text)


def test_reads_and_writes_named_pipes(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = HEADER + "\n" + "5.1,3.5,1.4,0.2\n7.7,3.0,6.1,2.3\n" * 50
    expected = _scored_from_a_file(iris_bundle, tmp_path, text)
    source, target = tmp_path / "in.fifo", tmp_path / "out.fifo"
    os.mkfifo(source)
    os.mkfifo(target)
    received: list[bytes] = []

    def write() -> None:
        with source.open("w") as fh:
            fh.write(text)

    def read() -> None:
        with target.open("rb") as fh:
            received.append(fh.read())

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    code = main(["predict", str(iris_bundle), str(source), "-o", str(target), "--processes", "1"])
    for thread in threads:
        thread.join(timeout=30)
    assert code == 0, capsys.readouterr().err
    assert received == [expected]
    assert target.is_fifo()  # written into, not replaced by a file


def test_an_input_that_cannot_be_read_is_a_usage_error(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(iris_bundle), str(tmp_path)]) == ExitCode.USAGE
    assert f"Cannot read {tmp_path}: Is a directory." in capsys.readouterr().err


def test_bad_data_has_its_own_exit_code(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(HEADER.encode() + b"\n5.1,3.5,1.4,\xff\n")
    assert main(["predict", str(iris_bundle), str(source)]) == ExitCode.DATA == 6
    assert "not valid UTF-8" in capsys.readouterr().err


def test_the_scored_file_follows_the_umask(
    iris_bundle: Path, tmp_path: Path, umask: Callable[[int], int]
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(HEADER + "\n5.1,3.5,1.4,0.2\n")
    for mask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        umask(mask)
        target = tmp_path / f"scored-{mask:o}.csv"
        assert main(["predict", str(iris_bundle), str(source), "-o", str(target)]) == 0
        assert stat.S_IMODE(target.stat().st_mode) == mode


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
