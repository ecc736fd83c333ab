"""The one-line explanations of a training script's failures."""

from __future__ import annotations

import errno
import socket
import urllib.error

from dockyard.training.runner import explain


def test_network_off_is_explained_through_urllib() -> None:
    exc = urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))
    line = explain(exc, "/script/train.py", network=False, memory=None)
    assert line is not None
    assert line.startswith("train.py tried to reach the network, which is off")
    assert "--network" in line
    # With the network on, a failure to connect is the script's own business.
    assert explain(exc, "train.py", network=True, memory=None) is None


def test_unreachable_network_and_memory() -> None:
    unreachable = OSError(errno.ENETUNREACH, "Network is unreachable")
    assert explain(unreachable, "t.py", network=False, memory=None) is not None
    line = explain(MemoryError(), "t.py", network=False, memory="2g")
    assert line == (
        "t.py ran out of memory (the container's limit is 2g): raise it with --memory, "
        "or load less of the data."
    )
    assert explain(ValueError("x"), "t.py", network=False, memory=None) is None


def test_missing_submodule_names_the_package() -> None:
    exc = ModuleNotFoundError("No module named 'xgboost.sklearn'", name="xgboost.sklearn")
    line = explain(exc, "train.py", network=True, memory=None)
    assert line is not None
    assert "imports 'xgboost'" in line
