"""四至 for the maps and registers: the one algorithm of :mod:`pucha.partition.sizhi`.

The partition stores ``sizhi`` and ``east`` … ``north`` on every area; a hand-edited
plan may leave them empty, and then :meth:`pucha.outputs.project.MapProject.sizhi`
describes the sides with :func:`describe_sides` (same rule, same words).
"""

from __future__ import annotations

from pucha.partition.sizhi import EDGE, SIDES, describe_sides, sizhi_text

__all__ = ["describe_sides", "sizhi_text", "SIDES", "EDGE"]
