"""The CLI, called in-process through its entry point."""

from __future__ import annotations

import csv
import json
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dockyard.cli.commands
from dockyard import __version__
from dockyard.bundle.store import REVIEWED_TRUSTED_TYPES
from dockyard.cli.main import COMMANDS, commands_of, main
from dockyard.errors import ExitCode


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dockyard {__version__}"


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("train", "serve", "predict", "inspect"):
        assert command in out


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    assert "Usage:" in capsys.readouterr().out


def test_the_command_table_names_what_each_module_registers() -> None:
    modules = {m.name for m in pkgutil.iter_modules(dockyard.cli.commands.__path__)}
    assert modules == set(COMMANDS.values())
    for module in modules:
        assert sorted(commands_of(module)) == sorted(n for n, m in COMMANDS.items() if m == module)


def _modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split())


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n in modules or any(m.startswith(f"{n}.") for m in modules)]


def test_serve_starts_without_what_other_commands_need(iris_bundle: Path) -> None:
    # Everything `dockyard serve` imports before it listens is start-up time (the ONNX
    # runtime's goal is a first answer within half a second of the process starting).
    modules = _modules_after(
        "import gc, sys\n"
        "import uvicorn\n"
        "def run(server, sockets=None):\n"
        "    server.started = True\n"
        "    print(*sys.modules, f'gc:{gc.isenabled()}')\n"
        "uvicorn.Server.run = run\n"
        "from dockyard.cli.main import main\n"
        f"sys.exit(main(['serve', {str(iris_bundle)!r}, '--port', '0']))\n"
    )
    assert "dockyard.server.app" in modules
    # The collector is off for start-up (the server's lifespan turns it back on).
    assert "gc:False" in modules
    others = tuple(f"dockyard.cli.commands.{m}" for m in set(COMMANDS.values()) - {"serve"})
    unwanted = (
        *("sklearn", "scipy", "pandas", "skops", "skl2onnx", "matplotlib"),  # the slim image
        *("dockyard.training", "dockyard.packaging", *others),
        "rich",  # the spinner, on a terminal only: plain print writes to a log
        "jinja2",  # loaded with the first web page
        "prometheus_client",  # with the first metrics flush, a second after start
        "dockyard.batch",  # with the first CSV request
        "swagger_ui_bundle",  # its assets are found without importing it
        "packaging.requirements",  # only recording an environment parses requirements
    )
    assert _loaded(modules, unwanted) == []


def test_predict_starts_without_the_server(iris_bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n")
    modules = _modules_after(
        "import sys\n"
        "from dockyard.cli.main import main\n"
        f"code = main(['predict', {str(iris_bundle)!r}, {str(source)!r}, '-o', {str(tmp_path / 'out.csv')!r}])\n"
        "print(*sys.modules)\n"
        "sys.exit(code)\n"
    )
    assert "dockyard.batch.csv" in modules
    unwanted = (
        *("sklearn", "scipy", "pandas", "skops", "skl2onnx", "matplotlib"),
        *("dockyard.server", "dockyard.settings", "dockyard.cli.commands.serve"),
        *("starlette", "uvicorn", "pydantic_settings", "jinja2", "packaging.requirements"),
    )
    assert _loaded(modules, unwanted) == []


def test_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "iris", "--out", str(tmp_path / "iris")]) == 0
    assert "Trained iris 1.0.0" in capsys.readouterr().out
    assert (tmp_path / "iris" / "bundle.json").is_file()
    assert main(["train", "iris", "--out", str(tmp_path / "iris")]) == 4
    assert "already exists" in capsys.readouterr().err


def test_unknown_example_is_one_line_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "mnist", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "error: Unknown example 'mnist'" in err
    assert "Traceback" not in err


def test_predict_csv_file(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    rows = ["5.1,3.5,1.4,0.2", "6.3,2.8,5.1,1.5", "7.7,3.0,6.1,2.3"] * 100
    source.write_text(
        "sepal_length,sepal_width,petal_length,petal_width\n" + "\n".join(rows) + "\n"
    )
    target = tmp_path / "out" / "scored.csv"
    assert (
        main(["predict", str(iris_bundle), str(source), "-o", str(target), "--chunk-rows", "7"])
        == 0
    )
    with target.open() as fh:
        scored = list(csv.DictReader(fh))
    assert len(scored) == 300
    assert [r["predicted_species"] for r in scored[:3]] == ["setosa", "versicolor", "virginica"]
    assert "Scored 300 rows" in capsys.readouterr().err


def test_predict_bad_file_leaves_no_output(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n1,2,x,4\n")
    target = tmp_path / "scored.csv"
    assert main(["predict", str(iris_bundle), str(source), "-o", str(target)]) == ExitCode.DATA
    assert "line 3: petal_length: expected a number, got 'x'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [source]


def test_predict_missing_input(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(iris_bundle), str(tmp_path / "nope.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_inspect(wine_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(wine_bundle)]) == 0
    out = capsys.readouterr().out
    assert "wine 1.0.0" in out
    assert "accuracy" in out
    assert "od280_od315_of_diluted_wines" in out
    assert "all" in out
    assert "checksums match" in out


def test_inspect_json(iris_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(iris_bundle), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "iris"


def test_inspect_tampered(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = Path(shutil.copytree(iris_bundle, tmp_path / "iris"))
    with (copy / "model.skops").open("ab") as fh:
        fh.write(b"x")
    assert main(["inspect", str(copy)]) == 3
    assert "failed its integrity check" in capsys.readouterr().err


def test_serve_refuses_mismatched_versions(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = Path(shutil.copytree(iris_bundle, tmp_path / "iris"))
    doc = json.loads((copy / "bundle.json").read_text())
    doc["environment"]["packages"]["scikit-learn"] = "1.0.2"
    (copy / "bundle.json").write_text(json.dumps(doc))
    assert main(["serve", str(copy), "--port", "0"]) == 3
    err = capsys.readouterr().err
    assert "scikit-learn 1.0.2 recorded" in err
    assert "--allow-version-mismatch" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict"]) == 2
    assert "Missing argument" in capsys.readouterr().err


def test_a_mistyped_command_is_answered_with_close_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The suggestions come from the whole table, not only from the modules loaded so far.
    assert main(["servee"]) == 2
    assert "No such command 'servee'. Did you mean 'serve', 'save'?" in capsys.readouterr().err


def test_settings_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.cli.commands.serve import environment_for, settings_from_flags
    from dockyard.settings import Settings

    monkeypatch.setenv("DOCKYARD_PORT", "9100")
    monkeypatch.setenv("DOCKYARD_WORKERS", "3")
    settings = settings_from_flags(port=9200, workers=None, bundles=[Path("a"), Path("b")])
    assert (settings.port, settings.workers) == (9200, 3)
    env = environment_for(settings)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == settings


def test_import_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib

    import joblib
    from sklearn.linear_model import LinearRegression

    from tests.conftest import churn_frame

    X, _ = churn_frame()
    model = LinearRegression().fit(X[["tenure_months"]], X["monthly_spend"])
    path = tmp_path / "m.pkl"
    joblib.dump(model, path)
    X[["tenure_months", "monthly_spend"]].to_csv(tmp_path / "d.csv", index=False)
    common = [
        "--data",
        str(tmp_path / "d.csv"),
        "--target",
        "monthly_spend",
        "--name",
        "spend",
        "--out",
        str(tmp_path / "b"),
    ]
    assert main(["import", str(path), "--sha256", "f" * 64, *common]) == 3
    assert "refusing to unpickle" in capsys.readouterr().err
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    assert main(["import", str(path), "--sha256", good, *common]) == 0
    assert "Imported spend 1.0.0" in capsys.readouterr().out


def test_invalid_settings_are_a_usage_error(
    iris_bundle: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["serve", str(iris_bundle), "--runtime", "gpu"]) == 2
    assert "runtime" in capsys.readouterr().err
    monkeypatch.setenv("DOCKYARD_WORKERS", "0")
    assert main(["serve", str(iris_bundle)]) == 2
    err = capsys.readouterr().err
    assert "workers" in err
    assert "Traceback" not in err


def test_predict_with_each_runtime(iris_bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.3,2.8,5.1,1.5\n"
    )
    outputs = []
    for runtime in ("sklearn", "auto"):
        target = tmp_path / f"{runtime}.csv"
        assert (
            main(
                ["predict", str(iris_bundle), str(source), "-o", str(target), "--runtime", runtime]
            )
            == 0
        )
        with target.open() as fh:
            outputs.append([row["predicted_species"] for row in csv.DictReader(fh)])
    assert outputs[0] == outputs[1] == ["setosa", "versicolor"]
    assert main(["predict", str(iris_bundle), str(source), "--runtime", "tpu"]) == 2


def test_import_and_inspect_a_clusterer_without_a_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib

    import joblib
    from sklearn.cluster import KMeans

    from tests.unsupervised import iris_features

    X = iris_features()
    model = KMeans(n_clusters=3, n_init=3, random_state=0).fit(X)
    path = tmp_path / "m.pkl"
    joblib.dump(model, path)
    X.to_csv(tmp_path / "d.csv", index=False)
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    bundle = str(tmp_path / "b")
    args = ["--data", str(tmp_path / "d.csv"), "--name", "segments", "--out", bundle]
    assert main(["import", str(path), "--sha256", good, *args]) == 0
    assert "training_data" in capsys.readouterr().out
    assert main(["inspect", bundle]) == 0
    out = capsys.readouterr().out
    assert "(clustering, sklearn.cluster._kmeans.KMeans)" in out
    assert "cluster sizes: 0 " in out
    assert "silhouette" in out


def test_refusals_name_the_flags_of_the_command_that_loaded_the_bundle(
    wine_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(
        "dockyard.bundle.store.REVIEWED_TRUSTED_TYPES",
        tuple(t for t in REVIEWED_TRUSTED_TYPES if t != "sklearn.tree._tree.Tree"),
    )
    rows = tmp_path / "rows.csv"
    rows.write_text("a\n1\n")
    args = ["predict", str(wine_bundle), str(rows), "-o", str(tmp_path / "out.csv")]
    assert main([*args, "--runtime", "sklearn"]) == 3
    assert "pass --trust sklearn.tree._tree.Tree." in capsys.readouterr().err
