"""Golden answers: the bundle carries what it answered when it was saved, and every place
that serves it proves it still answers the same.

At save time a fixed set of probe rows (the input example, then rows spread over every
feature's training range and categories) is scored through the :class:`Predictor` by each
runtime the bundle can be served with, and the JSON answers (labels, full-precision
probabilities or values) go into ``golden.json``, which ``bundle.json`` checksums like
every other file. :func:`check_golden` scores the same rows again with the runtime that
serves and compares: with that runtime's own recorded answers bit for bit (given the
platform and library versions they were recorded with; otherwise within
:data:`PLATFORM_TOLERANCE`), and with the other runtime's within the tolerance the ONNX
export was verified to. A difference refuses the
bundle, naming the row, both values and both environments.

numpy and the standard library only, like the ONNX serving path: a slim image runs it.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from dockyard.bundle.environment import installed_version, platform_tag
from dockyard.bundle.metadata import BundleMetadata, Feature
from dockyard.bundle.store import checksum_files, write_metadata
from dockyard.errors import BundleError
from dockyard.predictor.predictor import Predictor
from dockyard.runtime.loading import RuntimeChoice, load_for_serving

logger = logging.getLogger("dockyard.golden")

GOLDEN_FILE: Final = "golden.json"
GOLDEN_FORMAT: Final = 1
SPREAD_ROWS: Final = 8
"""Probe rows beyond the input example: feature ranges cut in this many steps."""
PLATFORM_TOLERANCE: Final = 1e-9
"""Bound for a runtime's own answers on another platform, or with other versions of its
libraries, than they were recorded with: they may round the last bits differently
(relative; absolute below 1)."""
_PACKAGES: Final = {
    "sklearn": ("numpy", "scipy", "scikit-learn"),
    "onnx": ("numpy", "onnxruntime"),
}


class GoldenMismatch(BundleError):
    """The model, loaded here, does not answer its probe rows as it did when it was saved."""

    code = "golden_mismatch"


@dataclass(frozen=True, slots=True)
class GoldenCheck:
    """What :func:`check_golden` compared, for the start-up log."""

    rows: int
    runtime: str
    exact: bool
    bounded: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.rows == 0:
            return "no golden answers recorded (saved before Dockyard recorded them): not checked"
        how = (
            "bit for bit"
            if self.exact
            else f"within {PLATFORM_TOLERANCE:g} (another platform or other library versions)"
        )
        text = f"{self.rows} probe rows answered by {self.runtime} as recorded, {how}"
        return text + "".join(f"; within the bundle's tolerance of {b}'s" for b in self.bounded)


def probe_rows(metadata: BundleMetadata) -> list[dict[str, Any]]:
    """The input example, then :data:`SPREAD_ROWS` rows from each feature's minimum to its
    maximum, cycling through its categories (text keeps the example's)."""
    example = [dict(row) for row in metadata.input_example]
    first = example[0]
    spread = [
        {f.name: _probe_value(f, first.get(f.name), step) for f in metadata.features}
        for step in range(SPREAD_ROWS)
    ]
    return example + spread


def _probe_value(feature: Feature, example: Any, step: int) -> Any:
    if feature.type == "category" and feature.categories:
        return feature.categories[step % len(feature.categories)]
    if feature.type == "boolean":
        return step % 2 == 1
    if feature.type in ("number", "integer") and feature.minimum is not None:
        low, high = feature.minimum, feature.maximum if feature.maximum is not None else 0.0
        value = low + (high - low) * step / (SPREAD_ROWS - 1)
        return round(value) if feature.type == "integer" else value
    return example


def answers(predictor: Predictor, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The JSON answers the predictor gives to ``rows``, scored as one batch."""
    return predictor.to_json(predictor.predict_columns(predictor.validator.records(rows)))


def environment(runtime: str) -> dict[str, str]:
    """Where answers were computed: platform, CPU, Python and the runtime's packages."""
    out = {
        "runtime": runtime,
        "platform": platform_tag(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    for name in _PACKAGES.get(runtime, ()):
        version = installed_version(name)
        if version:
            out[name] = version
    return out


def record_golden(
    directory: Path, metadata: BundleMetadata, *, trusted_types: Sequence[str] = ()
) -> BundleMetadata:
    """Score the probe rows with every runtime the bundle at ``directory`` can be served
    with, write ``golden.json`` and a ``bundle.json`` that checksums it; the new metadata."""
    rows = probe_rows(metadata)
    runtimes: tuple[RuntimeChoice, ...] = (
        ("sklearn", "onnx") if metadata.runtime.kind == "onnx" else ("sklearn",)
    )
    recorded: dict[str, Any] = {}
    for runtime in runtimes:
        bundle = load_for_serving(directory, runtime=runtime, trusted_types=trusted_types)
        recorded[runtime] = {
            "environment": environment(runtime),
            "answers": answers(Predictor(bundle), rows),
        }
    document = {"format": GOLDEN_FORMAT, "rows": rows, "runtimes": recorded}
    # json writes floats by repr: they read back to the same bits.
    (directory / GOLDEN_FILE).write_text(
        json.dumps(document, indent=1, allow_nan=False) + "\n", encoding="utf-8"
    )
    updated = metadata.model_copy(update={"files": checksum_files(directory)})
    write_metadata(directory, updated)
    return updated


def check_golden(predictor: Predictor) -> GoldenCheck:
    """Score the bundle's probe rows with ``predictor`` and compare them with the answers
    recorded at save time; raise :class:`GoldenMismatch` on any difference beyond what is
    allowed. A bundle saved without golden answers is served and says so."""
    metadata = predictor.metadata
    if GOLDEN_FILE not in metadata.files:
        check = GoldenCheck(rows=0, runtime=predictor.runtime, exact=False)
        logger.warning("bundle %s: %s", predictor.name, check.describe())
        return check
    # bundle.json vouches for golden.json's sha256, which read_metadata checked on load.
    path = predictor.bundle.path / GOLDEN_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        rows = list(document["rows"])
        recorded = dict(document["runtimes"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleError(
            f"Bundle '{predictor.name}': {GOLDEN_FILE} is unreadable ({exc}).",
            hint="Save the bundle again.",
        ) from None
    here = environment(predictor.runtime)
    got = answers(predictor, rows)
    exact = True
    bounded: list[str] = []
    for runtime, entry in sorted(recorded.items(), key=lambda item: item[0] != predictor.runtime):
        there = dict(entry["environment"])
        if runtime == predictor.runtime:
            # Bit for bit where the same libraries run on the same platform; --allow-version-
            # mismatch may serve with others, which may round the last bits differently.
            same = ("platform", *_PACKAGES.get(runtime, ()))
            exact = all(there.get(k) == here.get(k) for k in same)
            bound = 0.0 if exact else PLATFORM_TOLERANCE
        else:
            bound = max(metadata.runtime.tolerance or 0.0, PLATFORM_TOLERANCE)
            bounded.append(runtime)
        _compare(predictor.name, rows, list(entry["answers"]), got, bound, there, here)
    check = GoldenCheck(
        rows=len(rows), runtime=predictor.runtime, exact=exact, bounded=tuple(bounded)
    )
    logger.info("bundle %s: %s", predictor.name, check.describe())
    return check


def check_bundle(path: Path) -> GoldenCheck:
    """Load the bundle at ``path`` as it is served here and check its golden answers."""
    return check_golden(Predictor.from_path(path))


def _compare(
    name: str,
    rows: list[dict[str, Any]],
    want: list[dict[str, Any]],
    got: list[dict[str, Any]],
    bound: float,
    there: dict[str, str],
    here: dict[str, str],
) -> None:
    if len(want) != len(got):
        raise GoldenMismatch(
            f"Bundle '{name}' answered {len(got)} probe rows, and {len(want)} were recorded."
        )
    for index, (expected, actual) in enumerate(zip(want, got, strict=True)):
        for where, a, b in _differences(expected, actual, bound):
            allowed = "bit for bit" if bound == 0 else f"within {bound:g}"
            raise GoldenMismatch(
                f"Bundle '{name}' no longer answers as it did when it was saved: probe row "
                f"{index} {json.dumps(rows[index], sort_keys=True)} gives {where} = {b!r} "
                f"here ({_describe(here)}), and {a!r} was recorded ({_describe(there)}); "
                f"they must agree {allowed}.",
                hint="The model or the environment that serves it changed: serve it where it "
                "was trained (the versions in bundle.json), or save it again here.",
            )


def _differences(
    expected: Any, actual: Any, bound: float, where: str = ""
) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual), key=str):
            yield from _differences(
                expected.get(key), actual.get(key), bound, f"{where}.{key}".lstrip(".")
            )
        return
    if (
        isinstance(expected, float)
        and isinstance(actual, float)
        and not isinstance(expected, bool)
        and not isinstance(actual, bool)
    ):
        if bound == 0:
            same = expected.hex() == actual.hex()
        else:
            same = abs(expected - actual) <= bound * max(1.0, abs(expected))
        if not same and not (math.isnan(expected) and math.isnan(actual)):
            yield where, expected, actual
        return
    if type(expected) is not type(actual) or expected != actual:
        yield where, expected, actual


def _describe(env: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in env.items())


def main(argv: Sequence[str]) -> int:
    """``python -m dockyard.predictor.golden BUNDLE...``: check each bundle as this
    environment serves it (``DOCKYARD_RUNTIME``); one JSON line per bundle on stdout, and
    exit 1 on the first that answers differently. An image's build and ``dockyard verify``
    run it inside the image."""
    for directory in argv:
        name = Path(directory).name
        try:
            check = check_bundle(Path(directory))
        except BundleError as exc:
            print(json.dumps({"model": name, "ok": False, "problem": str(exc)}), flush=True)
            print(f"{name}: {exc}", file=sys.stderr, flush=True)
            return 1
        result = {"model": name, "ok": True, "runtime": check.runtime, "rows": check.rows}
        print(json.dumps({**result, "checked": check.describe()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
