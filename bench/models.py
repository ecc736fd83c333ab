"""The benchmark's models, made fresh for every run from one definition
(``bench/baseline/train.py``): the tutorial pickle for the baseline and the peers, a
Dockyard bundle for Dockyard, and a check that both predict the same probabilities."""

from __future__ import annotations

import pickle
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import envs
from bench.baseline.train import FEATURES, build_model, load_data

KINDS = {"lr": "LogisticRegression", "rf": "RandomForest(100 trees)"}
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@dataclass(frozen=True, slots=True)
class ModelFiles:
    kind: str
    pickle: Path
    bundle: Path

    @property
    def bundle_name(self) -> str:
        return f"iris-{self.kind}"


def prepare(kind: str, workdir: Path, baseline: envs.PeerEnv) -> ModelFiles:
    import dockyard

    out = workdir / "models" / kind
    out.mkdir(parents=True, exist_ok=True)
    pkl = out / "model.pkl"
    # The tutorial's own script, in the tutorial's own environment.
    subprocess.run(
        [str(baseline.python), str(envs.ROOT / "baseline" / "train.py"), kind, str(pkl)],
        check=True,
        timeout=300,
    )
    X, y = load_data()
    model = build_model(kind).fit(X.to_numpy(), y.to_numpy())
    bundle = out / "bundle"
    dockyard.save_bundle(model, X, y, name=f"iris-{kind}", path=bundle, overwrite=True)
    with pkl.open("rb") as fh:
        tutorial = pickle.load(fh)
    same = np.allclose(tutorial.predict_proba(X), model.predict_proba(X.to_numpy()), atol=1e-9)
    if not same:
        raise RuntimeError(f"the tutorial pickle and the bundle disagree for {kind}")
    return ModelFiles(kind, pkl, bundle)


def write_csv(path: Path, rows: int, *, seed: int = 0, decimals: int = 1) -> Path:
    """``rows`` Iris-like rows (measured flowers plus noise, to ``decimals`` places), with a
    header."""
    X, _ = load_data()
    rng = np.random.default_rng(seed)
    base = X.to_numpy()[rng.integers(0, len(X), rows)]
    data = np.clip(base + rng.normal(0, 0.2, base.shape), 0.1, None)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(FEATURES) + "\n")
        np.savetxt(fh, data, fmt=f"%.{decimals}f", delimiter=",")
    return path
