"""The resume cache of ``pucha partition``: per-居/村 results of an unfinished run.

Moved out of :mod:`pucha.partition.run` (no behaviour change); see the comment below.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import hmac
import logging
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

if TYPE_CHECKING:
    from pucha.partition.results import VillageResult

__all__ = ["ResumeCache", "resume_dir", "dump_signed", "load_signed"]

log = logging.getLogger("pucha.partition.run")

# A long run killed half-way (an office PC switched off) must not start from nothing:
# every 居/村 solved is kept in a sidecar folder beside the project GeoPackage
# (``.<name>.gpkg.resume/<village_code>.pkl``), written atomically, under a key that
# hashes everything its result depends on: the engine's source code, the pucha
# version, and the 居/村's inputs (outline, buildings, barrier lines, settings, pins,
# CRS, the earlier plan used for stable codes). A re-run takes a 居/村 from the folder
# only when the key matches, so the result is exactly the uninterrupted one. The
# folder is removed once the plan is written. Each file is signed (HMAC-SHA256) with
# a key private to the user (:func:`_secret`): a file this user's pucha did not write
# (copied with a project from another office, planted) is ignored, never unpickled.

_CACHE_FORMAT = "pucha-resume-2"


def resume_dir(gpkg_path: str | os.PathLike) -> Path:
    """The sidecar folder of per-居/村 results of an unfinished run of ``gpkg_path``
    (absolute: a relative project path is resolved here, on the client, so workers
    of a cluster never write into their own working directory)."""
    p = Path(os.path.abspath(gpkg_path))
    return p.parent / f".{p.name}.resume"


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """SHA-256 of the partition engine's source (a changed engine invalidates the cache)."""
    from pucha import __version__

    h = hashlib.sha256(f"{_CACHE_FORMAT}|{__version__}".encode())
    here = Path(__file__).resolve().parent
    # (every module of the package, sub-packages such as solver/ included)
    for f in sorted(here.rglob("*.py")) + [here.parent / "gis" / "schema.py"]:
        with contextlib.suppress(OSError):
            h.update(f.relative_to(here.parent).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _digest(h, obj) -> None:
    """Feed ``obj`` into hash ``h`` canonically (frames by column, geometries as WKB)."""
    if isinstance(obj, pd.DataFrame):
        h.update(f"df{len(obj)}|{','.join(map(str, obj.columns))}|".encode())
        for col in obj.columns:
            v = obj[col]
            if isinstance(v, gpd.GeoSeries) or (len(v) and isinstance(
                    v.iloc[0], shapely.Geometry)):
                h.update(b"".join(w or b"-" for w in shapely.to_wkb(np.asarray(v.values,
                                                                                 dtype=object))))
            else:
                h.update(str(v.dtype).encode())
                try:
                    h.update(pd.util.hash_pandas_object(v, index=False).to_numpy().tobytes())
                except TypeError:
                    h.update(pd.util.hash_pandas_object(v.astype(str), index=False)
                             .to_numpy().tobytes())
    elif isinstance(obj, shapely.Geometry):
        h.update(b"g" + shapely.to_wkb(obj))
    elif obj is None:
        h.update(b"None")
    elif isinstance(obj, Mapping):
        h.update(f"map{len(obj)}".encode())
        for k in sorted(obj, key=str):
            h.update(f"{k!s}=".encode())
            _digest(h, obj[k])
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        h.update(f"seq{len(items)}".encode())
        for x in items:
            _digest(h, x)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(type(obj).__name__.encode())
        _digest(h, {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    elif hasattr(obj, "to_wkt"):  # a pyproj CRS
        h.update(obj.to_wkt().encode())
    else:
        h.update(f"{type(obj).__name__}:{obj!r}".encode())


def _cache_key(args) -> str:
    """The key of one 居/村's result: the engine's code and everything that shapes the
    plan; not ``jobs`` nor the scheduler (they change only the speed), so a run killed
    with ``--jobs 1`` resumes with ``--jobs 8`` or on a Dask cluster."""
    code, name, poly, b, bar, settings, pinned, crs, previous = args[:9]
    if dataclasses.is_dataclass(settings) and any(f.name == "jobs" for f in dataclasses.fields(settings)):
        settings = dataclasses.replace(settings, jobs=1)
    h = hashlib.sha256(_code_digest().encode())
    for part in (code, name, poly, b, bar, settings, pinned, crs, previous):
        _digest(h, part)
    return h.hexdigest()


_MAGIC = b"PUCHARS1"


@functools.lru_cache(maxsize=1)
def _secret() -> bytes | None:
    """This user's key that signs resume files (``~/.cache/pucha/resume.key``, 0600).

    A resume file is unpickled only when its HMAC verifies, so a file planted in (or
    copied with) a project folder from elsewhere is ignored, never executed. On a Dask
    cluster the client reads its key and gives it to the workers with each task
    (:class:`ResumeCache`): a worker never uses (or creates) a key of its own."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pucha"
    f = base / "resume.key"
    try:
        if not f.is_file():
            base.mkdir(parents=True, exist_ok=True)
            fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(32))
        key = f.read_bytes()
    except FileExistsError:  # another process made it just now
        key = f.read_bytes()
    except OSError as exc:
        log.warning("no resume key (%s): an interrupted run will not be resumed", exc)
        return None
    return key if len(key) == 32 else None


class ResumeCache(NamedTuple):
    """Where a run keeps its per-居/村 results and the key that signs them.

    ``path`` is absolute (resolved by the client: the folder beside the project, see
    :func:`resume_dir`), ``secret`` the client's key, so every worker of a cluster
    reads and writes the same folder under the same signature."""
    path: Path
    secret: bytes

    @classmethod
    def beside(cls, gpkg_path: str | os.PathLike) -> ResumeCache | None:
        """The cache of ``gpkg_path`` with this user's key (None: no key, no resume)."""
        secret = _secret()
        return None if secret is None else cls(resume_dir(gpkg_path), secret)


def dump_signed(path: Path, obj, secret: bytes) -> None:
    """Pickle ``obj`` into ``path`` atomically, signed with ``secret`` (HMAC-SHA256)."""
    from pucha.gis.write import write_bytes

    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, _MAGIC + hmac.new(secret, payload, hashlib.sha256).digest() + payload)


def load_signed(path: Path, secret: bytes):
    """What :func:`dump_signed` wrote; ``LookupError`` if missing, unsigned or damaged."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LookupError(f"{path}: {exc}") from None
    mac, payload = data[len(_MAGIC):len(_MAGIC) + 32], data[len(_MAGIC) + 32:]
    if not data.startswith(_MAGIC) or not hmac.compare_digest(
            mac, hmac.new(secret, payload, hashlib.sha256).digest()):
        raise LookupError(f"{path}: not signed with this run's key")
    try:
        return pickle.loads(payload)  # noqa: S301 - signed above
    except Exception as exc:  # noqa: BLE001
        raise LookupError(f"{path}: unreadable ({exc})") from None


def _as_cache(cache) -> ResumeCache | None:
    """A :class:`ResumeCache` from one, or from a folder (signed with this user's key)."""
    if cache is None or isinstance(cache, ResumeCache):
        return cache
    secret = _secret()
    return None if secret is None else ResumeCache(Path(os.path.abspath(cache)), secret)


def _cache_load(cache, code: str, key: str):
    cache = _as_cache(cache)
    if cache is None:
        return None
    f = cache.path / f"{code}.pkl"
    if not f.is_file():
        return None
    try:
        stored_key, result = load_signed(f, cache.secret)
    except (LookupError, TypeError, ValueError):  # a damaged or foreign entry is recomputed
        log.debug("resume: %s not signed by this user or unreadable, solving again", f)
        return None
    from pucha.partition.results import VillageResult

    if stored_key != key or not isinstance(result, VillageResult):
        return None
    return result


def _cache_store(cache, code: str, key: str, result: VillageResult) -> None:
    cache = _as_cache(cache)
    if cache is None:
        return
    try:
        dump_signed(cache.path / f"{code}.pkl", (key, result), cache.secret)
    except OSError as exc:  # a read-only folder: no resume, same result
        log.warning("resume cache not written (%s)", exc)
