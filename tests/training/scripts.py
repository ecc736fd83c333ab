"""Training scripts as a data scientist writes them, for ``dockyard train SCRIPT`` tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.conftest import churn_frame

# A categorical Pipeline on a CSV from --data.
CHURN = """\
import os
from pathlib import Path

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import dockyard

name = "churn-model"
data = Path(os.environ.get("DOCKYARD_DATA", "data"))
frame = pd.read_csv(data / "churn.csv")
X, y = frame.drop(columns="churned"), frame["churned"]
print(f"training on {len(frame)} rows", flush=True)
model = Pipeline([
    ("prepare", ColumnTransformer([
        ("numbers", StandardScaler(), ["tenure_months", "monthly_spend"]),
        ("categories", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
    ])),
    ("classify", LogisticRegression(max_iter=500)),
]).fit(X, y)
dockyard.save_bundle(model, X, y, name=name, description="Churn, from a CSV")
"""

# The same, naming the bundle with a helper from its own requirement (inflection: pure
# Python, not a Dockyard dependency, so not installed here).
CHURN_WITH_REQUIREMENT = CHURN.replace(
    'name = "churn-model"\n',
    'import inflection\n\nname = inflection.dasherize(inflection.underscore("ChurnModel"))\n',
)
NEVER_SAVES = "print('fitted, but forgot to save')\n"
MISSING_MODULE = "import dockyard_missing_package  # noqa\n"
EXITS = "import sys\nprint('giving up', flush=True)\nsys.exit(7)\n"
NETWORK = "import urllib.request\nurllib.request.urlopen('http://pypi.org/simple/', timeout=5)\n"
GREEDY = "blob = b'x' * (1024 * 2**20)\n"


def project(root: Path, script: str = CHURN, requirements: str | None = None) -> Path:
    """A project directory: ``train.py``, ``data/churn.csv`` and, if given, ``requirements.txt``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    X, y = churn_frame()
    pd.concat([X, y], axis=1).to_csv(root / "data" / "churn.csv", index=False)
    (root / "train.py").write_text(script, encoding="utf-8")
    if requirements is not None:
        (root / "requirements.txt").write_text(requirements, encoding="utf-8")
    return root / "train.py"
