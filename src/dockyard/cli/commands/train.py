"""``dockyard train``: train a built-in example, or run your own training script, into a bundle."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import typer

from dockyard.cli.console import err, out
from dockyard.errors import TrainingError, UsageError


def train(
    target: str = typer.Argument(
        ..., help="A built-in example (iris, wine) or your training script (train.py)."
    ),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Bundle directory to write."),
    version: str = typer.Option("1.0.0", help="Model version recorded in an example's bundle."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing bundle."),
    data: Path | None = typer.Option(
        None,
        "--data",
        help="Data directory for the script (DOCKYARD_DATA; read-only in a container).",
    ),
    in_container: bool = typer.Option(
        False, "--in-container", help="Train inside a container built from the locked environment."
    ),
    requirements: Path | None = typer.Option(
        None,
        "--requirements",
        "-r",
        help="With --in-container: your script's requirements (default: pyproject.toml beside it).",
    ),
    base_image: str = typer.Option(
        "python:3.11-slim", help="Base image for --in-container training."
    ),
    offline: bool = typer.Option(
        False, "--offline", help="With --in-container: build from verified wheels, no network."
    ),
    wheelhouse: Path | None = typer.Option(
        None, help="With --in-container: install from this wheelhouse (offline build)."
    ),
    network: bool = typer.Option(
        False, "--network", help="With --in-container: let the script reach the network."
    ),
    memory: str = typer.Option("4g", "--memory", help="With --in-container: memory limit."),
    check_reproducible: bool = typer.Option(
        False, "--check-reproducible", help="Train twice and check the model files are identical."
    ),
) -> None:
    """Train a built-in example, or run your own script, and save the model as a bundle.

    Your script saves its model with dockyard.save_bundle(model, X, y, name=...); given no
    path, save_bundle writes to $DOCKYARD_OUTPUT, which is --out. --data DIR is in
    $DOCKYARD_DATA. The same script runs unchanged with 'python train.py'.
    """
    script = Path(target)
    is_script = script.suffix == ".py"
    container_only = bool(requirements or offline or wheelhouse or network)
    _check(script if is_script else None, out_dir, data, in_container or not container_only)
    if out_dir.exists() and overwrite and is_script:
        shutil.rmtree(out_dir)
    runs = [out_dir]
    if check_reproducible:
        runs.append(out_dir.with_name(f".{out_dir.name}-check"))
        shutil.rmtree(runs[1], ignore_errors=True)
    try:
        for bundle in runs:
            if in_container:
                _in_container(target, bundle, script if is_script else None, requirements,
                              data, base_image, offline, wheelhouse, network, memory, version)  # fmt: skip
            else:
                _locally(target, bundle, data, version=version, overwrite=overwrite)
            _saved(bundle, script.name if is_script else target)
        if check_reproducible:
            _compare(runs[0], runs[1])
    finally:
        if check_reproducible:
            shutil.rmtree(runs[1], ignore_errors=True)
    from dockyard.bundle import read_metadata

    metadata = read_metadata(out_dir)
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in metadata.evaluation.metrics.items())
    out.print(
        f"Trained [bold]{metadata.name}[/] {metadata.version} → {out_dir} "
        f"({metadata.evaluation.method} on {metadata.evaluation.rows} rows: {metrics})"
    )
    if metadata.training is not None:
        out.print(
            f"Training image {metadata.training.image[:19]}…, lock sha256 "
            f"{metadata.training.lock_sha256[:12]}… (recorded in the bundle)"
        )


def _check(script: Path | None, out_dir: Path, data: Path | None, options_apply: bool) -> None:
    from dockyard.bundle.metadata import METADATA_FILE

    if script is not None and not script.is_file():
        raise UsageError(f"No training script at {script}.")
    if not options_apply:
        raise UsageError(
            "--requirements, --offline, --wheelhouse and --network apply to --in-container."
        )
    if data is not None and not data.is_dir():
        raise UsageError(f"--data {data} is not a directory.")
    if out_dir.exists() and not (out_dir / METADATA_FILE).is_file():
        raise UsageError(f"{out_dir} exists and is not a bundle: Dockyard replaces only a bundle.")


def _locally(
    target: str, bundle: Path, data: Path | None, *, version: str, overwrite: bool
) -> None:
    if target.endswith(".py"):
        _run_script(Path(target), bundle, data)
        return
    from dockyard.training import train_example

    with err.status(f"Training {target}…"):
        train_example(target, bundle, version=version, overwrite=overwrite)


def _run_script(script: Path, bundle: Path, data: Path | None) -> None:
    from dockyard.training.contract import DATA_ENV, OUTPUT_ENV
    from dockyard.training.runner import MEMORY_ENV

    if bundle.exists():
        raise TrainingError(
            f"{bundle} already exists.", hint="Choose another --out or pass --overwrite."
        )
    env = dict(os.environ)
    env[OUTPUT_ENV] = str(bundle.resolve())
    if data is not None:
        env[DATA_ENV] = str(data.resolve())
    command = [sys.executable, "-m", "dockyard.training.runner", str(script)]
    # The script's own output goes straight to the terminal; its exit code is ours.
    status = subprocess.run(command, env=env, check=False).returncode
    if status == -signal.SIGKILL and os.environ.get(MEMORY_ENV):
        # In the training container, the kernel's OOM killer picks the script first.
        raise TrainingError(
            f"{script.name} ran out of memory: the container's limit is {os.environ[MEMORY_ENV]}.",
            hint="Raise it with --memory (e.g. --memory 8g), or load less of the data.",
        )
    if status < 0:
        raise TrainingError(f"{script.name} was killed by signal {-status}.")
    if status != 0:
        raise typer.Exit(status)


def _in_container(
    target: str,
    bundle: Path,
    script: Path | None,
    requirements: Path | None,
    data: Path | None,
    base_image: str,
    offline: bool,
    wheelhouse: Path | None,
    network: bool,
    memory: str,
    version: str,
) -> None:
    from dockyard.packaging import engine
    from dockyard.packaging.training import Run, build_training_image, run_training
    from dockyard.packaging.trainlock import find_requirements

    wanted = find_requirements(requirements, script) if script is not None else []
    client = engine.connect()
    try:
        image = build_training_image(
            client, requirements=wanted, base_image=base_image, wheelhouse=wheelhouse,
            offline=offline, console=err,
        )  # fmt: skip
        err.print(image.describe())
        run = Run(data=data, network=network, memory=memory, version=None if script else version)
        status = run_training(client, image, target, bundle, run)
    finally:
        client.close()
    if status != 0:
        raise typer.Exit(status)


def _saved(bundle: Path, what: str) -> None:
    from dockyard.bundle.metadata import METADATA_FILE

    if not (bundle / METADATA_FILE).is_file():
        raise TrainingError(
            f"{what} finished without saving a bundle to {bundle}.",
            hint="Call dockyard.save_bundle(model, X, y, name=...) at its end; given no path it "
            "writes to $DOCKYARD_OUTPUT, the --out directory.",
        )


def _compare(first: Path, second: Path) -> None:
    from dockyard.training.reproducible import compare

    differences = compare(first, second)
    if differences:
        raise TrainingError(
            "Training is not reproducible: " + "; ".join(differences) + ".",
            hint="Fix every random_state in the script; see docs/reproducible-training.md.",
        )
    out.print("Reproducible: trained twice, every model file is byte-identical.")


def register(app: typer.Typer) -> None:
    app.command()(train)
