"""What the monitor and the monitoring page read from a prediction log: the read side of
the log store.

:mod:`dockyard.monitoring.store` implements it (``open_store(url)`` returns a ``Store``
whose ``window`` and ``labelled`` have these shapes; its ``LoggedRow`` has these fields).
The monitor depends on this protocol only, so that it is tested with an in-memory log and
never needs a database driver to type-check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class LoggedRowView(Protocol):
    """One logged prediction row (``status`` 200) as the monitor and the monitoring page
    use it."""

    @property
    def row(self) -> int:
        """0-based within its request."""

    @property
    def time(self) -> float: ...

    @property
    def latency_ms(self) -> float: ...

    @property
    def version(self) -> str: ...

    @property
    def inputs(self) -> Mapping[str, Any] | None:
        """Feature name → value as the request sent it; ``None`` when inputs are not logged."""

    @property
    def prediction(self) -> Any:
        """The label, value, cluster or outlier label answered (a JSON scalar)."""


class LogReader(Protocol):
    """The read API of a prediction log."""

    def window(
        self, model: str, since: float, until: float | None = None
    ) -> Sequence[LoggedRowView]:
        """Answered rows (status 200) of ``model`` logged from ``since`` to ``until`` (epoch s)."""

    def labelled(self, model: str, since: float) -> Sequence[tuple[Any, Any]]:
        """(prediction, truth) of each row of ``model`` since ``since`` that has feedback."""

    def close(self) -> None: ...
