"""The API documentation is served from local assets."""

from __future__ import annotations

from starlette.testclient import TestClient


def test_docs_are_local(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "/static/swagger/swagger-ui-bundle.js" in html
    assert "http" not in html.split("<body>")[1]
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
