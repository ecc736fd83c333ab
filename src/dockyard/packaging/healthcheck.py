"""HEALTHCHECK of a Dockyard image: exit 0 when the local server answers /readyz with 200.

Standard library only, and run as a file (``python -I .../healthcheck.py``), because Docker
runs it every few seconds inside the container and it must not import the model stack.
``http.client`` rather than urllib: a proxy set in the environment must not capture 127.0.0.1.
"""

from __future__ import annotations

import http.client
import os
import sys


def check(port: int, *, path: str = "/readyz", timeout: float = 2.0) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def main() -> int:
    try:
        port = int(os.environ.get("PORT", "8000"))
    except ValueError:
        print("healthcheck: PORT is not a number", file=sys.stderr)
        return 1
    return 0 if check(port) else 1


if __name__ == "__main__":
    sys.exit(main())
