from __future__ import annotations

import sys

from dockyard.cli.main import main

sys.exit(main())
