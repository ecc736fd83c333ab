"""The contract between ``dockyard train SCRIPT`` and the user's script: environment variables.

``dockyard train train.py --out DIR`` (locally or ``--in-container``) runs the script with:

- ``DOCKYARD_OUTPUT``: where the bundle goes; ``save_bundle()`` writes there when given no path.
- ``DOCKYARD_DATA``: the ``--data`` directory (read-only in a container), when one is given.

In the training container two more tell ``save_bundle()`` what to record in the bundle:
``DOCKYARD_TRAINING_IMAGE`` (the image's id) and ``DOCKYARD_TRAINING_LOCK`` (the image's
hash-locked requirements, copied into the bundle). Without any of them, ``python train.py``
runs the same script unchanged: the bundle goes to ``./NAME``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dockyard.bundle.metadata import Training
from dockyard.bundle.store import sha256_file
from dockyard.errors import TrainingError

OUTPUT_ENV = "DOCKYARD_OUTPUT"
DATA_ENV = "DOCKYARD_DATA"
IMAGE_ENV = "DOCKYARD_TRAINING_IMAGE"
LOCK_ENV = "DOCKYARD_TRAINING_LOCK"
LOCK_FILE = "training.lock"


def output_path(path: str | os.PathLike[str] | None, name: str) -> Path:
    """``path``; with none, ``$DOCKYARD_OUTPUT``; without that (``python train.py``), the
    directory ``name`` in the current one."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(OUTPUT_ENV) or name)


def record_training(workdir: Path) -> Training | None:
    """In the training container: copy its lock into the bundle being written in ``workdir``
    and say which image and lock trained it; elsewhere None."""
    image, lock = os.environ.get(IMAGE_ENV), os.environ.get(LOCK_ENV)
    if not image or not lock:
        return None
    source = Path(lock)
    if not source.is_file():
        raise TrainingError(f"{LOCK_ENV}={lock} names no file; the training image is incomplete.")
    shutil.copyfile(source, workdir / LOCK_FILE)
    return Training(image=image, lock=LOCK_FILE, lock_sha256=sha256_file(workdir / LOCK_FILE))
