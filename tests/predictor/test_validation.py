from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dockyard.bundle.metadata import Feature
from dockyard.errors import InvalidInput
from dockyard.predictor.validation import MAX_ERRORS, Validator

FEATURES = [
    Feature(name="x", type="number", minimum=0, maximum=1),
    Feature(name="n", type="integer"),
    Feature(name="flag", type="boolean"),
    Feature(name="colour", type="category", categories=["blue", "red"]),
    Feature(name="maybe", type="number", nullable=True),
]
V = Validator(FEATURES)
GOOD = {"x": 0.5, "n": 3, "flag": True, "colour": "red", "maybe": None}


def reasons(exc: pytest.ExceptionInfo[InvalidInput]) -> dict[str | None, str]:
    return {e.field: e.reason for e in exc.value.errors}


def test_valid_record() -> None:
    columns = V.records([GOOD])
    assert columns[:4] == [[0.5], [3.0], [1.0], ["red"]]
    assert math.isnan(columns[4][0])


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("x", "0.5", "expected a number, got string"),
        ("x", True, "expected a number, got boolean"),
        ("x", [1], "expected a number, got array"),
        ("x", None, "is required and may not be null or empty"),
        ("x", 10**400, "must be between -1e+15 and 1e+15"),
        ("x", -2e15, "must be between -1e+15 and 1e+15"),
        ("x", float("inf"), "must be a finite number, not NaN or infinity"),
        ("x", float("nan"), "must be a finite number, not NaN or infinity"),
        ("n", 2.5, "expected an integer"),
        ("n", 2**60, "must be between -1e+15 and 1e+15"),
        ("flag", 1, "expected true or false, got number"),
        ("colour", "green", "unknown category 'green'; expected one of: blue, red"),
        ("colour", 1, "expected a string, got number"),
    ],
)
def test_each_bad_value_names_field_and_reason(field: str, value: object, reason: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        V.records([{**GOOD, field: value}])
    assert reasons(exc) == {field: reason}


def test_missing_and_unknown_fields_are_all_reported() -> None:
    record = {k: v for k, v in GOOD.items() if k != "n"} | {"extra": 1}
    with pytest.raises(InvalidInput) as exc:
        V.records([record])
    assert reasons(exc) == {"n": "missing", "extra": "unknown feature"}


def test_a_nullable_feature_left_out_counts_as_missing() -> None:
    record = {k: v for k, v in GOOD.items() if k != "maybe"}
    assert math.isnan(V.records([record])[4][0])
    assert math.isnan(V.text_record({k: str(v) for k, v in record.items()})[4][0])
    # A required one is still named.
    with pytest.raises(InvalidInput) as exc:
        V.records([{k: v for k, v in record.items() if k != "x"}])
    assert reasons(exc) == {"x": "missing"}


OPEN = [
    Feature(name="channel", type="category", categories=["store", "web"], accepts_unknown=True),
    Feature(name="plan", type="category", categories=["basic", "pro"]),
    Feature(name="review", type="text", nullable=True),
]


def test_an_open_category_accepts_and_counts_unseen_values() -> None:
    validator = Validator(OPEN)
    record = {"channel": "phone", "plan": "pro", "review": "never seen before"}
    columns = validator.records([record, {**record, "channel": "web"}, record])
    assert columns == [["phone", "web", "phone"], ["pro"] * 3, ["never seen before"] * 3]
    assert validator.text_columns([["fax"], ["basic"], [""]], first_line=2) == [
        ["fax"],
        ["basic"],
        [None],
    ]
    assert validator.unseen.drain() == {"channel": 3}
    assert validator.unseen.drain() == {}
    # The strict one still refuses, with the list; a category is still a string.
    with pytest.raises(InvalidInput) as exc:
        validator.records([{**record, "plan": "gold", "channel": 3}])
    assert reasons(exc) == {
        "plan": "unknown category 'gold'; expected one of: basic, pro",
        "channel": "expected a string, got number",
    }


def test_text_takes_any_string_and_only_strings() -> None:
    validator = Validator(OPEN)
    text = 'Ünïcode, commas, "quotes"\nand a new line ' * 50
    record = {"channel": "web", "plan": "pro", "review": text}
    assert validator.records([record])[2] == [text]
    assert validator.records([{**record, "review": ""}])[2] == [""]
    with pytest.raises(InvalidInput) as exc:
        validator.records([{**record, "review": 5}])
    assert reasons(exc) == {"review": "expected a string, got number"}


def test_batch_errors_carry_row_indices() -> None:
    with pytest.raises(InvalidInput) as exc:
        V.records([GOOD, {**GOOD, "x": "bad"}, "not an object"])
    assert [(e.row, e.field) for e in exc.value.errors] == [(1, "x"), (2, None)]


def test_error_count_is_capped() -> None:
    with pytest.raises(InvalidInput) as exc:
        V.records([{**GOOD, "x": "bad"}] * (MAX_ERRORS * 3))
    assert len(exc.value.errors) == MAX_ERRORS


def test_integral_floats_are_integers() -> None:
    assert V.records([{**GOOD, "n": 4.0}])[1] == [4.0]


def test_text_record() -> None:
    columns = V.text_record({"x": "0.25", "n": "7", "flag": "yes", "colour": "blue", "maybe": ""})
    assert columns[:4] == [[0.25], [7.0], [1.0], ["blue"]]
    with pytest.raises(InvalidInput) as exc:
        V.text_record({"x": "nan", "n": "1.5", "flag": "perhaps", "colour": "blue", "extra": "1"})
    assert reasons(exc) == {
        "extra": "unknown feature",
        "x": "must be a finite number, not NaN or infinity",
        "n": "expected an integer, got '1.5'",
        "flag": "expected true or false, got 'perhaps'",
    }


def test_text_columns_name_lines() -> None:
    with pytest.raises(InvalidInput) as exc:
        V.text_columns(
            [["1", "x"], ["1", "2"], ["true", "false"], ["red", "red"], ["", ""]], first_line=2
        )
    assert [(e.field, e.line) for e in exc.value.errors] == [("x", 3)]


def test_json_columns() -> None:
    columns = V.json_columns(
        {"x": [0.5], "n": [1], "flag": [False], "colour": ["red"], "maybe": [1.0]}
    )
    assert columns == [[0.5], [1.0], [0.0], ["red"], [1.0]]
    with pytest.raises(InvalidInput) as exc:
        V.json_columns({"x": [0.5], "what": [1]})
    assert reasons(exc)["what"].startswith("unknown input")
    assert reasons(exc)["n"] == "missing input tensor"


NUMBERS = [Feature(name=n, type="number") for n in ("a", "b", "c")]
_EDGES = [1e15, -1e15, 10**15, 10**15 + 1, -(10**15) - 1, 1e15 * (1 + 2**-52), 0, -0.0, 2.5]
_VALUES = st.one_of(
    st.floats(min_value=-1e15, max_value=1e15),
    st.sampled_from(_EDGES),
    st.sampled_from([math.nan, math.inf, -math.inf, True, None, "1", [1]]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**17), max_value=10**17),
)
_RECORDS = st.one_of(
    st.fixed_dictionaries({"a": _VALUES, "b": _VALUES, "c": _VALUES}),
    st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), _VALUES, max_size=4),
    _VALUES,
)


def _record(**values: object) -> dict[str, object]:
    return {"a": 1.0, "b": 2, "c": 3.5, **values}


@settings(max_examples=300, deadline=None)
@given(st.lists(_RECORDS, min_size=1, max_size=4))
@example([_record(a=edge) for edge in _EDGES])
@example([_record(c=10**15 + 1)])
@example([_record(b=1e15 * (1 + 2**-52))])
@example([_record(a=-(10**15) - 1)])
@example([_record(a=math.nan)])
@example([_record(b=-math.inf)])
@example([_record(c=True)])
@example([_record(d=1.0)])
@example([{"a": 1.0, "b": 2.0}])
@example([_record(), [1.0, 2.0, 3.0]])
def test_all_number_schemas_take_a_shortcut_with_the_same_outcome(records: list) -> None:
    fast = Validator(NUMBERS)
    general = Validator(NUMBERS)
    general._all_numbers = False  # the path every other schema takes

    def outcome(validator: Validator) -> object:
        try:
            return ("ok", validator.records(records))
        except InvalidInput as exc:
            return ("invalid", [e.as_dict() for e in exc.errors])

    got, expected = outcome(fast), outcome(general)
    assert repr(got) == repr(expected)  # repr: NaN never equals itself; -0.0 is kept


NUMERIC = Validator([Feature(name="x", type="number"), Feature(name="n", type="integer")])


@pytest.mark.parametrize(
    ("rows", "passes"),
    [
        ([[0.5, 3.0], [-1e15, 1e15]], True),
        ([[2.5, 2.5]], False),  # a fraction in the integer feature
        ([[1e15 + 2, 1.0]], False),  # outside MAX_MAGNITUDE
        ([[math.nan, 1.0]], False),
        ([[math.inf, 1.0]], False),
        ([[1.0, -math.inf]], False),
    ],
)
def test_passes_matrix_applies_the_number_rules(rows: list[list[float]], passes: bool) -> None:
    import numpy as np

    X = np.array(rows)
    assert NUMERIC.passes_matrix(X) is passes
    # The same rules as the text converters, which word the refusals.
    refused = False
    try:
        NUMERIC.text_columns([[repr(v) for v in X[:, j].tolist()] for j in range(2)], first_line=2)
    except InvalidInput:
        refused = True
    assert refused is not passes


def test_passes_matrix_only_for_numeric_features_and_their_shape() -> None:
    import numpy as np

    assert V.passes_matrix(np.zeros((1, len(FEATURES)))) is False  # boolean, category
    assert NUMERIC.passes_matrix(np.zeros((3, 3))) is False
    assert NUMERIC.passes_matrix(np.zeros((0, 2))) is True
