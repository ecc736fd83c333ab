"""The fast path of CSV scoring: files whose features are all numbers are read in large
blocks and parsed with numpy (:mod:`dockyard.batch.numeric`), each input line passed
through untouched; a chunk the vectorised parser declines goes through the exact path."""

from __future__ import annotations

import io
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

import numpy as np

from dockyard.batch.exact import score_exact
from dockyard.batch.numeric import parse_lines
from dockyard.batch.processes import Job, score_in_processes
from dockyard.batch.reading import CHUNK_BYTES, MAX_FIELD_BYTES, Joined
from dockyard.batch.writing import float_rows, label_cell
from dockyard.predictor import Prediction, Predictor

MODEL_SHARE = 0.5
"""The model runs in threads when it costs at least this share of the parsing and
formatting (which hold the GIL). The Iris benchmark's LogisticRegression (0.23) took 15%
more CPU in threads and was no faster; its RandomForest (3.6) took 40% less time."""
# The fast path reads the file in blocks of this size.
_BLOCK = 4 << 20
_NEWLINE = 10


class FastScorer:
    """Scores a numeric-feature CSV in chunks of ``chunk_rows`` rows, read in large
    blocks, handing each chunk the vectorised parser rejects to the exact path.

    :meth:`chunks` can score several chunks at once in threads: the model (ONNX Runtime,
    scikit-learn's compiled code) runs without the GIL, so a RandomForest scores almost
    twice as fast on two cores; parsing and formatting hold the GIL, and gain little.
    """

    def __init__(
        self,
        predictor: Predictor,
        source: IO[bytes],
        width: int,
        positions: Sequence[int],
        chunk_rows: int,
        *,
        escape: bool = True,
    ) -> None:
        self.predictor = predictor
        self.source = source
        self.width = width
        self.positions = positions
        self.chunk_rows = chunk_rows
        # Lines that pass the vectorised parser hold plain decimals only: nothing in them
        # needs escaping. The labels and the lines it declines may.
        self.escape = escape
        self.regression = predictor.task == "regression"
        # Label cells, by whether probabilities follow them.
        self.cells = {
            more: {c: label_cell(c, more, escape=escape) for c in predictor.classes}
            for more in (False, True)
        }

    def chunks(self, threads: int = 1) -> Iterator[tuple[bytes, int, Prediction | None]]:
        """The scored chunks, in file order. With ``threads`` > 1, the model runs in that
        many threads (see :meth:`_in_threads`) when the second chunk shows it costs at
        least :data:`MODEL_SHARE` of what parsing and formatting that chunk cost."""
        jobs = self._jobs()
        if threads > 1:
            measured = 0
            for job in jobs:
                if isinstance(job, _Switch):
                    yield from self._switch(job)
                    return
                data, prediction, model_share = self._timed(job)
                yield data, len(prediction), prediction
                if model_share is None:
                    continue  # scored the exact way: no measure of the model
                # The second measure: the first includes what the model does once.
                measured += 1
                if measured < 2:
                    continue
                if model_share >= MODEL_SHARE:
                    yield from self._in_threads(jobs, threads)
                    return
                break
        for job in jobs:
            if isinstance(job, _Switch):
                yield from self._switch(job)
                return
            data, prediction = self.score(job)
            yield data, len(prediction), prediction

    def _timed(self, job: Job) -> tuple[bytes, Prediction, float | None]:
        """:meth:`score`, and the model's CPU time as a share of the rest's."""
        start = time.thread_time()
        rows, X = self._parse(*job)
        if X is None:
            return *self._format(self._exact(*job[:2])), None
        parsed = time.thread_time()
        prediction = self._predict(X)
        predicted = time.thread_time()
        data, prediction = self._format(_Scored(rows, prediction, None))
        rest = parsed - start + time.thread_time() - predicted
        return data, prediction, (predicted - parsed) / max(rest, 1e-9)

    def _in_threads(
        self, jobs: Iterator[Job | _Switch], threads: int
    ) -> Iterator[tuple[bytes, int, Prediction | None]]:
        """The rest of ``jobs`` with the model run by ``threads`` threads. Only the model:
        the parsing and formatting, which hold the GIL, stay in this thread (spread over
        threads too, they contended for the GIL and a LogisticRegression took 15% longer).
        Chunks are finished in file order, so errors and their order are the serial ones."""
        pending: deque[_Scored | tuple[list[bytes], Future[Prediction]] | Job] = deque()
        pool = ThreadPoolExecutor(threads, thread_name_prefix="dockyard-csv")
        try:
            for job in jobs:
                if isinstance(job, _Switch):
                    while pending:
                        yield self._finish(pending.popleft())
                    yield from self._switch(job)
                    return
                rows, X = self._parse(*job)
                # A chunk the fast path declines is scored when its turn comes.
                pending.append(job if X is None else (rows, pool.submit(self._predict, X)))
                if len(pending) > threads:
                    yield self._finish(pending.popleft())
            while pending:
                yield self._finish(pending.popleft())
        finally:
            # An error, or a consumer that stopped early: nothing goes on scoring after.
            for item in pending:
                if isinstance(item, tuple) and isinstance(item[1], Future):
                    item[1].cancel()
            pool.shutdown(wait=True)

    def _finish(
        self, item: _Scored | tuple[list[bytes], Future[Prediction]] | Job
    ) -> tuple[bytes, int, Prediction]:
        if isinstance(item, _Scored):
            scored = item
        elif isinstance(item[1], Future):
            scored = _Scored(item[0], item[1].result(), None)
        else:
            scored = self._compute(*item)
        data, prediction = self._format(scored)
        return data, len(prediction), prediction

    def in_processes(
        self, processes: int, fd: int
    ) -> Iterator[tuple[bytes, int, Prediction | None]]:
        """:meth:`chunks`, scored by ``processes`` processes that write to ``fd`` (see
        :mod:`dockyard.batch.processes`); from a switch to the csv module on, serially."""
        switch: list[_Switch] = []

        def jobs() -> Iterator[Job]:
            for job in self._jobs():
                if isinstance(job, _Switch):
                    switch.append(job)
                    return
                yield job

        scored = score_in_processes(self.score, jobs(), processes=processes, fd=fd)
        for rows, prediction in scored:
            yield b"", rows, prediction
        if switch:
            yield from self._switch(switch[0])

    def score(self, job: Job) -> tuple[bytes, Prediction]:
        """One chunk from :meth:`_jobs`, scored and formatted."""
        return self._format(self._compute(*job))

    def _switch(self, job: _Switch) -> Iterator[tuple[bytes, int, Prediction | None]]:
        yield from score_exact(
            self.predictor,
            io.BufferedReader(Joined(job.pending, self.source)),
            first_line=job.line,
            header=False,
            chunk_rows=self.chunk_rows,
            width=self.width,
            positions=self.positions,
            escape=self.escape,
        )

    def _jobs(self) -> Iterator[tuple[bytes, int, bool] | _Switch]:
        """Chunks as they become complete: their lines (each ending in a newline), the
        file line of the first, and whether any is blank; or where the csv module must
        take over."""
        pending = b""
        line = 2  # file line of pending's first line (the header is line 1)
        eof = False
        size = self.chunk_rows
        while not eof:
            block = self.source.read(_BLOCK)
            eof = not block
            pending += block
            cut = len(pending) if eof else pending.rfind(b"\n") + 1
            region = pending[:cut]
            returns = b"\r" in region  # a byte search: far faster than counting
            if (
                b'"' in region
                or (returns and region.count(b"\r") != region.count(b"\r\n"))
                or (cut == 0 and len(pending) > MAX_FIELD_BYTES)
            ):
                # Quoted fields may span lines, and lone carriage returns end them: from
                # here on, the csv module reads the file.
                yield _Switch(pending, line)
                return
            rest = pending[cut:]
            if returns:
                region = region.replace(b"\r\n", b"\n")
            if eof and region and not region.endswith(b"\n"):
                region += b"\n"
            ends = np.flatnonzero(np.frombuffer(region, dtype=np.uint8) == _NEWLINE)
            if len(ends) and (ends[0] == 0 or (np.diff(ends) == 1).any()):
                chunks, done = self._blank_chunks(region, eof)
            else:
                # No blank lines: chunk boundaries straight from the newline positions.
                bounds = _bounds(ends, size, eof)
                stops = [int(ends[b - 1]) + 1 for b in bounds]
                starts = [0, *stops][: len(stops)]
                firsts = [0, *bounds][: len(bounds)]
                chunks = [
                    (region[a:b], first, False)
                    for a, b, first in zip(starts, stops, firsts, strict=True)
                ]
                done = (bounds[-1] if bounds else 0, stops[-1] if stops else 0)
            for data, first, blanks in chunks:
                yield data, line + first, blanks
            line += done[0]
            pending = region[done[1] :] + rest

    def _blank_chunks(
        self, region: bytes, eof: bool
    ) -> tuple[list[tuple[bytes, int, bool]], tuple[int, int]]:
        """Chunks of ``chunk_rows`` non-blank lines when blank lines are interspersed;
        and how many lines and bytes they took."""
        lines = region.split(b"\n")
        lines.pop()  # region ends with a newline
        chunks = []
        start = taken = 0
        while start < len(lines):
            end, full = _chunk_end(lines, start, self.chunk_rows, CHUNK_BYTES)
            if not full and not eof:
                break  # wait for the rest of this chunk
            part = lines[start:end]
            taken += sum(map(len, part)) + len(part)
            if any(part):
                chunks.append((b"\n".join(part) + b"\n", start, True))
            start = end
        return chunks, (start, taken)

    def _compute(self, data: bytes, first_line: int, blanks: bool) -> _Scored:
        """Parse and predict one chunk (``data``: whole lines, each ending in a newline)."""
        rows, X = self._parse(data, first_line, blanks)
        if X is None:
            return self._exact(data, first_line)
        return _Scored(rows, self._predict(X), None)

    def _parse(
        self, data: bytes, first_line: int, blanks: bool
    ) -> tuple[list[bytes], np.ndarray | None]:
        """The chunk's non-blank lines, and their features if the vectorised parser reads
        them and the validator passes every value (``None`` otherwise)."""
        lines = data.split(b"\n")
        lines.pop()
        rows = [x for x in lines if x] if blanks else lines
        parsed = b"\n".join(rows) + b"\n" if blanks else data
        # One line longer than a chunk is no plain numeric row (the csv module then
        # refuses it, without the vectorised parser's arrays of several times its size).
        if (len(rows) > 1 or len(parsed) <= CHUNK_BYTES) and (parsed.isascii() or _utf8(parsed)):
            X = parse_lines(parsed, self.width, self.positions)
            if X is not None and self.predictor.validator.passes_matrix(X):
                return rows, X
        return rows, None

    def _predict(self, X: np.ndarray) -> Prediction:
        return self.predictor.predict_matrix(X)

    def _exact(self, data: bytes, first_line: int) -> _Scored:
        """Not plain decimals, or values the validator refuses: these lines read as the
        csv module does, and the validator words the errors."""
        scored = list(
            score_exact(
                self.predictor,
                io.BytesIO(data),
                first_line=first_line,
                header=False,
                chunk_rows=data.count(b"\n") + 1,
                chunk_bytes=len(data) + 1,
                width=self.width,
                positions=self.positions,
                escape=self.escape,
            )
        )
        body, _, prediction = scored[0]
        assert len(scored) == 1
        assert prediction is not None
        return _Scored([], prediction, body)

    def _format(self, scored: _Scored) -> tuple[bytes, Prediction]:
        prediction = scored.prediction
        if scored.body is not None:
            return scored.body, prediction
        rows = scored.rows
        # Each line's pieces, interleaved into one list for one join: a join per line
        # costs more than the rest of the formatting.
        pieces: list[list[bytes]]
        if self.regression:
            pieces = [rows, [b","] * len(rows), float_rows(np.asarray(prediction.outputs))]
        else:
            more = prediction.probabilities is not None
            cells = self.cells[more]
            try:
                labels = list(map(cells.__getitem__, prediction.outputs))
            except KeyError:  # a label outside the recorded classes: encode it on the way
                labels = [
                    cells.get(o) or label_cell(o, more, escape=self.escape)
                    for o in prediction.outputs
                ]
            pieces = [rows, labels]
            if prediction.probabilities is not None:
                pieces.append(float_rows(prediction.probabilities))
        step = len(pieces) + 1
        flat = [b"\n"] * (step * len(rows))
        for i, column in enumerate(pieces):
            flat[i::step] = column
        return b"".join(flat), prediction


@dataclass(frozen=True, slots=True)
class _Switch:
    pending: bytes
    line: int


@dataclass(frozen=True, slots=True)
class _Scored:
    rows: list[bytes]
    prediction: Prediction
    body: bytes | None
    """Already formatted by the exact path, when the fast one declined the chunk."""


def _bounds(ends: np.ndarray, size: int, eof: bool) -> list[int]:
    """Line counts at which chunks end, given the positions of the newlines ending each
    line: every ``size`` lines, or sooner where ``CHUNK_BYTES`` would be passed (a line
    longer than that is a chunk of its own). Without ``eof``, an unfinished last chunk is
    left for the next block."""
    count = len(ends)
    # At the end of the file, the last chunk may be short.
    bounds = [*range(size, count, size), *([count] if count else [])]
    stops = ends[np.asarray(bounds, dtype=np.intp) - 1] + 1
    if bounds and int(np.diff(stops, prepend=0).max()) > CHUNK_BYTES:
        bounds = []
        line = start = 0
        while line < count:
            fit = int(np.searchsorted(ends, start + CHUNK_BYTES - 1, side="right"))
            line = min(line + size, max(fit, line + 1))
            bounds.append(line)
            start = int(ends[line - 1]) + 1
    if not eof and bounds and bounds[-1] == count:
        # The last chunk may go on in the next block, unless it is full already.
        first = bounds[-2] if len(bounds) > 1 else 0
        begin = int(ends[first - 1]) + 1 if first else 0
        if count - first < size and int(ends[-1]) + 1 - begin <= CHUNK_BYTES:
            bounds.pop()
    return bounds


def _chunk_end(lines: list[bytes], start: int, size: int, limit: int) -> tuple[int, bool]:
    """End of the chunk of ``size`` non-blank lines from ``start``, or of fewer when the
    next would take it past ``limit`` bytes; whether it is full."""
    count = taken = 0
    for index in range(start, len(lines)):
        taken += len(lines[index]) + 1
        if taken > limit and index > start:
            return index, True
        if lines[index]:
            count += 1
            if count == size:
                return index + 1, True
    return len(lines), False


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
