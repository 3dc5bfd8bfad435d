"""The solver's parameters and weights, its result type, and the count of areas."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


from pucha.partition.proofs import RIVER_RANK, band_admits


MAJOR_RANKS = (3, 4)  # major road, railway

# objective weights (per area)
BAND_W = 1e6       # outside the hard band
BAND_SLOPE = 1e4   # per target of distance outside the band
RIVER_W = 1e5      # per extra populated part across a river
RIVER_STRICT_W = 1e7  # the same in the first rounds, where rivers come before the band
DEV10_W = 1000.0   # outside ±10% of the target
DEV10_SLOPE = 3000.0
MAJOR_W = 2500.0   # per extra populated part across a major road / railway (above the ±10% window:
#                    an area leaves the window before it crosses a major road; 1000 before)
DEV_W = 300.0      # times squared relative deviation
PP_W = 250.0       # times (1 - Polsby-Popper)
HH_W = 400.0       # times squared relative households deviation (when a target is set)
SPLIT_W = 600.0   # per link between two parts of one cut building in different areas
CUT_W = 0.01       # compactness without geometry: per metre of border

COARSE_ABOVE = 2500  # coarsen graphs with more cells than this
REPAIR_ROUNDS = 4    # local rounds after re-planning a neighbourhood
REPAIR_POP_ONLY = True  # re-plan neighbourhoods only around areas off in people or across a river
PART_CHAIN = 2
#: compactness rounds at the end: the first re-splits every pair of neighbouring areas, the
#: others only the pairs around an area less compact than POLISH_BELOW (Polsby-Popper)
FINAL_ROUNDS = 3
POLISH_BELOW = 0.5
FINAL_SEEDS = 16  # grown regions tried per pair in those rounds
#: directions of the straight sweeps across a pair of areas that those rounds try besides
#: grown regions, and the cuts tried along each sweep
SWEEPS = tuple((math.cos(k * math.pi / 4), math.sin(k * math.pi / 4)) for k in range(8))
SWEEP_CUTS = 10
RESTART_BELOW = 3000  # other starts for 居/村 up to this many cells with unforced band misses
_DEBUG = False


@dataclass
class SolveResult:
    """Areas as lists of nodes (sorted), problems, and the label each area carries."""
    areas: list[list[int]]
    problems: list[dict] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0
    #: why an area misses a rule: key i (area index) for the band, key -1-i for a river
    #: crossing; "proven impossible" in the text when the structure forces it
    reasons: dict[int, str] = field(default_factory=dict)
    #: work done, in seconds of the reference core (what the time limit budgets)
    work: float = 0.0


def choose_k(pop: int, *, target: int = 300, vmin: int = 240, vmax: int = 360) -> int:
    """Number of areas: round(pop/target), moved so that pop/k is inside the band if possible.

    When no number of areas holds ``pop`` inside the band (475 people with 240-360), the
    number whose one area outside the band misses it by the least (475: two areas, one of
    240 and one of 235, rather than one of 475).
    """
    if pop <= 0:
        return 1
    k = max(1, round(pop / target))
    # among the counts whose mean is inside the band, the one whose mean is nearest the
    # target (1,645 people: 6 areas of 274 on average rather than 5 of 329, which leaves
    # a building's worth of room on each side of the ±10% window)
    fit = [c for c in (k - 2, k - 1, k, k + 1, k + 2) if c >= 1 and vmin <= pop / c <= vmax]
    if fit:
        return min(fit, key=lambda c: (abs(pop / c - target), c))
    if pop > vmax and not band_admits(pop, vmin=vmin, vmax=vmax):
        hi = -(-pop // vmax)  # the fewest areas that hold pop below the band maximum
        # hi areas: hi-1 at vmin, one short by hi*vmin - pop; hi-1 areas: one over by pop - (hi-1)*vmax
        return hi if hi * vmin - pop <= pop - (hi - 1) * vmax else hi - 1
    return k


def _ecls(rank: int) -> int:
    """Edge class for the crossing rules: 2 river, 1 major road/railway, 0 other."""
    return 2 if rank >= RIVER_RANK else (1 if rank in MAJOR_RANKS else 0)


