"""Web pages for people: try a model in a form, score a CSV, read its model card."""

from __future__ import annotations

from dockyard.web.pages import routes

__all__ = ["routes"]
