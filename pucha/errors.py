"""The few exception classes pucha raises.

Each subclasses a built-in so callers can catch it the usual way. The command
line prints ``str(exc)`` of a :class:`PuchaError` without a traceback, so every
message must say *where* (file, layer, feature id), *what* is wrong and *how to
fix it*.
"""

from __future__ import annotations

__all__ = ["PuchaError", "InputError", "ConfigError", "CRSError", "FontError", "SolverError",
           "ProjectBusyError"]


class PuchaError(Exception):
    """Base class: an error a user can fix; shown without a traceback."""

    exit_code = 2


class InputError(PuchaError, ValueError):
    """An input file or layer cannot be used as given."""


class ConfigError(PuchaError, ValueError):
    """The project TOML file is wrong (unknown key, bad value, missing file)."""


class CRSError(InputError):
    """A layer's coordinate reference system is missing or implausible."""


class FontError(PuchaError, RuntimeError):
    """No usable Simplified-Chinese font is installed, or a glyph is missing."""


class SolverError(PuchaError, RuntimeError):
    """The partition cannot run at all (not: a rule it could not meet)."""


class ProjectBusyError(PuchaError, RuntimeError):
    """The project GeoPackage is locked by another program (QGIS saving or editing);
    nothing was written. Exit status 75 (try again later)."""

    exit_code = 75
