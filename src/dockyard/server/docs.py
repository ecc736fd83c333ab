"""The API's documentation: ``/openapi.json`` and Swagger UI at ``/docs``, from local
assets (swagger-ui-bundle-v2; nothing is fetched from the internet)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dockyard.errors import UsageError
from dockyard.server.responses import JSONResponse

_SWAGGER_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dockyard API</title>
<link rel="icon" href="/static/web/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/swagger/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/docs/swagger-init.js"></script>
</body>
</html>
"""


def docs_routes(openapi: dict[str, Any]) -> list[BaseRoute]:
    """``/openapi.json`` serving ``openapi``, ``/docs`` and their static assets."""

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi)

    async def docs(request: Request) -> Response:
        return HTMLResponse(_SWAGGER_HTML)

    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Mount("/static/swagger", StaticFiles(directory=swagger_dir()), name="swagger"),
        Mount("/static/docs", StaticFiles(directory=Path(__file__).parent / "static"), name="docs"),
    ]


def swagger_dir() -> str:
    # Found without importing the package (~5 ms of start-up: its __init__ imports
    # importlib.resources machinery); a vendored Swagger UI version is a directory. Both
    # swagger-ui-bundle (4.x) and its successor swagger-ui-bundle-v2 install this package,
    # so an upgraded environment can hold both: the newest wins, compared by number.
    spec = importlib.util.find_spec("swagger_ui_bundle")
    locations = list(spec.submodule_search_locations or []) if spec else []
    found = [p for loc in locations for p in Path(loc, "vendor").glob("swagger-ui-*")]
    if not found:
        raise UsageError("swagger-ui-bundle-v2 is missing its assets.", hint="Reinstall Dockyard.")
    newest = max(found, key=swagger_version)
    if swagger_version(newest) < (5,):
        # Swagger UI 4 shows "Unable to render this definition" for OpenAPI 3.1.
        raise UsageError(
            f"Swagger UI {newest.name.removeprefix('swagger-ui-')} cannot show this "
            "server's OpenAPI 3.1 document.",
            hint="pip install 'swagger-ui-bundle-v2>=5.31'.",
        )
    return str(newest)


def swagger_version(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.name))


__all__ = ["docs_routes", "swagger_dir"]
