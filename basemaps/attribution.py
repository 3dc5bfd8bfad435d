"""Data attribution (ODbL for OpenStreetMap-derived data) on every map.

OpenStreetMap data is licensed under the Open Database License 1.0: any map
drawn from it must credit "© OpenStreetMap contributors" and say the data is
available under the ODbL. pucha prints the notice as plain text (no links: the
maps make no network request and the output scan finds no URL).

>>> attribution_text()
'© OpenStreetMap contributors (ODbL 1.0)'
>>> attribution_text("© OpenStreetMap contributors (ODbL 1.0)", "天地图 GS(2024)0568号")
'© OpenStreetMap contributors (ODbL 1.0) | 天地图 GS(2024)0568号'
"""

from __future__ import annotations

__all__ = ["OSM_ATTRIBUTION", "ODBL_NOTICE", "attribution_text", "is_osm_attribution"]

OSM_ATTRIBUTION = "© OpenStreetMap contributors"
ODBL_NOTICE = "ODbL 1.0"


def attribution_text(*parts: str) -> str:
    """Join attribution strings (default: the OSM/ODbL notice), dropping blanks and repeats."""
    items = [p.strip() for p in parts if p and p.strip()] or [f"{OSM_ATTRIBUTION} ({ODBL_NOTICE})"]
    seen: list[str] = []
    for p in items:
        if p not in seen:
            seen.append(p)
    return " | ".join(seen)


def is_osm_attribution(text: str) -> bool:
    """True if ``text`` carries the OSM credit."""
    return "openstreetmap" in (text or "").lower()
