from __future__ import annotations

from dockyard.bundle.metadata import Feature
from dockyard.web.fields import SELECT_LIMIT, build_field, humanize


def test_number_field_carries_the_training_range() -> None:
    field = build_field(
        0, Feature(name="sepal_length", type="number", minimum=4.3, maximum=7.9), 5.1
    )
    assert field.control == "number"
    assert (field.minimum, field.maximum, field.step) == ("4.3", "7.9", "any")
    assert field.value == "5.1"
    assert field.required
    assert field.label == "Sepal length"
    assert "4.3" in field.hint
    assert "7.9" in field.hint


def test_range_keeps_the_exact_float() -> None:
    # A rounded minimum would make an example at the very edge look out of range.
    field = build_field(
        0, Feature(name="s", type="number", minimum=-0.0446416365, maximum=1.0), -0.04
    )
    assert field.minimum == "-0.0446416365"


def test_integer_field_steps_by_one() -> None:
    field = build_field(1, Feature(name="tenure", type="integer", minimum=1, maximum=71), 12)
    assert field.step == "1"
    assert field.value == "12"


def test_whole_float_example_has_no_trailing_zero() -> None:
    assert build_field(0, Feature(name="x", type="number"), 97.0).value == "97"


def test_boolean_is_a_checkbox_or_a_select_when_nullable() -> None:
    box = build_field(2, Feature(name="member", type="boolean"), True)
    assert box.control == "checkbox"
    assert box.value == "true"
    select = build_field(2, Feature(name="member", type="boolean", nullable=True), False)
    assert select.control == "select"
    assert [(o.value, o.selected) for o in select.options] == [
        ("", False),
        ("true", False),
        ("false", True),
    ]
    assert not select.required


def test_category_is_a_select_with_the_example_chosen() -> None:
    field = build_field(
        3, Feature(name="plan", type="category", categories=["basic", "pro"]), "pro"
    )
    assert field.control == "select"
    assert [o.value for o in field.options if o.selected] == ["pro"]
    nullable = build_field(
        3, Feature(name="plan", type="category", categories=["a"], nullable=True), "a"
    )
    assert nullable.options[0].value == ""


def test_many_categories_become_a_text_box_with_suggestions() -> None:
    categories = [f"city {i}" for i in range(SELECT_LIMIT + 1)]
    field = build_field(4, Feature(name="city", type="category", categories=categories), "city 3")
    assert field.control == "text"
    assert len(field.options) == SELECT_LIMIT + 1


def test_text_is_a_text_area() -> None:
    free = build_field(4, Feature(name="note", type="text"), "anything at all")
    assert (free.control, free.type, free.value, free.hint) == (
        "textarea",
        "text",
        "anything at all",
        "Free text",
    )
    assert free.options == ()


def test_an_open_category_is_a_text_box_that_suggests_the_known_ones() -> None:
    feature = Feature(
        name="channel", type="category", categories=["store", "web"], accepts_unknown=True
    )
    field = build_field(5, feature, "web")
    assert field.control == "text"
    assert [o.value for o in field.options] == ["store", "web"]
    assert field.hint == "2 known categories, or a new one; start typing"


def test_labels_are_words_a_person_reads() -> None:
    assert humanize("od280_od315") == "Od280 od315"
    assert humanize("petal-width") == "Petal width"
