from __future__ import annotations

import subprocess
import sys


def test_the_log_imports_neither_the_statistics_nor_the_server() -> None:
    # The server imports the log: scipy and pandas would weigh on every worker's start
    # (and the slim image has neither), and an import of the server would be a cycle.
    code = (
        "import sys\n"
        "import dockyard.monitoring.log, dockyard.monitoring.store\n"
        "import dockyard.monitoring.postgres, dockyard.monitoring.sqlite\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'pandas', 'sklearn')"
        " or m.startswith(('dockyard.server', 'dockyard.web', 'dockyard.cli'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_server_and_its_drift_gauges_import_neither_scipy_nor_pandas() -> None:
    # The gauges bin and compare live rows in the server: numpy only, as in the slim image.
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import dockyard.server.app, dockyard.server.metrics\n"
        "from dockyard.bundle.bins import binned_counts, psi\n"
        "from dockyard.monitoring.gauges import LiveDistributions\n"
        "assert LiveDistributions([]).drift() == {}\n"
        "psi([1, 2], binned_counts([0.0, 1.0, 2.0], np.array([0.5, 1.5])))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'pandas')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
