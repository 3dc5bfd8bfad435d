"""The work clock: the time limit is a budget of work, not of wall-clock time."""

from __future__ import annotations

import threading
import time


# ---------------------------------------------------------------- the work clock
#
# The time limit is a budget of work, not of wall-clock time: the solver counts what
# it does (cell moves weighed, areas re-measured, regions grown) and converts it to
# seconds at WORK_RATE units per second (about one core of an office PC of 2024).
# So the same input and seed give the same plan on any machine and under any load:
# nothing that decides the plan reads the wall clock. The wall clock is only watched:
# a solve that takes more than HARD_FACTOR times its limit of wall-clock time (a
# machine far slower than the reference, or starved by other work) gets a ``slow_solve``
# row in ``problems`` saying so; its plan is the one any machine would find.

WORK_RATE = 40_000.0
#: wall-clock seconds per second of limit past which a solve is reported as slow (only reported)
HARD_FACTOR = 20.0
_CLOCK = threading.local()


def _start_clock(time_limit: float) -> None:
    _CLOCK.work = 0.0
    _CLOCK.wall0 = time.monotonic()


def _work(units: float) -> None:
    _CLOCK.work = getattr(_CLOCK, "work", 0.0) + units


def _now() -> float:
    """Seconds of work done since :func:`_start_clock` (never the wall clock)."""
    return getattr(_CLOCK, "work", 0.0) / WORK_RATE


def _wall() -> float:
    """Wall-clock seconds since :func:`_start_clock` (for reports only)."""
    return time.monotonic() - getattr(_CLOCK, "wall0", time.monotonic())


