"""Atomic, crash-safe writing of every output pucha produces.

Files outside the project GeoPackage (maps, reports, registers) are written to a
temporary path in the destination folder and renamed into place with
:func:`os.replace`, so a run killed at any moment leaves the previous file intact
and readable.

The project GeoPackage is NOT written this way: QGIS keeps it open (in WAL mode),
so it is changed in place, one SQLite transaction per change
(:mod:`pucha.gis.gpkg`). Its functions are re-exported here, the names other
modules import: :func:`update_gpkg`, :func:`read_layer`, :func:`list_layers`,
:func:`read_meta`, :func:`meta_table`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pucha.gis.gpkg import (drop_layer, list_layers, meta_table, read_layer, read_meta,
                            replace_rows, update_gpkg)

__all__ = [
    "atomic_path", "write_text", "write_bytes", "update_gpkg", "read_layer", "list_layers",
    "read_meta", "meta_table", "replace_rows", "drop_layer",
]


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` on success.

    On any exception the temporary file is removed and ``dest`` is untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # The writer's pid is in the name, so a later run can tell a killed run's leftovers.
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.{os.getpid()}.",
                               suffix=suffix or dest.suffix + ".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
            # mkstemp makes 0600: give the file the mode a plain open() would (0644 under
            # umask 022), so colleagues on a shared drive can read the outputs
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, dest)
        _sweep_stale(dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        for side in (Path(str(tmp_path) + "-wal"), Path(str(tmp_path) + "-shm"),
                     Path(str(tmp_path) + "-journal")):
            with contextlib.suppress(FileNotFoundError):
                side.unlink()


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_dead(pid: int) -> bool:
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) would end the process there
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _sweep_stale(dest: Path) -> None:
    """Remove temporary siblings of ``dest`` left by runs that were killed (dead pid).

    Files of still-running writers (live pid) are left alone; on non-POSIX systems
    only temporary files older than 12 hours are removed.
    """
    import glob
    import time

    head = f".{dest.name}."
    for side in dest.parent.glob(glob.escape(head) + "*"):
        pid = side.name[len(head):].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            stale = _pid_dead(int(pid)) or (os.name != "posix" and
                                             time.time() - side.stat().st_mtime > 12 * 3600)
        except OSError:
            continue
        if stale:
            with contextlib.suppress(OSError):
                side.unlink()


def write_text(dest: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``dest`` atomically and return the path."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(dest)


def write_bytes(dest: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``dest`` atomically and return the path."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def _drop_layer(path: str | os.PathLike, name: str) -> None:
    """Drop one layer of a GeoPackage in place (tests use it to shape old projects)."""
    drop_layer(path, name)
