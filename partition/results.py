"""What the partition produces: one 居/村's result and the whole project's."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

__all__ = ["VillageResult", "PartitionResult"]


@dataclass
class VillageResult:
    """One 居/村 solved: areas (GeoDataFrame rows), building_areas rows, problems, labels."""
    village_code: str
    areas: pd.DataFrame
    building_areas: pd.DataFrame
    problems: list[dict]
    labels: dict[str, str] = field(default_factory=dict)  # area_code -> pinned label
    seconds: float = 0.0
    resumed: bool = False  # taken from an interrupted run's cache


@dataclass
class PartitionResult:
    """Everything :func:`partition_project` produced."""
    areas: gpd.GeoDataFrame
    building_areas: pd.DataFrame
    quality: pd.DataFrame
    problems: gpd.GeoDataFrame
    labels: dict[str, str]
    timings: dict[str, float]
    resumed: list[str] = field(default_factory=list)  # 居/村 taken from an interrupted run
