"""HEALTHCHECK of a Dockyard image: exit 0 when the local server answers /readyz with 200.

On failure it prints why (the engine keeps the output in the container's health log, where
``docker inspect`` and ``dockyard deploy`` read it).

Standard library only, and run as a file (``python -I .../healthcheck.py``), because Docker
runs it every few seconds inside the container and it must not import the model stack.
``http.client`` rather than urllib: a proxy set in the environment must not capture 127.0.0.1.
"""

from __future__ import annotations

import http.client
import os
import sys


def problem(port: int, *, path: str = "/readyz", timeout: float = 2.0) -> str | None:
    """Why ``GET path`` on the local server is not a 200, or ``None`` when it is."""
    where = f"GET http://127.0.0.1:{port}{path}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return f"{where}: {getattr(exc, 'strerror', None) or exc or type(exc).__name__}"
    finally:
        connection.close()
    return None if status == 200 else f"{where}: HTTP {status}"


def main() -> int:
    try:
        port = int(os.environ.get("PORT", "8000"))
    except ValueError:
        print("healthcheck: PORT is not a number", file=sys.stderr)
        return 1
    why = problem(port)
    if why is None:
        return 0
    print(why)
    return 1


if __name__ == "__main__":
    sys.exit(main())
