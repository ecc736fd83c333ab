"""Run in an image's builder stage: compile to bytecode the modules a server imports at start.

Only those, not the whole venv: compiling everything adds ~50 MB of .pyc (a fifth of the
image's added size), while compiling nothing makes every container start recompile the
model stack in memory, since a read-only root filesystem cannot cache bytecode (seconds).
Bytecode is written with hash-based, unchecked invalidation: the same sources give the same
files (a reproducible layer), and Python never stats sources to revalidate them.

Standard library only, run by path (``python -I .../precompile.py [MODULE ...]``).
"""

from __future__ import annotations

import importlib
import os
import py_compile
import sys

# What ``dockyard serve`` and loading a typical scikit-learn bundle import. Names that do
# not exist in this Dockyard or this scikit-learn are skipped.
MODULES = (
    "dockyard",
    "dockyard.cli.main",
    "dockyard.server",
    "dockyard.server.app",
    "dockyard.predictor",
    "dockyard.bundle",
    "dockyard.runtime",
    # Imported only when first needed, so not through the modules above: the metrics'
    # first flush, the first CSV request, the first web page, several workers.
    "prometheus_client",
    "prometheus_client.multiprocess",
    "dockyard.batch.csv",
    "dockyard.web.views",
    "jinja2",
    "dockyard.server.workers",
    "uvicorn.supervisors.multiprocess",
    "onnxruntime",
    "uvicorn",
    "uvicorn.main",
    "uvicorn.loops.auto",
    "uvicorn.loops.uvloop",
    "uvicorn.loops.asyncio",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.websockets.auto",
    "uvicorn.lifespan.on",
    "prometheus_client",
    "orjson",
    "skops.io",
    "sklearn",
    "sklearn.base",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "sklearn.tree",
    "sklearn.svm",
    "sklearn.neighbors",
    "sklearn.naive_bayes",
    "sklearn.feature_extraction.text",
    "sklearn.decomposition",
)


def main(extra: list[str]) -> int:
    for name in (*MODULES, *extra):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            print(f"precompile: skipping {name}: {exc}", file=sys.stderr)
    prefix = os.path.realpath(sys.prefix) + os.sep
    count = 0
    for module in list(sys.modules.values()):
        source = getattr(module, "__file__", None)
        if (
            not source
            or not source.endswith(".py")
            or not os.path.realpath(source).startswith(prefix)
        ):
            continue
        py_compile.compile(
            source, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
        count += 1
    print(f"precompile: compiled {count} modules", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
