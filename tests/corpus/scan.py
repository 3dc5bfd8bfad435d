"""Read back EVERY file a pucha run wrote, as text, and look for what must not be there.

Used by tests/test_security.py and tests/test_crash_safety.py:

- :func:`output_files` lists every file under a folder (hidden ones too);
- :func:`texts` gives the searchable text of a file: HTML/CSV/JSON/TOML/TXT decoded,
  XLSX = the XML of every sheet and the shared strings, PDF = ``pdftotext`` output plus
  the raw bytes (metadata), GeoPackage = raw bytes decoded plus every text cell of every
  table read through sqlite (so text inside free pages is seen as well as live rows);
- :func:`urls` finds http(s) URLs; :data:`INERT_URLS` lists those that are identifiers or
  plain links (never fetched) and are allowed everywhere;
- :func:`fetching_urls` finds URLs in places a browser would fetch (``src=``, ``url(``,
  ``<link href``, ``fetch(``, ``XMLHttpRequest``, ``import``, tile templates).
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["output_files", "texts", "urls", "fetching_urls", "INERT_URLS", "temp_leftovers",
           "find_values"]

# Identifiers and plain links that no browser fetches:
# - XML namespace names (SVG/XLink/XHTML) that matplotlib and Leaflet write;
# - Leaflet's own attribution link in its bundled source ("<a href=https://leafletjs.com>");
# - the ODbL / OpenStreetMap attribution links the licence asks for.
INERT_URLS = (
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/XML/1998/namespace",
    "http://ns.adobe.com/",
    "http://purl.org/dc/",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns",
    "https://leafletjs.com",
    "https://www.openstreetmap.org/copyright",
    "https://opendatacommons.org/licenses/odbl/",
    # OOXML (xlsx) schema namespaces (identifiers inside the zip's XML)
    "http://schemas.openxmlformats.org/",
    "http://schemas.microsoft.com/office/",
    "http://purl.org/dc/elements/1.1/",
    "http://purl.org/dc/terms/",
    "http://purl.org/dc/dcmitype/",
    "http://www.w3.org/2001/XMLSchema-instance",
    "http://www.opengis.net/",   # CRS definitions inside a GeoPackage (gpkg_spatial_ref_sys)
    "http://www.geopackage.org/spec",
    # the public identifier in the DOCTYPE QGIS writes atop every .qml style (the QGIS
    # default styles stored in the project's layer_styles table); no DTD is fetched
    "http://mrcc.com/qgis.dtd",
)

_URL = re.compile(r"https?://[^\s\"'<>)\\\],;]+", re.IGNORECASE)
_FETCH = re.compile(
    r"""(?:\bsrc\s*=\s*["']?|url\(\s*["']?|<link[^>]*href\s*=\s*["']?|fetch\(\s*["']|"""
    r"""XMLHttpRequest[^;]{0,200}?["']|@import\s+["']?|import\s*\(\s*["']|"""
    r"""tileLayer\(\s*["']|new\s+WebSocket\(\s*["']|navigator\.sendBeacon\(\s*["'])"""
    r"""(https?:)?//""", re.IGNORECASE)


def output_files(root: Path) -> list[Path]:
    """Every regular file under ``root`` (sorted), hidden files included."""
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


def temp_leftovers(root: Path) -> list[Path]:
    """Temporary files a clean run must not leave: ``.*.tmp``, ``*.tmp``, sqlite journals."""
    out = []
    for p in output_files(root):
        n = p.name
        if (n.endswith(".tmp") or ".tmp." in n or n.endswith("-journal") or n.endswith("-wal")
                or n.endswith("-shm") or (n.startswith(".") and n.endswith(".gpkg"))):
            out.append(p)
    return out


def _pdf_text(path: Path) -> str:
    try:
        r = subprocess.run(["pdftotext", "-q", "-enc", "UTF-8", str(path), "-"],
                           capture_output=True, timeout=120, check=False)
        return r.stdout.decode("utf-8", "replace")
    except FileNotFoundError:  # pragma: no cover - poppler-utils is a CI dependency
        return ""


def _gpkg_cells(path: Path) -> str:
    out: list[str] = []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for t in tables:
            try:
                for row in con.execute(f'SELECT * FROM "{t}"'):
                    for v in row:
                        if isinstance(v, str):
                            out.append(v)
                        elif isinstance(v, bytes):
                            out.append(v.decode("utf-8", "ignore"))
            except sqlite3.DatabaseError:
                continue
    finally:
        con.close()
    return "\n".join(out)


def texts(path: Path) -> Iterator[str]:
    """Every searchable text view of one output file (see the module docstring)."""
    path = Path(path)
    raw = path.read_bytes()
    suffix = path.suffix.lower()
    yield raw.decode("utf-8", "ignore")
    if suffix == ".xlsx" or raw[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    yield z.read(name).decode("utf-8", "ignore")
        except zipfile.BadZipFile:
            pass
    if suffix == ".pdf":
        yield _pdf_text(path)
    if suffix in (".gpkg", ".sqlite", ".db") or raw[:16] == b"SQLite format 3\x00":
        try:
            yield _gpkg_cells(path)
        except sqlite3.DatabaseError:
            pass
    for enc in ("gbk", "utf-16-le"):
        if suffix in (".csv", ".txt"):
            yield raw.decode(enc, "ignore")


def urls(text: str) -> set[str]:
    return {m.group(0).rstrip(".") for m in _URL.finditer(text)}


def fetching_urls(text: str) -> set[str]:
    """URLs (or protocol-relative ``//host``) in a context a browser fetches from."""
    found = set()
    for m in _FETCH.finditer(text):
        tail = text[m.end():m.end() + 200]
        host = re.match(r"[^\s\"'<>)]+", tail)
        found.add(text[m.start():m.end()] + (host.group(0) if host else ""))
    return found


def inert(url: str, allowed: tuple[str, ...] = ()) -> bool:
    return any(url.startswith(a) for a in INERT_URLS + tuple(allowed))


def find_values(root: Path, values: list[str]) -> dict[str, list[str]]:
    """``{relative file: [values found]}`` for every output file holding any of ``values``."""
    hits: dict[str, list[str]] = {}
    for p in output_files(root):
        body = "\n".join(texts(p))
        found = [v for v in values if v in body]
        if found:
            hits[p.relative_to(root).as_posix()] = found
    return hits
