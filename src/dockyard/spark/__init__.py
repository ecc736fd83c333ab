"""Score Spark DataFrames with a bundle: ``dockyard.spark.score(df, "models/iris")``.

Needs the ``spark`` extra (``pip install 'dockyard[spark]'``) on the driver and on every
executor. The bundle travels to the executors through Spark itself
(``SparkContext.addArchive``), so no shared disk is assumed; each executor checks its
copy's checksums and its own scikit-learn and numpy (or ONNX Runtime) against the
bundle's record before it scores a row (see :mod:`dockyard.spark.executor`).
"""

from __future__ import annotations

from dockyard.spark.scoring import score

__all__ = ["score"]
