"""Shared fixtures: where the real public data lives, and small helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (real OSM, codes, census figures)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real data folder missing: {SHARED_DATA} (CI copies shared/ beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def lujiazui_gpkg(shared_data: Path) -> Path:
    return shared_data / "osm" / "shanghai-lujiazui.gpkg"


@pytest.fixture(scope="session")
def wuhan_gpkg(shared_data: Path) -> Path:
    return shared_data / "osm" / "wuhan-guanggu.gpkg"
