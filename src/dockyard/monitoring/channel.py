"""Where the prediction log hands its rows to the :class:`~dockyard.monitoring.writer.Writer`:
a process of its own (:class:`WriterProcess`, what the server uses), or a thread of this
process (:class:`WriterThread`). Both take rows and an order to close, report the writer's
:class:`~dockyard.monitoring.writer.Progress`, and are joined at shutdown.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import subprocess
import sys
import threading
import time

from dockyard.monitoring import wire
from dockyard.monitoring.migrations import WIDTH
from dockyard.monitoring.store import Store
from dockyard.monitoring.writer import Progress, Rows, Writer, WriterConfig

__all__ = ["WriterProcess", "WriterThread"]

logger = logging.getLogger("dockyard.monitoring")

RESTART_SECONDS = 10.0
"""How long after a writer process started a new one may replace it, when it ended."""


def _count(rows: Rows) -> int:
    values, parcels = rows
    return len(values) // WIDTH + sum(parcel.rows for parcel in parcels)


class WriterThread:
    """The writer in a thread of this process. It shares the GIL with the requests: each
    of its pauses lets the event loop run between slices of encoding."""

    def __init__(self, config: WriterConfig, store: Store, error: str | None) -> None:
        self.progress = Progress(0, 0, 0, error)
        self._inbox: queue.SimpleQueue[Rows | float] = queue.SimpleQueue()
        self._writer = Writer(config, store, error=error, pause=_let_others_run)
        self._thread = threading.Thread(
            target=self._run, name="dockyard-prediction-log-writer", daemon=True
        )
        self._thread.start()

    @property
    def done(self) -> int:
        return self.progress.done

    def get(self, timeout: float) -> Rows | float | None:
        try:
            return self._inbox.get(timeout=timeout) if timeout > 0 else self._inbox.get_nowait()
        except queue.Empty:
            return None

    def _run(self) -> None:
        try:
            self._writer.run(self, self._report)
        finally:
            self._writer.store.close()

    def _report(self, progress: Progress) -> None:
        self.progress = progress

    def send(self, rows: Rows) -> None:
        self._inbox.put(rows)

    def close(self, seconds: float) -> None:
        self._inbox.put(seconds)

    def join(self, timeout: float) -> None:
        # Still alive after that: stuck in the driver; its rows stay counted as queued.
        self._thread.join(timeout)


class WriterProcess:
    """The writer in a process of its own (``python -m dockyard.monitoring``), so
    that its work never takes the GIL of the worker answering requests. A writer process
    that ends before it is told to (killed, out of memory) loses the rows it held, which
    are counted; the next rows start a new one."""

    def __init__(self, config: WriterConfig, error: str | None) -> None:
        self.config = config
        self.progress = Progress(0, 0, 0, error)
        self._error: str | None = None
        """Why the last writer process ended, while no new one runs."""
        self._base = Progress(0, 0, 0, None)
        """What writer processes that ended did."""
        self._shipped = 0
        self._lock = threading.Lock()
        self._closing = False
        self._ended = False
        self._started = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._listener: threading.Thread | None = None
        self.running = threading.Event()
        """Set once a writer process has started (and ignores the server's signals)."""
        self._start()

    @property
    def done(self) -> int:
        return self.progress.done

    @property
    def pid(self) -> int | None:
        """The process id of the writer process, while one runs."""
        process = self._process
        return None if process is None or process.poll() is not None else process.pid

    def _start(self) -> None:
        if self._sock is not None:
            self._sock.close()  # an ended writer's
        ours, theirs = socket.socketpair()
        with theirs:
            process = subprocess.Popen(
                [sys.executable, "-m", "dockyard.monitoring", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # it logs to the server's standard error
            )
        self._process, self._sock, self._ended, self._error = process, ours, False, None
        self._started = time.monotonic()
        wire.send(ours, self.config)
        self._listener = threading.Thread(
            target=self._listen,
            args=(ours, process),
            name="dockyard-prediction-log-progress",
            daemon=True,
        )
        self._listener.start()

    def _listen(self, sock: socket.socket, process: subprocess.Popen[bytes]) -> None:
        """Take the writer's progress until its socket ends."""
        while True:
            try:
                progress = wire.receive(sock)
            except (EOFError, OSError):
                break
            self.running.set()
            with self._lock:
                base = self._base
                self.progress = Progress(
                    base.done + progress.done,
                    base.written + progress.written,
                    base.lost + progress.lost,
                    progress.error,
                )
        if not self._closing:
            code = process.wait()
            with self._lock:
                self._error = (
                    f"The prediction log's writer process ended (exit code {code}); the rows "
                    "it held are counted dropped, and the next rows start a new one."
                )
                logger.error("prediction log: %s", self._error)
                self._settle()

    def _settle(self) -> None:
        """Count the rows sent to an ended writer and not written as lost (with the lock)."""
        self._ended = True
        progress = self.progress
        unfinished = self._shipped - progress.done
        self._base = self.progress = Progress(
            self._shipped, progress.written, progress.lost + unfinished,
            self._error or progress.error,
        )  # fmt: skip

    def send(self, rows: Rows) -> None:
        count = _count(rows)
        with self._lock:
            if self._ended:
                if time.monotonic() - self._started < RESTART_SECONDS:
                    # Ended just after it started: not restarted in a loop.
                    self._shipped += count
                    self._settle()
                    return
                self._start()
            self._shipped += count
            sock = self._sock
        assert sock is not None
        try:
            wire.send(sock, rows)
        except OSError:
            pass  # it ended: the listener counts these rows lost
        except Exception:
            # Rows that cannot be pickled (a bug): counted lost, the log goes on.
            logger.exception("prediction log: cannot hand %d rows to the writer", count)
            with self._lock:
                self._lose(count)

    def _lose(self, rows: int) -> None:
        """Count ``rows`` that never reached the writer as lost (with the lock)."""
        base, progress = self._base, self.progress
        self._base = Progress(base.done + rows, base.written, base.lost + rows, base.error)
        self.progress = Progress(
            progress.done + rows, progress.written, progress.lost + rows, progress.error
        )

    def close(self, seconds: float) -> None:
        self._closing = True
        if self._sock is not None and not self._ended:
            with contextlib.suppress(OSError):
                wire.send(self._sock, seconds)

    def join(self, timeout: float) -> None:
        """Wait for the writer to finish (killed after ``timeout``), and count what it did
        not write as lost."""
        process = self._process
        if process is not None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.error("prediction log: the writer did not stop in time; killing it")
                process.kill()
                process.wait()
        if self._listener is not None:
            self._listener.join(5.0)
        with self._lock:
            if self.progress.done < self._shipped:
                self._settle()
        if self._sock is not None:
            self._sock.close()


def _let_others_run() -> None:
    time.sleep(0)
