"""Files replaced whole: the old content or the new, never half; modes as the umask says."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard import files


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_write_text_replaces_the_file_with_a_mode_from_the_umask(
    tmp_path: Path, umask_022: None
) -> None:
    target = tmp_path / "lock.txt"
    target.write_text("old\n", encoding="utf-8")
    files.write_text(target, "new\n")
    assert target.read_text(encoding="utf-8") == "new\n"
    # tempfile.mkstemp would have made 0600, unreadable to the image's or server's user.
    assert target.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "scored.csv"
    target.write_text("old\n", encoding="utf-8")

    def fail_halfway() -> None:
        with files.replacing_text(target) as fh:
            fh.write("half of the n")
            raise RuntimeError("the scoring failed")

    with pytest.raises(RuntimeError):
        fail_halfway()
    assert target.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scored.csv"]


def test_a_path_based_writer_sees_a_file_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    with files.replacing(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".out.parquet-")
        tmp.write_bytes(b"PAR1")
        assert not target.exists()
    assert target.read_bytes() == b"PAR1"
    files.write_bytes(target, b"PAR2")
    assert target.read_bytes() == b"PAR2"


def test_a_new_directory_beside_follows_the_umask(tmp_path: Path, umask_022: None) -> None:
    made = files.new_directory_beside(tmp_path / "bundle")
    assert made.parent == tmp_path
    assert made.stat().st_mode & 0o777 == 0o755
