"""The system libraries a model library's wheel links, read from its real binaries."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from dockyard.packaging import dockerfile
from dockyard.packaging.system_libraries import (
    Link,
    debian_package,
    dockerfile_lines,
    needed,
    wheel_links,
)
from tests.conftest import require

lightgbm = require("lightgbm")
xgboost = require("xgboost")

SITE = "/opt/venv/lib/python3.11/site-packages"


def _installed(module: object, relative: str) -> Path:
    return Path(str(module.__file__)).parent / relative


def _wheel(path: Path, files: dict[str, Path]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, source in files.items():
            archive.write(source, name)
    return path


def test_reads_the_libraries_lightgbm_links() -> None:
    sonames = needed(_installed(lightgbm, "lib/lib_lightgbm.so").read_bytes())
    assert "libgomp.so.1" in sonames
    assert "libc.so.6" in sonames


def test_a_lightgbm_wheel_needs_the_openmp_runtime(tmp_path: Path) -> None:
    wheel = _wheel(
        tmp_path / "lightgbm-4.7.0-py3-none-manylinux_2_28_x86_64.whl",
        {"lightgbm/lib/lib_lightgbm.so": _installed(lightgbm, "lib/lib_lightgbm.so")},
    )
    links = wheel_links(wheel)
    # Only what a glibc platform does not guarantee.
    assert [(link.path, link.soname, link.package) for link in links] == [
        ("lightgbm/lib/lib_lightgbm.so", "libgomp.so.1", "libgomp1")
    ]


def test_a_library_the_wheel_ships_is_not_needed(tmp_path: Path) -> None:
    library = _installed(xgboost, "lib/libxgboost.so")
    vendored = [s for s in needed(library.read_bytes()) if s.startswith("libgomp")]
    assert vendored, "xgboost-cpu links its own copy of libgomp"
    shipped = next(Path(str(xgboost.__file__)).parents[1].glob(f"*.libs/{vendored[0]}"))
    wheel = _wheel(
        tmp_path / "xgboost_cpu-3.2.0-py3-none-manylinux_2_28_x86_64.whl",
        {"xgboost/lib/libxgboost.so": library, f"xgboost_cpu.libs/{vendored[0]}": shipped},
    )
    assert wheel_links(wheel) == []


def test_files_that_are_not_elf_are_skipped(tmp_path: Path) -> None:
    junk = tmp_path / "junk.so"
    junk.write_bytes(b"\x7fELF\x02\x01" + b"\xff" * 40)
    wheel = _wheel(tmp_path / "x-1-py3-none-any.whl", {"x/junk.so": junk})
    assert wheel_links(wheel) == []
    assert needed(b"not an ELF file") == []


@pytest.mark.parametrize(
    ("soname", "package"),
    [
        ("libgomp.so.1", "libgomp1"),
        ("libgfortran.so.5", "libgfortran5"),
        ("libfoo2.so.3", "libfoo2-3"),
    ],
)
def test_debian_package_names(soname: str, package: str) -> None:
    assert debian_package(soname) == package


def _final_stage(*, offline: bool, links: tuple[Link, ...]) -> str:
    spec = dockerfile.ImageSpec(
        base_image="python:3.11-slim",
        python="3.11",
        dockyard_version="0",
        offline=offline,
        links=links,
    )
    text = dockerfile.render(spec)
    return text[text.rindex("FROM python:3.11-slim\n") :]


LINK = Link("lightgbm-4.7.0.whl", "lightgbm/lib/lib_lightgbm.so", "libgomp.so.1")


def test_the_final_stage_installs_what_the_base_lacks_and_loads_it() -> None:
    assert "ldconfig" not in _final_stage(offline=False, links=())
    final = _final_stage(offline=False, links=(LINK,))
    assert "for lib in libgomp.so.1=libgomp1; do" in final
    assert "apt-get install -y --no-install-recommends $(cat /tmp/system-packages)" in final
    assert f"""ctypes.CDLL("{SITE}/lightgbm/lib/lib_lightgbm.so")'""" in final
    # Installed as root, before the server's user takes over.
    assert final.index("apt-get install") < final.index("USER ")
    assert dockerfile_lines([], SITE, offline=False) == []


def test_an_offline_build_asks_the_base_for_what_it_lacks() -> None:
    final = _final_stage(offline=True, links=(LINK,))
    assert "apt-get" not in final
    assert "An offline build cannot install the Debian packages" in final
    assert f"""ctypes.CDLL("{SITE}/lightgbm/lib/lib_lightgbm.so")'""" in final
