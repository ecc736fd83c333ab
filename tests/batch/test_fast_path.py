"""The vectorised CSV path and the exact csv-module path give the same bytes."""

from __future__ import annotations

import io
import threading

import pytest

from dockyard.batch import fast as batch_fast
from dockyard.batch.csv import iter_scored, score_csv
from dockyard.errors import InvalidInput
from dockyard.predictor import Predictor
from tests.conftest import threads_scoring

HEADER = "sepal_length,sepal_width,petal_length,petal_width"
ROWS = [f"{4 + i / 50:g},{3 + i % 7 / 10:g},{1 + i / 20:g},{i / 40:g}" for i in range(120)]


def scored(predictor: Predictor, text: str, chunk_rows: int = 50) -> str:
    out = io.StringIO()
    score_csv(predictor, io.BytesIO(text.encode()), out, chunk_rows=chunk_rows)
    return out.getvalue()


def plain() -> str:
    return HEADER + "\n" + "\n".join(ROWS) + "\n"


def test_fast_and_exact_paths_agree(iris: Predictor) -> None:
    fast = scored(iris, plain())
    # A quote anywhere sends the rest of the file through the csv module.
    quoted = HEADER + "\n" + "\n".join(ROWS[:60]) + '\n"' + ROWS[60].replace(",", '","') + '"\n'
    quoted += "\n".join(ROWS[61:]) + "\n"
    assert scored(iris, quoted) == fast
    # A cell the vectorised parser declines ("+5.4") sends just its chunk the exact way.
    declined = plain().replace("\n" + ROWS[70] + "\n", "\n+" + ROWS[70] + "\n", 1)
    assert "+" in declined
    assert scored(iris, declined).replace("\n+", "\n") == fast


def test_crlf_blank_lines_and_no_final_newline(iris: Predictor) -> None:
    fast = scored(iris, plain())
    assert scored(iris, plain().replace("\n", "\r\n")) == fast
    with_blanks = HEADER + "\n\n" + "\n\n".join(ROWS) + "\n\n"
    assert scored(iris, with_blanks) == fast
    assert scored(iris, plain().rstrip("\n")) == fast


@pytest.mark.parametrize("blank", [0, 1, 49, 50, 119, 120])
def test_one_blank_line_anywhere_stays_on_the_fast_path(
    iris: Predictor, monkeypatch: pytest.MonkeyPatch, blank: int
) -> None:
    expected = scored(iris, plain())
    monkeypatch.setattr(batch_fast, "score_exact", None)  # the csv module is not needed
    rows = [*ROWS[:blank], "", *ROWS[blank:]]
    assert scored(iris, HEADER + "\n" + "\n".join(rows) + "\n") == expected


@pytest.mark.parametrize("chunk_rows", [1, 7, 50, 10_000])
def test_chunk_size_changes_nothing_but_rounding(iris: Predictor, chunk_rows: int) -> None:
    # onnxruntime's float32 kernels differ with the batch size in the last bits.
    a = [line.split(",") for line in scored(iris, plain(), chunk_rows).splitlines()]
    b = [line.split(",") for line in scored(iris, plain(), 10_000).splitlines()]
    assert [row[:5] for row in a] == [row[:5] for row in b]
    numbers = [float(v) for row in a[1:] for v in row[5:]]
    expected = [float(v) for row in b[1:] for v in row[5:]]
    assert numbers == pytest.approx(expected, abs=1e-6)


def test_errors_name_the_file_line_in_a_later_chunk(iris: Predictor) -> None:
    lines = plain().splitlines()
    lines[100] = "1,2,oops,4"  # file line 101
    with pytest.raises(InvalidInput) as exc:
        scored(iris, "\n".join(lines) + "\n", chunk_rows=20)
    assert [(e.line, e.field) for e in exc.value.errors] == [(101, "petal_length")]


def test_extra_columns_pass_through_untouched(iris: Predictor) -> None:
    text = "id," + HEADER + "\n" + "\n".join(f"{i},{row}" for i, row in enumerate(ROWS)) + "\n"
    out = scored(iris, text).splitlines()
    assert out[0].startswith("id," + HEADER + ",predicted_species,")
    assert out[5].startswith("4," + ROWS[4] + ",")


def test_regressor_and_categorical_models(diabetes: Predictor, churn: Predictor) -> None:
    example = diabetes.metadata.input_example[0]
    names = list(example)
    text = ",".join(names) + "\n" + ",".join(str(example[n]) for n in names) + "\n"
    out = scored(diabetes, text).splitlines()
    assert out[0].endswith(",predicted_target")
    assert float(out[1].rsplit(",", 1)[1]) == pytest.approx(
        diabetes.predict_columns(diabetes.validator.records([example])).outputs[0]
    )
    record = "basic,north,3,80.0"
    out = scored(churn, "plan,region,tenure_months,monthly_spend\n" + record + "\n").splitlines()
    assert out[1].startswith(record + ",")


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    """All-numeric features, one of them an integer count: the fast path's other rule."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import dockyard

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"size": rng.normal(0, 1, 200), "count": rng.integers(0, 9, 200)})
    y = pd.Series((X["size"] + X["count"] > 4).map({True: "big", False: "small"}), name="kind")
    path = tmp_path_factory.mktemp("counted") / "counted"
    model = LogisticRegression().fit(X.to_numpy(), y.to_numpy())
    dockyard.save_bundle(model, X, y, name="counted", path=path)
    return Predictor.from_path(path)


def test_the_validator_refuses_what_the_parser_reads_with_the_same_words(
    counted: Predictor,
) -> None:
    assert [f.type for f in counted.metadata.features] == ["number", "integer"]
    good = "".join(f"{i / 10:.1f},{i % 9}\n" for i in range(30))
    assert scored(counted, "size,count\n" + good, chunk_rows=10).count("\n") == 31
    # A plain decimal the parser reads, in the integer feature: the validator refuses it,
    # worded as the exact path words it, naming the file line.
    bad = good.replace("\n2.0,2\n", "\n2.0,2.5\n")
    with pytest.raises(InvalidInput) as caught:
        scored(counted, "size,count\n" + bad, chunk_rows=10)
    [error] = caught.value.errors
    assert (error.field, error.reason, error.line) == (
        "count",
        "expected an integer, got '2.5'",
        22,
    )


@pytest.fixture
def model_in_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the model costs, it runs in threads when there are threads."""
    monkeypatch.setattr(batch_fast, "MODEL_SHARE", 0.0)


def threaded(predictor: Predictor, text: str, threads: int, chunk_rows: int = 7) -> bytes:
    blocks = iter_scored(
        predictor, io.BytesIO(text.encode()), chunk_rows=chunk_rows, threads=threads
    )
    return b"".join(block for block, _, _ in blocks)


@pytest.mark.usefixtures("model_in_threads")
def test_threads_give_the_serial_bytes(iris: Predictor) -> None:
    quoted = HEADER + "\n" + "\n".join(ROWS[:60]) + '\n"' + ROWS[60].replace(",", '","') + '"\n'
    quoted += "\n".join(ROWS[61:]) + "\n"
    declined = plain().replace("\n" + ROWS[70] + "\n", "\n+" + ROWS[70] + "\n", 1)
    blanks = HEADER + "\n\n" + "\n\n".join(ROWS) + "\n\n"
    for text in (plain(), quoted, declined, blanks):
        serial = threaded(iris, text, 1)
        assert serial.count(b"\n") == 121
        assert threaded(iris, text, 2) == serial
        assert threaded(iris, text, 3, chunk_rows=1) == threaded(iris, text, 1, chunk_rows=1)


@pytest.mark.usefixtures("model_in_threads")
def test_threads_stop_at_the_first_error_in_file_order(iris: Predictor) -> None:
    lines = plain().splitlines()
    lines[35] = "1,2,oops,4"  # file line 36, in the sixth chunk of 7 rows
    lines[100] = "1,2,3,x"  # a later chunk's error, parsed ahead: never reported
    blocks = iter_scored(
        iris, io.BytesIO(("\n".join(lines) + "\n").encode()), chunk_rows=7, threads=2
    )
    scored = []

    def consume() -> None:
        scored.extend(rows for _, rows, _ in blocks)

    with pytest.raises(InvalidInput) as exc:
        consume()
    assert [(e.line, e.field) for e in exc.value.errors] == [(36, "petal_length")]
    assert sum(scored) == 28  # every chunk before the bad one, as when scored serially


@pytest.mark.usefixtures("model_in_threads")
def test_a_consumer_that_stops_early_leaves_no_scoring_thread(iris: Predictor) -> None:
    text = HEADER + "\n" + "\n".join(ROWS * 20) + "\n"
    blocks = iter_scored(iris, io.BytesIO(text.encode()), chunk_rows=10, threads=2)
    for _ in range(4):  # the header, two chunks measured, one from the threads
        next(blocks)
    assert any(t.name.startswith("dockyard-csv") for t in threading.enumerate())
    blocks.close()
    assert not any(t.name.startswith("dockyard-csv") for t in threading.enumerate())


@pytest.mark.parametrize(("share", "in_threads"), [(0.0, True), (float("inf"), False)])
def test_the_model_runs_in_threads_only_when_it_costs_enough(
    iris: Predictor, monkeypatch: pytest.MonkeyPatch, share: float, in_threads: bool
) -> None:
    monkeypatch.setattr(batch_fast, "MODEL_SHARE", share)
    names = threads_scoring(monkeypatch, iris)
    text = HEADER + "\n" + "\n".join(ROWS * 5) + "\n"
    assert threaded(iris, text, 2, chunk_rows=50) == threaded(iris, text, 1, chunk_rows=50)
    workers = {n for n in names if n.startswith("dockyard-csv")}
    assert bool(workers) is in_threads
    assert threading.current_thread().name in names  # the first chunks, measured here
