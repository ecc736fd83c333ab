"""The prediction log's writer process: what crosses to it is written, an outage of the real
database is waited out, and a writer process that ends, is interrupted or loses its parent
loses no row it was not bound to lose, and says how many."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dockyard.monitoring import channel
from dockyard.monitoring.channel import WriterProcess
from dockyard.monitoring.log import LogState, PredictionLog
from dockyard.predictor import Predictor
from tests.conftest import IRIS_SETOSA
from tests.monitoring.conftest import answered, refused
from tests.monitoring.test_log import stored, wait_for


def writer_process(log: PredictionLog) -> WriterProcess:
    writer = log.writer
    assert isinstance(writer, WriterProcess)
    return writer


def writer_pid(log: PredictionLog) -> int:
    pid = writer_process(log).pid
    assert pid is not None
    return pid


def test_the_writer_is_a_process_of_its_own(iris: Predictor, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = PredictionLog(url, batch=1)
    log.start()
    pid = writer_pid(log)
    assert pid != os.getpid()
    log(answered(iris, [IRIS_SETOSA], request_id="one"))
    log(refused(iris))
    wait_for(lambda: log.state().written == 2)
    assert log.close() == 0
    assert [r.request_id for r in stored(url)] == ["one"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # it ended with the log


def test_an_outage_of_the_real_database_is_waited_out(iris: Predictor, tmp_path: Path) -> None:
    # The file's directory is a file: SQLite cannot open it until it is a directory.
    blocked = tmp_path / "logs"
    blocked.write_text("")
    url = f"sqlite:///{blocked / 'log.db'}"
    log = PredictionLog(url, batch=1, retry_seconds=0.02)
    log.start()  # down at start: the server starts anyway
    for i in range(5):
        log(answered(iris, [IRIS_SETOSA], request_id=f"r{i}"))
    wait_for(lambda: log.state().status == "unavailable" and log.state().queued == 5)
    assert "Cannot open the prediction log" in (log.state().error or "")
    blocked.unlink()
    blocked.mkdir()
    wait_for(lambda: log.state().written == 5)
    assert log.state() == LogState("ok", queued=0, dropped=0, written=5, error=None)
    assert log.close() == 0
    assert len(stored(url)) == 5


def test_an_interrupt_for_the_server_does_not_stop_the_writer(
    iris: Predictor, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = PredictionLog(url)
    log.start()
    assert writer_process(log).running.wait(30)
    pid = writer_pid(log)
    # Ctrl-C reaches the whole process group; the server stops, then closes the log.
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    log(answered(iris, [IRIS_SETOSA], request_id="after"))
    assert log.close() == 0
    assert [r.request_id for r in stored(url)] == ["after"]


def test_a_writer_that_ends_loses_its_rows_and_counts_them(
    iris: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channel, "RESTART_SECONDS", 0.0)
    # The database holds the rows back while the writer is killed.
    blocked = tmp_path / "logs"
    blocked.write_text("")
    url = f"sqlite:///{blocked / 'log.db'}"
    log = PredictionLog(url, batch=1, retry_seconds=0.02)
    log.start()
    first = writer_pid(log)
    log(answered(iris, [IRIS_SETOSA, IRIS_SETOSA], request_id="held"))
    wait_for(lambda: log.state().status == "unavailable" and log.state().queued == 2)
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: log.state().dropped == 2)
    assert "writer process ended (exit code -9)" in (log.state().error or "")
    assert log.state().queued == 0
    blocked.unlink()
    blocked.mkdir()
    # The next rows start a new writer.
    log(answered(iris, [IRIS_SETOSA], request_id="next"))
    wait_for(lambda: log.state().written == 1)
    assert writer_pid(log) != first
    assert log.close() == 2  # what the log lost in its life
    assert [r.request_id for r in stored(url)] == ["next"]
    assert log.state() == LogState("ok", queued=0, dropped=2, written=1, error=None)


ORPHAN = """
import os, sys, time
from pathlib import Path
from dockyard.monitoring.log import PredictionLog
from tests.conftest import IRIS_SETOSA
from tests.monitoring.conftest import answered
from dockyard.predictor import Predictor

predictor = Predictor.from_path(Path(sys.argv[2]))
log = PredictionLog(sys.argv[1], batch=1)
log.start()
print(log.writer.pid, flush=True)
for i in range(3):
    log(answered(predictor, [IRIS_SETOSA], request_id=f"r{i}"))
time.sleep(1.0)  # shipped to the writer, not yet known to be written
os._exit(0)  # no close(): the server was killed
"""


def test_a_writer_whose_server_is_killed_writes_what_it_holds(
    iris_bundle: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    server = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(ORPHAN), url, str(iris_bundle)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    pid = int(server.stdout.split()[0])
    wait_for(lambda: len(stored(url)) == 3)
    # It stops by itself once its parent is gone and its rows are written.
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid))


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
