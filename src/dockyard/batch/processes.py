"""Scoring chunks in forked processes that write their output themselves, in file order.

The parent reads the input and scores every ``processes``-th chunk; each child scores its
share of the others. Nothing scored travels back: whoever scored a chunk writes it to the
output file descriptor when its turn comes, and the parent hands out the turns, so the
output is byte for byte the serial one. A chunk that fails in a child is scored again in
the parent, which raises its error (naming its line) as the serial path would, after every
earlier chunk is written.

For command-line use only: never fork a server.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, Pipe

from dockyard.predictor import Prediction

Job = tuple[bytes, int, bool]
"""Whole CSV lines, the file line of the first, whether any is blank."""
Score = Callable[[Job], tuple[bytes, Prediction]]

# A pipe this large takes a whole chunk without waiting for the child to read it (Linux
# allows up to 1 MiB unprivileged; elsewhere the sends just wait longer).
_PIPE_BYTES = 1 << 20


def score_in_processes(
    score: Score, jobs: Iterator[Job], *, processes: int, fd: int
) -> Iterator[tuple[int, Prediction | None]]:
    """Score ``jobs`` with ``score`` in this process and ``processes - 1`` children, writing
    the output to ``fd``; yield each chunk's row count in order, with its prediction when
    it was scored in this process."""
    children = _Children(score, fd)
    try:
        current = list(itertools.islice(jobs, processes))
        for index, job in enumerate(current[1:]):
            children.send(index, job)
        while current:
            try:
                data, prediction = score(current[0])
            except BaseException:
                # A child's chunk of the previous round comes first in the file: its error,
                # if it has one, is the one the serial path would have raised.
                yield from children.confirm()
                raise
            upcoming = list(itertools.islice(jobs, processes))
            yield from children.confirm()
            write(fd, data)
            yield len(prediction), prediction
            for index, job in enumerate(current[1:]):
                yield from children.confirm()
                children.grant(index, job)
                # Sent after the turn to write, so the child writes before scoring it.
                if index + 1 < len(upcoming):
                    children.send(index, upcoming[index + 1])
            current = upcoming
        yield from children.confirm()
    finally:
        children.close()


class _Children:
    """Forked children, each scoring the jobs sent to it and writing one when granted.

    Each reads one pipe in order (its jobs, and the turns to write them) and answers on
    another with short messages only, so neither side can wait on the other in a circle.
    """

    def __init__(self, score: Score, fd: int) -> None:
        self._score = score
        self._fd = fd
        self._pids: list[int] = []
        self._pipes: list[tuple[Connection, Connection]] = []  # (to the child, from it)
        self._granted: tuple[Connection, Job] | None = None

    def send(self, index: int, job: Job) -> None:
        if index == len(self._pipes):
            self._fork()  # only once there is work for it: small files never fork
        _tell(self._pipes[index][0], job)

    def grant(self, index: int, job: Job) -> None:
        """Let child ``index`` write ``job``'s chunk: every chunk before it is written."""
        to_child, from_child = self._pipes[index]
        _tell(to_child, None)
        self._granted = (from_child, job)

    def confirm(self) -> Iterator[tuple[int, None]]:
        """Wait until the granted chunk is written; yield its row count."""
        if self._granted is None:
            return
        from_child, job = self._granted
        self._granted = None
        try:
            reply = from_child.recv()
        except (EOFError, ConnectionError):
            reply = "the process ended unexpectedly"
        if isinstance(reply, str):
            # Scored again here: the chunk's own error, raised as the serial path would.
            self._score(job)
            raise RuntimeError(f"A scoring process failed: {reply}")
        yield reply, None

    def close(self) -> None:
        # Each child exits at the end of its input, after any write it was granted.
        for to_child, from_child in self._pipes:
            to_child.close()
            from_child.close()
        for pid in self._pids:
            os.waitpid(pid, 0)

    def _fork(self) -> None:
        jobs_out, jobs_in = Pipe(duplex=False)
        replies_out, replies_in = Pipe(duplex=False)
        _enlarge(jobs_in)
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                jobs_in.close()
                replies_out.close()
                for pipes in self._pipes:  # the other children's, so they see their input end
                    for connection in pipes:
                        connection.close()
                self._serve(jobs_out, replies_in)
                status = 0
            finally:
                os._exit(status)  # never the parent's clean-up, buffers or atexit handlers
        jobs_out.close()
        replies_in.close()
        self._pids.append(pid)
        self._pipes.append((jobs_in, replies_out))

    def _serve(self, jobs: Connection, replies: Connection) -> None:
        while True:
            try:
                job = jobs.recv()
            except EOFError:
                return
            try:
                data, prediction = self._score(job)
            except Exception as exc:  # the parent scores this chunk again and raises
                failure: str | None = f"{type(exc).__name__}: {exc}"[:1000]
            else:
                failure = None
            try:
                jobs.recv()  # the turn to write
            except EOFError:
                return
            if failure is None:
                try:
                    write(self._fd, data)
                except OSError as exc:
                    failure = f"{type(exc).__name__}: {exc}"[:1000]
            if failure is not None:
                replies.send(failure)
                return
            replies.send(len(prediction))


def _enlarge(connection: Connection) -> None:
    with contextlib.suppress(ImportError, AttributeError, OSError):
        import fcntl

        fcntl.fcntl(connection.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)


def _tell(connection: Connection, message: Job | None) -> None:
    # A child that is gone is reported by confirm(), when its chunk's turn comes.
    with contextlib.suppress(ConnectionError):
        connection.send(message)


def write(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd``."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
