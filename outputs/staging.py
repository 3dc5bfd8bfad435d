"""Write a whole folder atomically: build it beside the target, then swap it in.

:func:`staged_folder` yields a fresh staging folder ``.<name>.staging-<pid>`` beside
``target`` (same file system). When the body finishes, the staging folder replaces
``target`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames
a few microseconds apart, repaired on the next run), and the previous folder is
deleted. A run killed before the swap leaves ``target`` exactly as it was, and the
next run removes the abandoned staging folder; a run killed after it leaves the new
folder whole. So a reader of ``target`` sees the previous pack whole or the new one
whole, never a mixture, and files of an older plan do not linger.

``keep``: the staging folder starts with hard links to the files of ``target``
for which ``keep(relative_path)`` is true (files the run will not rewrite, e.g.
the other 居/村 of a one-居/村 run, or the user's own files). Hard links are safe
because every writer replaces files by rename, never in place.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["staged_folder", "swap_folders", "clean_abandoned"]

logger = logging.getLogger(__name__)

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_abandoned(target: Path) -> None:
    """Remove staging/old folders of ``target`` left by killed runs; if a run was killed
    between the two renames of the fallback swap, put the new pack in place."""
    parent, name = target.parent, target.name
    pat = re.compile(rf"^\.{re.escape(name)}\.(staging|old)-(\d+)$")
    found = []
    if parent.is_dir():
        for p in parent.iterdir():
            m = pat.match(p.name)
            if m and int(m.group(2)) != os.getpid() and not _alive(int(m.group(2))):
                found.append((m.group(1), p))
    for kind, p in sorted(found, key=lambda x: x[1].name):
        if kind == "old" and not target.exists():
            # killed between the renames of the fallback swap: the staging folder was
            # complete and renamed to target... or not yet: restore the previous pack
            os.replace(p, target)
            continue
        shutil.rmtree(p, ignore_errors=True)


def swap_folders(new: Path, target: Path) -> None:
    """Make ``new`` the folder at ``target`` (the old one ends at ``new``'s path)."""
    if target.exists():
        libc_name = ctypes.util.find_library("c")
        fn = getattr(ctypes.CDLL(libc_name, use_errno=True), "renameat2", None) \
            if libc_name else None
        if fn is not None:
            r = fn(_AT_FDCWD, os.fsencode(new), _AT_FDCWD, os.fsencode(target),
                   _RENAME_EXCHANGE)
            if r == 0:
                return
            logger.debug("renameat2 failed (errno %d): two renames", ctypes.get_errno())
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
        os.replace(new, target)
        os.replace(old, new)
    else:
        os.replace(new, target)


@contextlib.contextmanager
def staged_folder(target: str | os.PathLike, *,
                  keep: Callable[[str], bool] | None = None) -> Iterator[Path]:
    """Yield a staging folder that replaces ``target`` when the body succeeds."""
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_abandoned(target)
    stage = target.parent / f".{target.name}.staging-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        if keep is not None and target.is_dir():
            for src in sorted(target.rglob("*")):
                rel = src.relative_to(target).as_posix()
                if src.is_file() and not src.is_symlink() and keep(rel):
                    dst = stage / rel
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        os.link(src, dst)
                    except OSError:
                        shutil.copy2(src, dst)
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    swap_folders(stage, target)
    shutil.rmtree(stage, ignore_errors=True)  # now the previous folder
