"""An in-memory prediction log with the read API of ``dockyard.monitoring.store`` (its
row types are the store's own)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from dockyard.monitoring.store import Feedback, LoggedRow

Row = LoggedRow


class MemoryLog:
    """``window`` and ``labelled`` over lists, as the store answers them."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.feedback: list[Feedback] = []
        self.closed = False

    def add(
        self,
        model: str,
        records: list[dict[str, Any]] | None,
        predictions: list[Any],
        *,
        version: str = "1.0.0",
        at: float | None = None,
        truths: list[Any] | None = None,
    ) -> None:
        """One request per row, logged at ``at`` (default: a minute ago)."""
        at = time.time() - 60 if at is None else at
        for i, prediction in enumerate(predictions):
            request_id = f"{model}-{version}-{len(self.rows)}"
            inputs = None if records is None else records[i]
            self.rows.append(
                Row(
                    request_id,
                    0,
                    at,
                    model,
                    version,
                    "0" * 64,
                    "sklearn",
                    "json",
                    200,
                    1.0,
                    inputs,
                    prediction,
                    {"prediction": prediction},
                )
            )
            if truths is not None:
                self.feedback.append(Feedback(request_id, 0, model, truths[i], at + 1))

    def window(self, model: str, since: float, until: float | None = None) -> list[Row]:
        return [
            r
            for r in self.rows
            if r.model == model and r.time >= since and (until is None or r.time < until)
        ]

    def labelled(self, model: str, since: float) -> list[tuple[Any, Any]]:
        logged = {(r.request_id, r.row): r for r in self.rows if r.model == model}
        return [
            (logged[(f.request_id, f.row)].prediction, f.truth)
            for f in self.feedback
            if f.model == model
            and (f.request_id, f.row) in logged
            and logged[(f.request_id, f.row)].time >= since
        ]

    def close(self) -> None:
        self.closed = True


def churn_traffic(
    bundle: Path, rows: int, seed: int, *, drifted: bool = False
) -> tuple[list[dict[str, Any]], list[Any], list[Any]]:
    """Requests to the churn bundle (``tests.conftest.churn_frame``'s distribution, or with
    a higher spend and more basic plans), the bundle's answers and the true labels."""
    import numpy as np

    from dockyard.bundle.store import load_bundle
    from tests.conftest import churn_frame

    X, y = churn_frame(rows, seed=seed)
    if drifted:
        X["monthly_spend"] = (X["monthly_spend"] + 25).round(2)
        rng = np.random.default_rng(seed)
        X["plan"] = rng.choice(["basic", "plus", "pro"], rows, p=[0.8, 0.1, 0.1])
    predictions = load_bundle(bundle).model.predict(X).tolist()
    records: list[dict[str, Any]] = json.loads(X.to_json(orient="records"))
    return records, predictions, y.tolist()
