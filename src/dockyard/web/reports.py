"""The training report as the model page shows it: figures and per-class scores, read from
the bundle's ``report/report.json`` with the names and formats training wrote it with
(:mod:`dockyard.bundle.report_manifest`). Plain data for the templates; no HTTP here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dockyard.bundle.report_manifest import (
    INDEX_FILE,
    INDEX_PATH,
    MANIFEST_PATH,
    REPORT_DIR,
    Manifest,
    format_score,
)
from dockyard.predictor import Predictor


@dataclass(frozen=True, slots=True)
class ReportFigure:
    url: str
    title: str
    caption: str
    alt: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ClassRow:
    name: str
    precision: str
    recall: str
    f1: str
    support: int


@dataclass(frozen=True, slots=True)
class Report:
    url: str
    estimator: str
    """As the report describes it, e.g. ``Pipeline: StandardScaler → LogisticRegression``."""
    figures: tuple[ReportFigure, ...]
    per_class: tuple[ClassRow, ...]


def load_report(predictor: Predictor, base_url: str) -> Report | None:
    """The report's figures, from ``report/report.json`` in the bundle; ``None`` if the
    bundle has none (saved before reports, or a hand-made bundle) or one of a newer
    schema."""
    files = predictor.metadata.files
    if MANIFEST_PATH not in files or INDEX_PATH not in files:
        return None
    try:
        manifest = Manifest.from_json((predictor.bundle.path / MANIFEST_PATH).read_bytes())
    except OSError:
        return None
    if manifest is None:
        return None
    figures = tuple(
        ReportFigure(f"{base_url}/{f.file}", f.title, f.caption, f.alt, f.width, f.height)
        for f in manifest.figures
        # Only files the bundle's checksums cover; no path leaves report/.
        if report_path(predictor, f.file) is not None
    )
    per_class = tuple(
        ClassRow(
            c.name, format_score(c.precision), format_score(c.recall), format_score(c.f1), c.support
        )
        for c in manifest.per_class or ()
    )
    return Report(f"{base_url}/{INDEX_FILE}", manifest.estimator, figures, per_class)


def report_path(predictor: Predictor, file: str) -> Path | None:
    """The bundle file behind a report URL, only if the bundle's checksums list it."""
    key = f"{REPORT_DIR}/{file}"
    if "/" in file or key not in predictor.metadata.files:
        return None
    return predictor.bundle.path / key
