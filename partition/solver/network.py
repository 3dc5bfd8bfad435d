"""The cell network (index-based graph) and the flood fill that finds its parts."""

from __future__ import annotations

import math

import numpy as np

from pucha.partition.solver.params import _ecls


class _Net:
    """Index-based graph: adjacency with barrier rank/class and shared length, cell attributes."""

    def __init__(self, pop, dw, ca, cp, xy, nbr, rk, ln, has_geom, sb=None):
        self.n = len(pop)
        self.pop, self.dw, self.ca, self.cp, self.xy = pop, dw, ca, cp, xy
        self.nbr, self.rk, self.ln = nbr, rk, ln
        self.cl = [[_ecls(r) for r in rr] for rr in rk]
        self.has_geom = has_geom
        #: per edge, how many links between parts of one cut building it stands for
        self.sb = sb if sb is not None else [[0] * len(x) for x in nbr]
        self.any_sb = any(any(x) for x in self.sb)
        #: per cell, its links to other parts of its cut building: (neighbour, links)
        self.sbl = [tuple((v, b) for v, b in zip(n, bb) if b) for n, bb in zip(nbr, self.sb)]
        self.sb_cells = frozenset(u for u, x in enumerate(self.sbl) if x)
        # the same links zipped once per cell (the searches' inner loops run over these):
        # (neighbour, class, length) and (neighbour, rank)
        self.adj = [tuple(zip(n, c, w)) for n, c, w in zip(nbr, self.cl, ln)]
        self.adjk = [tuple(zip(n, rr)) for n, rr in zip(nbr, rk)]
        #: (neighbour, border length weighed by the barrier: w / (1 + rank)²) for cut costs
        self.adjw = [tuple((v, w / (1 + r) ** 2) for v, r, w in zip(n, rr, ww)) for n, rr, ww in zip(nbr, rk, ln)]

    @classmethod
    def from_nx(cls, g, nodes, pop, xy, dwellings):
        idx = {n: i for i, n in enumerate(nodes)}
        nbr, rk, ln, sb = [], [], [], []
        for n in nodes:
            ms = sorted(g.neighbors(n))
            nbr.append([idx[m] for m in ms])
            rk.append([int(g.edges[n, m].get("rank", 0)) for m in ms])
            ln.append([float(g.edges[n, m].get("length", 1.0)) for m in ms])
            sb.append([1 if g.edges[n, m].get("building") else 0 for m in ms])
        has_geom = all("area" in g.nodes[n] and "perimeter" in g.nodes[n] for n in nodes) and len(nodes) > 0
        if has_geom:
            ca = [float(g.nodes[n]["area"]) for n in nodes]
            cp = [float(g.nodes[n]["perimeter"]) for n in nodes]
        else:
            ca = [1.0] * len(nodes)
            cp = [float(sum(x)) for x in ln]
        if dwellings is not None:
            dw = [float(dwellings.get(n, 0.0) or 0.0) for n in nodes]
        else:
            dw = [float(g.nodes[n].get("dwellings", 0.0) or 0.0) for n in nodes]
        dw = [0.0 if math.isnan(v) else v for v in dw]
        return cls([int(pop[n]) for n in nodes], dw, ca, cp,
                   [np.asarray(xy[n], dtype=float) for n in nodes], nbr, rk, ln, has_geom, sb)


