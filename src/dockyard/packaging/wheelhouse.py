"""The wheelhouse: the locked wheels, downloaded on the host, so an image build needs no network.

Every file is checked against the lock's sha256 before it goes into a build context; a file
that fails is refused, never silently re-downloaded over.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from packaging.utils import parse_wheel_filename

from dockyard.__about__ import __version__
from dockyard.bundle.store import sha256_file
from dockyard.errors import PackagingError
from dockyard.packaging.lock import Lock, Pin, Target, cache_dir
from dockyard.packaging.pip import run_pip, source_tree


def default_wheelhouse() -> Path:
    return cache_dir() / "wheels"


def verified(pin: Pin, wheelhouse: Path) -> Path | None:
    """``pin``'s file in ``wheelhouse``, its sha256 checked; None when there is none. A file
    whose hash is wrong is refused, never silently downloaded over."""
    file = wheelhouse / pin.filename
    if not file.is_file():
        return None
    actual = sha256_file(file)
    if actual != pin.sha256:
        raise PackagingError(
            f"{file} does not match the lock: sha256 {actual[:12]}…, expected {pin.sha256[:12]}… "
            "(corrupted, truncated or substituted).",
            hint=f"Delete {file} and build again to download it afresh.",
        )
    return file


def missing(lock: Lock, wheelhouse: Path) -> list[Pin]:
    """Pins with no file in ``wheelhouse``; raises if a file is there but its hash is wrong."""
    return [pin for pin in lock.pins if verified(pin, wheelhouse) is None]


def fetch(lock: Lock, wheelhouse: Path, *, download: bool = True) -> list[Path]:
    """Make sure ``wheelhouse`` holds every locked wheel, verified; return their paths.

    Only missing wheels are downloaded, by pip with ``--require-hashes`` for the lock's
    target platform; then every file is verified again against the lock.
    """
    wheelhouse.mkdir(parents=True, exist_ok=True)
    absent = missing(lock, wheelhouse)
    if absent and not download:
        names = ", ".join(p.filename for p in absent[:5])
        raise PackagingError(
            f"The wheelhouse {wheelhouse} lacks {len(absent)} locked wheel(s): {names}.",
            hint="Build once with network access to fill it, or copy the wheels in.",
        )
    if absent:
        with tempfile.TemporaryDirectory(prefix="dockyard-wheels-") as tmp:
            reqs = Path(tmp) / "requirements.txt"
            reqs.write_text("".join(p.line() + "\n" for p in absent), encoding="utf-8")
            run_pip(
                [
                    "download", "--quiet", "--no-deps", "--require-hashes", "--disable-pip-version-check",
                    "--dest", tmp, *lock.target.pip_args(), "-r", str(reqs),
                ],
                what=f"download {len(absent)} wheel(s) for {lock.target.describe()}",
            )  # fmt: skip
            for pin in absent:
                got = Path(tmp) / pin.filename
                if not got.is_file():
                    raise PackagingError(
                        f"pip downloaded no {pin.filename} for {pin.name}=={pin.version}."
                    )
                shutil.move(got, wheelhouse / pin.filename)
        # The wheels that were present were verified above; check just the new ones.
        still = missing(Lock(lock.target, tuple(absent)), wheelhouse)
        if still:
            raise PackagingError(f"After downloading, {still[0].filename} is still missing.")
    return [wheelhouse / p.filename for p in lock.pins]


def dockyard_wheel(target: Target, dest: Path) -> Lock:
    """A wheel of the running Dockyard in ``dest``, and a one-line lock for it.

    From a source install the wheel is built from the tree (hatchling builds are
    reproducible, so unchanged sources give the same file and the same cached layer);
    otherwise the released wheel of this version is downloaded.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dockyard-wheel-") as tmp:
        tree = source_tree()
        if tree is not None:
            run_pip(
                [
                    "wheel",
                    "--quiet",
                    "--no-deps",
                    "--disable-pip-version-check",
                    "--wheel-dir",
                    tmp,
                    str(tree),
                ],
                what=f"build a Dockyard wheel from {tree}",
            )
        else:
            run_pip(
                [
                    "download", "--quiet", "--no-deps", "--disable-pip-version-check", "--dest", tmp,
                    *target.pip_args(), f"dockyard=={__version__}",
                ],
                what=f"download the Dockyard {__version__} wheel",
            )  # fmt: skip
        wheels = sorted(Path(tmp).glob("dockyard-*.whl"))
        if len(wheels) != 1:
            raise PackagingError(f"Expected one Dockyard wheel, found {[w.name for w in wheels]}.")
        wheel = dest / wheels[0].name
        shutil.move(wheels[0], wheel)
    version = str(parse_wheel_filename(wheel.name)[1])
    return Lock(target, (Pin("dockyard", version, sha256_file(wheel), wheel.name),))


def place(files: Sequence[Path], dest: Path) -> None:
    """Put verified wheels into a build context: hard links when possible (no copy), else copies."""
    dest.mkdir(parents=True, exist_ok=True)
    for file in files:
        target = dest / file.name
        target.unlink(missing_ok=True)
        try:
            os.link(file, target)
        except OSError:
            shutil.copyfile(file, target)
