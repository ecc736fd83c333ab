"""Files replaced whole: written beside their target, flushed to disk, then renamed onto it.

A reader (a server loading a bundle, a build reading a cached lock, a person opening the
scored CSV) sees the old file or the new one, never half of one, and a crash or a failed
run leaves the target as it was. The new file's mode follows the umask, as the target's
would if written in place (0644 under the usual 022), where ``tempfile.mkstemp`` always
makes 0600 and ``tempfile.mkdtemp`` 0700.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TypeVar

_T = TypeVar("_T")


def new_file_beside(target: Path) -> tuple[int, Path]:
    """A new, empty file beside ``target`` (a descriptor open for writing, and its path), to
    fill and then ``os.replace`` onto it."""
    return _beside(target, lambda path: os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def new_directory_beside(target: Path) -> Path:
    """A new directory beside ``target``, to fill and then ``os.replace`` onto it."""
    return _beside(target, lambda path: path.mkdir())[1]


def _beside(target: Path, create: Callable[[Path], _T]) -> tuple[_T, Path]:
    for _ in range(100):
        candidate = target.with_name(f".{target.name}-{secrets.token_hex(4)}")
        try:
            return create(candidate), candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"No free name for a temporary file beside {target}.")


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """The path of a new file beside ``target`` for a writer that takes a path (e.g. a Parquet
    writer); when the block ends without an error it is synced and renamed onto ``target``,
    otherwise removed."""
    fd, tmp = new_file_beside(target)
    os.close(fd)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def replacing_text(target: Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """A UTF-8 text file beside ``target``, renamed onto it as :func:`replacing` does."""
    with replacing(target) as tmp, tmp.open("w", encoding="utf-8", newline=newline) as fh:
        yield fh


@contextmanager
def replacing_bytes(target: Path) -> Iterator[IO[bytes]]:
    """A binary file beside ``target``, renamed onto it as :func:`replacing` does."""
    with replacing(target) as tmp, tmp.open("wb") as fh:
        yield fh


def write_text(target: Path, text: str) -> None:
    """Replace ``target`` with ``text`` (UTF-8) whole."""
    with replacing_text(target) as fh:
        fh.write(text)


def write_bytes(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data`` whole."""
    with replacing_bytes(target) as fh:
        fh.write(data)
