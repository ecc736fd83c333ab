"""``python -m dockyard.monitoring FD``: the prediction log's writer process (started by
:class:`~dockyard.monitoring.channel.WriterProcess`), writing what comes on socket ``FD``."""

from __future__ import annotations

import sys

from dockyard.monitoring.writer import main

sys.exit(main(sys.argv[1:]))
