"""The few exception classes pucha raises, and the exit status of every command.

Each exception subclasses a built-in so callers can catch it the usual way. The
command line prints ``str(exc)`` of a :class:`PuchaError` without a traceback, so
every message must say *where* (file, layer, feature id), *what* is wrong and *how to
fix it*.

Exit status of every ``pucha`` command (the one place they are defined):

=====  ==================================================================================
  0    done; warnings only
  1    done, but the data has error-severity problems (``pucha import``: a building
       dropped, a total missing, 0 people ...; ``pucha check``: a hard rule broken;
       ``pucha run``: the first failing step). The outputs ARE written, for inspection
       in QGIS: read the ``problems`` layer / report.
  2    nothing done: unusable input or settings (file missing or damaged, unknown key,
       bad value, an output that would overwrite an input, disk full); the previous
       outputs are intact
  3    ``pucha boundaries``: a conflict beyond tolerance
  75   the project GeoPackage is locked by another program (QGIS saving or editing);
       nothing was written: try again later
  130  interrupted (Ctrl-C); the previous outputs are intact
=====  ==================================================================================
"""

from __future__ import annotations

__all__ = ["PuchaError", "InputError", "ConfigError", "CRSError", "FontError", "SolverError",
           "ProjectBusyError", "OverwriteError", "DiskFullError", "EXIT_OK", "EXIT_PROBLEMS",
           "EXIT_INPUT", "EXIT_CONFLICT", "EXIT_BUSY", "EXIT_INTERRUPTED"]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_INPUT = 2
EXIT_CONFLICT = 3
EXIT_BUSY = 75
EXIT_INTERRUPTED = 130


class PuchaError(Exception):
    """Base class: an error a user can fix; shown without a traceback."""

    exit_code = EXIT_INPUT


class InputError(PuchaError, ValueError):
    """An input file or layer cannot be used as given."""


class ConfigError(PuchaError, ValueError):
    """The project TOML file or a command-line option is wrong (unknown key, bad value)."""


class OverwriteError(ConfigError):
    """An output path names an input file (or the project itself): refused."""


class CRSError(InputError):
    """A layer's coordinate reference system is missing or implausible."""


class FontError(PuchaError, RuntimeError):
    """No usable Simplified-Chinese font is installed, or a glyph is missing."""


class SolverError(PuchaError, RuntimeError):
    """The partition cannot run at all (not: a rule it could not meet)."""


class ProjectBusyError(PuchaError, RuntimeError):
    """The project GeoPackage is locked by another program (QGIS saving or editing);
    nothing was written. Exit status 75 (try again later)."""

    exit_code = EXIT_BUSY


class DiskFullError(PuchaError, OSError):
    """No space left on the device while writing; the previous outputs are intact."""
