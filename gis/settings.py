"""The project's settings, as ``pucha import`` stored them: ONE reader for every step.

``pucha import`` stores the resolved project TOML under the meta key
:data:`pucha.gis.schema.META_SETTINGS`. Every step command (partition, check,
boundaries, maps, export, run) reads its section through :func:`project_config`, and
its command-line flags override single values for that run only
(:func:`with_overrides`), which the step then records (the revision of a partition,
the boundaries meta). A project made by hand or by an older pucha, with no stored
settings, gets the defaults of :mod:`pucha.config`.

>>> from pucha.config import PartitionSettings
>>> st, used = with_overrides(PartitionSettings(min=260, max=340), min=None, max=330)
>>> (st.min, st.max, used)
(260, 330, {'max': 330})
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, TypeVar

from pucha.config import Config, ProjectSettings, config_from_dict
from pucha.errors import ConfigError
from pucha.gis import schema as S

__all__ = ["project_config", "with_overrides", "stored_settings_dict"]

T = TypeVar("T")


def stored_settings_dict(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The settings dict stored in a project's meta, or None when there is none."""
    d = meta.get(S.META_SETTINGS)
    return d if isinstance(d, dict) else None


def project_config(gpkg: str | os.PathLike) -> Config:
    """The validated settings stored in ``gpkg`` by ``pucha import`` (defaults if none).

    Raises :class:`~pucha.errors.ConfigError` when the stored settings no longer
    validate (a project written by a newer pucha, or edited by hand).
    """
    from pucha.gis.write import read_meta

    meta = read_meta(gpkg)
    d = stored_settings_dict(meta)
    if d is None:
        return Config(project=ProjectSettings(), layers={},
                      base_dir=Path(os.path.dirname(os.fspath(gpkg)) or "."))
    d = dict(d)
    base = d.pop("base_dir", None) or os.path.dirname(os.fspath(gpkg)) or "."
    try:
        return config_from_dict(d, base_dir=base)
    except ConfigError as exc:
        raise ConfigError(f"{gpkg}: the settings stored at import do not validate: {exc}. "
                          f"Re-run pucha import with the project file.") from None


def with_overrides(section: T, **flags: Any) -> tuple[T, dict[str, Any]]:
    """``section`` with the flags that were given (not None) put in; and those flags.

    The dataclass is rebuilt, so its own validation runs on the new values too.
    """
    given = {k: v for k, v in flags.items() if v is not None}
    names = {f.name for f in dataclasses.fields(section)}  # type: ignore[arg-type]
    unknown = sorted(set(given) - names)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
    return (dataclasses.replace(section, **given) if given else section), given  # type: ignore[type-var]
