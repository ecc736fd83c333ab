"""Each feature of a bundle's schema as the pages show it: a form control, its label, its
training range. Plain data for the templates; no HTTP here."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dockyard.bundle.metadata import Feature, Scalar
from dockyard.bundle.report_manifest import format_number

# Above this many categories a <select> is a chore to scroll; a text box with suggestions
# is quicker to use and still lists every value.
SELECT_LIMIT = 40

_TO = " \u2013 "  # an en dash between the ends of a range


def humanize(name: str) -> str:
    """``sepal_length`` → ``Sepal length``: a label a person reads; the key stays visible."""
    words = name.replace("_", " ").replace("-", " ").strip()
    return (words[:1].upper() + words[1:]) if words else name


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str
    selected: bool


@dataclass(frozen=True, slots=True)
class Field:
    """One form control, generated from one feature of the schema."""

    id: str
    name: str
    label: str
    type: str
    """The schema type: number, integer, boolean, category or text."""
    control: str
    """How it is shown: number, checkbox, select, text (with suggestions in a datalist), or
    textarea (free text)."""
    value: str
    required: bool
    options: tuple[Option, ...] = ()
    minimum: str | None = None
    maximum: str | None = None
    step: str | None = None
    hint: str = ""


def value_text(value: Scalar | None) -> str:
    """A value as a form control holds it: ``true``, ``5`` for ``5.0``, empty for missing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def range_text(feature: Feature) -> str:
    """What a feature took in training: its range, or its categories."""
    if feature.categories is not None:
        shown = ", ".join(feature.categories[:8])
        more = len(feature.categories) - 8
        unseen = "; unseen ones accepted" if feature.accepts_unknown else ""
        return shown + (f", … ({more} more)" if more > 0 else "") + unseen
    if feature.minimum is not None and feature.maximum is not None:
        return f"{format_number(feature.minimum)}{_TO}{format_number(feature.maximum)}"
    if feature.type == "text":
        return "free text"
    if feature.type == "boolean":
        return "true or false"
    return ""


def build_field(index: int, feature: Feature, example: Scalar | None) -> Field:
    identifier = f"f-{index}"
    label = humanize(feature.name)
    required = not feature.nullable
    if feature.type in ("number", "integer"):
        hint = ""
        if feature.minimum is not None and feature.maximum is not None:
            hint = (
                f"Trained on {format_number(feature.minimum)}{_TO}{format_number(feature.maximum)}"
            )
        return Field(
            identifier,
            feature.name,
            label,
            feature.type,
            "number",
            value_text(example),
            required,
            # The exact float, not the rounded text: an example at the very edge of the
            # range must not look out of range.
            minimum=repr(feature.minimum) if feature.minimum is not None else None,
            maximum=repr(feature.maximum) if feature.maximum is not None else None,
            # "any" keeps every real value valid; an integer takes whole steps.
            step="1" if feature.type == "integer" else "any",
            hint=hint,
        )
    if feature.type == "boolean":
        if feature.nullable:
            current = value_text(example)
            options = tuple(
                Option(v, text, v == current)
                for v, text in (("", "(missing)"), ("true", "Yes"), ("false", "No"))
            )
            return Field(
                identifier, feature.name, label, "boolean", "select", current, required, options
            )
        return Field(
            identifier,
            feature.name,
            label,
            "boolean",
            "checkbox",
            "true" if example is True else "false",
            required,
        )
    current = value_text(example)
    if feature.type == "text":
        return Field(
            identifier, feature.name, label, "text", "textarea", current, required, hint="Free text"
        )
    categories = feature.categories
    # A <select> offers only the training categories; a model that accepts unseen ones
    # gets a text box that suggests them.
    if categories is not None and len(categories) <= SELECT_LIMIT and not feature.accepts_unknown:
        options = tuple(Option(c, c, c == current) for c in categories)
        if feature.nullable:
            options = (Option("", "(missing)", current == ""), *options)
        return Field(
            identifier,
            feature.name,
            label,
            "category",
            "select",
            current,
            required,
            options,
            hint=f"{len(categories)} categories",
        )
    options = tuple(Option(c, c, False) for c in categories or ())
    hint = (
        f"{len(options):,} known categories, or a new one; start typing"
        if feature.accepts_unknown
        else f"One of {len(options):,} categories; start typing"
    )
    return Field(
        identifier, feature.name, label, "category", "text", current, required, options, hint=hint
    )
