"""Errors of the packaging side that are not about the Docker engine itself."""

from __future__ import annotations

from dockyard.errors import DockyardError


class PackagingError(DockyardError):
    """A lock, wheelhouse or build context cannot be made."""

    exit_code = 5
    code = "packaging_error"
