"""The system libraries a locked wheel links but does not ship, read from its binaries.

A manylinux wheel may assume only the C and C++ runtimes of its platform (PEP 600); a
wheel built outside auditwheel can link more. LightGBM's ``lib_lightgbm.so`` needs the
OpenMP runtime ``libgomp.so.1``, which ``python:3.11-slim`` does not have, where
xgboost-cpu ships its own copy in ``xgboost_cpu.libs``. So each shared object's
``DT_NEEDED`` entries are read from its ELF dynamic section; what the wheel ships itself
and what every glibc system has are taken away; the rest is named by its Debian package.
"""

from __future__ import annotations

import json
import re
import shlex
import struct
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dockyard.bundle import environment
from dockyard.bundle.metadata import BundleMetadata
from dockyard.packaging.lock import Lock, Pin

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_DYN = struct.Struct("<qQ")
_SHT_DYNAMIC = 6
_DT_NULL, _DT_NEEDED = 0, 1

# The libraries PEP 600 lets every manylinux wheel assume: glibc's own, the dynamic
# loader, and GCC's C++ and support runtimes (which a python image has for itself).
_PLATFORM = re.compile(
    r"^(ld-linux[-\w.]*|libc|libm|libdl|librt|libpthread|libutil|libnsl|libresolv|libcrypt"
    r"|libstdc\+\+|libgcc_s)\.so(\.\d+)*$"
)
_SONAME = re.compile(r"^lib(?P<name>[\w+.-]+?)\.so\.(?P<major>\d+)(\.\d+)*$")


def needed(data: bytes) -> list[str]:
    """The ``DT_NEEDED`` entries of a 64-bit little-endian ELF shared object; [] for
    anything else."""
    if data[:6] != b"\x7fELF\x02\x01":
        return []
    header = _EHDR.unpack_from(data)
    shoff, shentsize, shnum = header[6], header[11], header[12]
    if not shoff or shentsize != _SHDR.size:
        return []
    sections = [_SHDR.unpack_from(data, shoff + i * _SHDR.size) for i in range(shnum)]
    names: list[str] = []
    for section in sections:
        if section[1] != _SHT_DYNAMIC or section[6] >= len(sections):
            continue
        strings = sections[section[6]][4]
        for at in range(section[4], section[4] + section[5], _DYN.size):
            tag, value = _DYN.unpack_from(data, at)
            if tag == _DT_NULL:
                break
            if tag == _DT_NEEDED:
                start = strings + value
                names.append(data[start : data.index(b"\0", start)].decode("ascii"))
    return names


@dataclass(frozen=True, slots=True)
class Link:
    """A shared object in a wheel that links a library the wheel does not ship."""

    wheel: str
    path: str
    """Where it lands below site-packages."""
    soname: str

    @property
    def package(self) -> str:
        return debian_package(self.soname)


def wheel_links(wheel: Path) -> list[Link]:
    """What the shared objects in ``wheel`` link that neither the wheel ships nor every
    glibc platform provides."""
    found: list[Link] = []
    with zipfile.ZipFile(wheel) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        shipped = {PurePosixPath(m.filename).name for m in members}
        for member in members:
            path = PurePosixPath(member.filename)
            if ".so" not in path.name or ".data" in path.parts[0]:
                continue
            try:
                sonames = needed(archive.read(member))
            except (struct.error, ValueError, IndexError, UnicodeDecodeError):
                continue  # not an ELF file this reader understands
            for soname in sonames:
                if soname not in shipped and not _PLATFORM.match(soname):
                    found.append(Link(wheel.name, member.filename, soname))
    return found


def model_pins(lock: Lock, bundles: Sequence[BundleMetadata]) -> list[Pin]:
    """The locked distributions that bundles bring beyond Dockyard's own stack (the
    model's libraries: xgboost-cpu, lightgbm), whose wheels are the ones to read."""
    own = set(environment.requirement_closure(["dockyard"]))
    recorded = {
        environment.CPU_BUILDS.get(name, name)
        for meta in bundles
        for name in meta.environment.packages
    }
    return [pin for pin in lock.pins if pin.name in recorded - own]


def debian_package(soname: str) -> str:
    """The Debian package of a shared library, by Debian policy §8.1: ``libgomp.so.1`` is
    in ``libgomp1``; a name ending in a digit takes a hyphen (``libfoo2.so.3``:
    ``libfoo2-3``)."""
    match = _SONAME.match(soname)
    if match is None:
        raise ValueError(f"{soname} is not a versioned shared library name")
    name, major = match.group("name").lower(), match.group("major")
    return f"lib{name}-{major}" if name[-1].isdigit() else f"lib{name}{major}"


def dockerfile_lines(links: Sequence[Link], site_packages: str, *, offline: bool) -> list[str]:
    """Final-stage lines: find which linked libraries the base image lacks (by its dynamic
    linker's cache) and install their Debian packages, or, in an offline build (no network,
    so no apt), stop with what the base must provide; then load each shared object, so a
    missing library fails the build rather than the server."""
    if not links:
        return []
    pairs = sorted({f"{link.soname}={link.package}" for link in links})
    paths = sorted({f"{site_packages}/{link.path}" for link in links})
    load = "import ctypes; " + "; ".join(f"ctypes.CDLL({json.dumps(path)})" for path in paths)
    comments = [
        f"# {link.wheel}: {link.path} links {link.soname}, which the wheel does not ship."
        for link in sorted(links, key=lambda x: (x.wheel, x.path, x.soname))
    ]
    if offline:
        provide = [
            '    && if [ -s /tmp/system-packages ]; then echo "An offline build cannot install'
            " the Debian packages $(cat /tmp/system-packages): build on a base image that has"
            ' them, or without --offline." >&2; exit 1; fi \\',
        ]
    else:
        provide = [
            "    && if [ -s /tmp/system-packages ]; then apt-get update \\",
            "        && apt-get install -y --no-install-recommends $(cat /tmp/system-packages) \\",
            "        && rm -rf /var/lib/apt/lists/*; fi \\",
        ]
    return [
        *comments,
        f"RUN for lib in {' '.join(pairs)}; do \\",
        '        ldconfig -p | awk \'{print $1}\' | grep -qx "${lib%%=*}" || echo "${lib#*=}"; \\',
        "    done > /tmp/system-packages \\",
        *provide,
        "    && rm /tmp/system-packages \\",
        f"    && python -I -c {shlex.quote(load)}",
    ]
