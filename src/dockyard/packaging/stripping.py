"""Run in an image's builder stage: drop symbol tables and debug sections from shared objects.

Wheels ship their extension modules with full symbol tables (uvloop's is 13 MB, 1.6 MB
without); a server never reads them, and removing them cuts about 30 MB from an image.
``strip`` is not available in a slim base image and the offline builder cannot install it,
so this does the one safe part of ``strip --strip-unneeded`` in the standard library (a
library would have to be locked into the offline builder too, and pyelftools only reads ELF
files; LIEF, which writes them, is a large native wheel for a hundred lines of work):
remove non-allocated ``.symtab``/``.strtab``/``.debug*``/``.comment`` sections that lie after
every loaded segment and after every allocated section (so no section index the dynamic
linker sees moves). Any file that does not fit that shape is left untouched.

Identical copies of one vendored library are also linked instead of stored twice.

Standard library only, run by path (``python -I .../stripping.py DIR``).
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SHF_ALLOC = 0x2
_SHF_INFO_LINK = 0x40
_SHT_SYMTAB, _SHT_STRTAB, _SHT_RELA, _SHT_NOBITS, _SHT_REL, _SHT_SYMTAB_SHNDX = 2, 3, 4, 8, 9, 18


def _droppable(data: bytes, sections: list[list[int]], shstrndx: int) -> set[int]:
    names_at = sections[shstrndx][4]
    drop: set[int] = set()
    for i, sec in enumerate(sections):
        if i in (0, shstrndx) or sec[2] & _SHF_ALLOC:
            continue
        start = names_at + sec[0]
        name = data[start : data.index(b"\0", start)]
        if sec[1] in (_SHT_SYMTAB, _SHT_SYMTAB_SHNDX) or name.startswith((b".debug", b".comment")):
            drop.add(i)
            if sec[1] == _SHT_SYMTAB and sections[sec[6]][1] == _SHT_STRTAB and sec[6] != shstrndx:
                drop.add(sec[6])
    return drop


def _is_safe(sections: list[list[int]], drop: set[int], segment_end: int) -> bool:
    """Nothing the loader sees moves: dropped sections follow every allocated one, lie past
    every segment's bytes, and no kept section links to them."""
    kept = [i for i in range(len(sections)) if i not in drop]
    last_alloc = max((i for i in kept if sections[i][2] & _SHF_ALLOC), default=0)
    if not drop or min(drop) < last_alloc:
        return False
    if any(sections[i][1] != _SHT_NOBITS and sections[i][4] < segment_end for i in drop):
        return False
    for i in kept:
        sec = sections[i]
        links_info = sec[1] in (_SHT_REL, _SHT_RELA) or sec[2] & _SHF_INFO_LINK
        if sec[6] in drop or (links_info and sec[7] in drop):
            return False
    return True


def strip(data: bytes) -> bytes | None:
    """The stripped ELF image, or None when there is nothing (safe) to remove."""
    if data[:6] != b"\x7fELF\x02\x01":  # 64-bit, little-endian only
        return None
    header = list(_EHDR.unpack_from(data))
    phoff, shoff, phentsize, phnum, shentsize, shnum, shstrndx = (
        header[i] for i in (5, 6, 9, 10, 11, 12, 13)
    )
    if (
        shoff == 0
        or shnum == 0
        or shstrndx >= shnum
        or shentsize != _SHDR.size
        or phentsize != _PHDR.size
    ):
        return None
    sections = [list(_SHDR.unpack_from(data, shoff + i * _SHDR.size)) for i in range(shnum)]
    phdrs = [_PHDR.unpack_from(data, phoff + i * _PHDR.size) for i in range(phnum)]
    segment_end = max((p[2] + p[5] for p in phdrs), default=0)
    drop = _droppable(data, sections, shstrndx)
    if not _is_safe(sections, drop, segment_end):
        return None
    kept = [i for i in range(shnum) if i not in drop]
    index = {old: new for new, old in enumerate(kept)}
    out = bytearray(data[:segment_end])
    headers = []
    for old in kept:
        sec = list(sections[old])
        sec[6] = index.get(sec[6], sec[6])
        if sec[1] in (_SHT_REL, _SHT_RELA) or sec[2] & _SHF_INFO_LINK:
            sec[7] = index.get(sec[7], sec[7])
        if sec[1] != _SHT_NOBITS and sec[4] >= segment_end and sec[5]:
            out += b"\0" * (-len(out) % max(sec[8], 1))
            out += data[sec[4] : sec[4] + sec[5]]
            sec[4] = len(out) - sec[5]
        headers.append(_SHDR.pack(*sec))
    out += b"\0" * (-len(out) % 8)
    header[6], header[12], header[13] = len(out), len(kept), index[shstrndx]
    out += b"".join(headers)
    _EHDR.pack_into(out, 0, *header)
    return bytes(out) if len(out) < len(data) else None


def strip_tree(root: Path) -> tuple[int, int]:
    """Strip every shared object below ``root`` in place; return (files changed, bytes saved)."""
    changed = saved = 0
    for path in root.rglob("*.so*"):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        try:
            stripped = strip(data)
        except (struct.error, ValueError, IndexError):
            stripped = None
        if stripped is None:
            continue
        # Not dockyard.files: this script runs by path in the image (python -I), where only
        # the standard library is importable; a half-written file fails the image build.
        tmp = path.with_name(path.name + ".dockyard-strip")
        tmp.write_bytes(stripped)
        os.chmod(tmp, path.stat().st_mode)
        os.replace(tmp, path)
        changed += 1
        saved += len(data) - len(stripped)
    return changed, saved


def dedupe_vendored(root: Path) -> int:
    """Replace byte-identical copies of a vendored library (auditwheel's ``*.libs``
    directories: numpy and scipy each carry the same libgfortran) with relative symlinks;
    return the bytes saved."""
    first: dict[tuple[str, int], Path] = {}
    saved = 0
    for path in sorted(root.glob("**/*.libs/*")):
        if not path.is_file() or path.is_symlink():
            continue
        key = (path.name, path.stat().st_size)
        original = first.setdefault(key, path)
        if original is path or original.read_bytes() != path.read_bytes():
            continue
        path.unlink()
        path.symlink_to(os.path.relpath(original, path.parent))
        saved += key[1]
    return saved


if __name__ == "__main__":
    root = Path(sys.argv[1])
    files, total = strip_tree(root)
    total += dedupe_vendored(root)
    print(f"strip: {files} shared objects stripped, {total / 2**20:.1f} MiB saved", file=sys.stderr)
