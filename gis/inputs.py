"""The files a project reads, their SHA-256, and the guard that no output overwrites one.

:func:`input_files` lists every file the project TOML names (a shapefile with all its
sidecars, a FileGDB folder's files, the totals CSV, the TOML itself);
:func:`refuse_overwrite` raises :class:`~pucha.errors.OverwriteError` when an output
path resolves to one of them (same path, symlink or hard link) or to the project
GeoPackage an export reads.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from pucha.config import Config
from pucha.errors import OverwriteError

__all__ = ["sha256_file", "source_files", "input_files", "refuse_overwrite", "same_file"]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_files(path: Path) -> list[Path]:
    """The files of one source: a shapefile's sidecars (any extension, same stem), a
    folder's files (FileGDB), else the file itself."""
    path = Path(path)
    if path.suffix.lower() == ".shp":
        return sorted(p for p in path.parent.glob(path.stem + ".*") if p.stem == path.stem)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path]


def input_files(config: Config, *, toml: Path | None = None) -> list[Path]:
    """Every input file of the project (layers with sidecars, totals CSV, the TOML)."""
    from pucha.gis.read import source_path

    out: list[Path] = []
    for _kind, src in sorted(config.layers.items()):
        p = source_path(src, config.base_dir)
        out += source_files(p)
        if p.suffix.lower() == ".shp":
            # sidecars that do not exist yet would still be clobbered by an output there
            out += [p.with_suffix(ext) for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg")]
    if config.population.totals:
        out.append(config.resolve(config.population.totals))
    if toml is not None:
        out.append(Path(toml))
    seen: dict[str, Path] = {}
    for p in out:
        seen.setdefault(os.path.abspath(p), p)
    return [seen[k] for k in sorted(seen)]


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` are the same file: same resolved path (case folded on
    case-insensitive systems), a symlink to it, or a hard link."""
    a, b = Path(a), Path(b)
    try:
        if a.resolve() == b.resolve():
            return True
    except OSError:
        pass
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwrite(outputs: Iterable[tuple[str, Path]], inputs: Iterable[Path]) -> None:
    """Raise OverwriteError when an output (label, path) is one of the ``inputs``.

    >>> refuse_overwrite([("-o", Path("/tmp/x.csv"))], [Path("/tmp/y.csv")])
    """
    inputs = list(inputs)
    for label, out in outputs:
        # the GeoPackage's -wal/-shm/-journal siblings count as the file itself
        for inp in inputs:
            if same_file(out, inp):
                raise OverwriteError(
                    f"{label} {out} is an input of this project ({inp}); writing there would "
                    f"destroy it. Choose another output path (e.g. out/project.gpkg), and keep "
                    f"the 规土所 source files read-only")
