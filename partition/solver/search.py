"""The local search: one objective per area, moves cheapest first."""

from __future__ import annotations

import heapq
import math


from pucha.partition.solver.clock import _now, _work
from pucha.partition.solver.initial import _initial
from pucha.partition.solver.network import _Net
from pucha.partition.solver.params import BAND_SLOPE, BAND_W, CUT_W, DEV10_SLOPE, DEV10_W, DEV_W, HH_W, MAJOR_W, PART_CHAIN, PP_W, REPAIR_POP_ONLY, REPAIR_ROUNDS, RIVER_W, SPLIT_W, SWEEP_CUTS, choose_k


# ---------------------------------------------------------------- local search

class _Search:
    """Areas of a net with cached statistics and the per-area objective."""

    def __init__(self, net: _Net, areas, *, target, vmin, vmax, hh_target, labels, rng, deadline):
        self.net = net
        self.target, self.vmin, self.vmax = target, vmin, vmax
        self.hh = hh_target
        self.labels = labels
        self.rng = rng
        self.deadline = deadline
        self.px = [float(v[0]) for v in net.xy]
        self.py = [float(v[1]) for v in net.xy]
        self.assign = [0] * net.n
        self.members: list[set] = []
        for i, a in enumerate(areas):
            self.members.append(set(a))
            for n in a:
                self.assign[n] = i
        self._cache: dict = {}
        self._failed: set = set()
        self.ver = [0] * len(self.members)
        self._clock = 0
        self._keys: dict[int, tuple[int, int]] = {}
        self.river_w = RIVER_W
        self.stats = [self._stats(m) for m in self.members]
        self.cost = [self._cost(s) for s in self.stats]

    # -- statistics of a set of nodes: pop, dw, area, perimeter, river edges, major edges
    def _stats(self, S):
        _work(0.05 * len(S))
        net = self.net
        p = dw = A = P = 0.0
        nr = nm = 0
        pops, dws, cas, cps, adj = net.pop, net.dw, net.ca, net.cp, net.adj
        for u in S:
            p += pops[u]
            dw += dws[u]
            A += cas[u]
            P += cps[u]
            for v, c, w in adj[u]:
                if v in S:
                    P -= w  # each internal edge is seen twice: 2*w in total
                    if u < v:
                        if c == 2:
                            nr += 1
                        elif c == 1:
                            nm += 1
        rc = self._parts(S, 2) if nr else (1 if p > 0 else 0)
        mc = self._parts(S, 1) if nm else (1 if p > 0 else 0)
        bx = 0
        if net.any_sb:
            for u in net.sb_cells.intersection(S):
                for v, b in net.sbl[u]:
                    if v not in S:
                        bx += b
        return [int(p), dw, A, P, nr, nm, rc, mc, len(S), bx]

    def _parts(self, S, cls):
        """Populated connected parts of S once edges of class ``cls`` are removed."""
        return self._populated_pieces(S, S, cls)

    def _populated_pieces(self, starts, members, cls):
        """Connected pieces of ``members`` holding people, searched from ``starts``,
        through edges not of class ``cls``."""
        net = self.net
        adj = net.adj
        seen: set = set()
        k = 0
        for s in starts:
            if s in seen:
                continue
            seen.add(s)
            stack = [s]
            has = net.pop[s] > 0
            while stack:
                u = stack.pop()
                for v, c, _ in adj[u]:
                    if c != cls and v in members and v not in seen:
                        seen.add(v)
                        has = has or net.pop[v] > 0
                        stack.append(v)
            k += has
        return k

    def _cost(self, s):
        p, dw, A, P, _, _, rc, mc, cnt, bx = s
        if cnt == 0:
            return 0.0
        t = self.target
        dev = abs(p - t) / t
        c = DEV_W * dev * dev
        if abs(p - t) * 10 > t:
            c += DEV10_W + DEV10_SLOPE * (dev - 0.1)
        if p < self.vmin:
            c += BAND_W + BAND_SLOPE * (self.vmin - p) / t
        elif p > self.vmax:
            c += BAND_W + BAND_SLOPE * (p - self.vmax) / t
        if rc > 1:
            c += self.river_w * (rc - 1)
        if mc > 1:
            c += MAJOR_W * (mc - 1)
        if bx:
            c += 0.5 * SPLIT_W * bx  # each link is counted by the areas on both sides
        if self.net.has_geom:
            if P > 0:
                c += PP_W * (1.0 - min(1.0, 4 * math.pi * A / (P * P)))
        else:
            c += CUT_W * P
        if self.hh:
            c += HH_W * ((dw - self.hh) / self.hh) ** 2
        return c

    def total(self):
        return sum(self.cost)

    def bad(self, a) -> bool:
        """Area ``a`` misses the ±10% window (or the band) or crosses a river or major road."""
        st = self.stats[a]
        return abs(st[0] - self.target) * 10 > self.target or st[6] > 1 or st[7] > 1

    def set_river_weight(self, w: float) -> None:
        """Weigh a river crossed inside an area by ``w`` (above BAND_W: rivers before the band)."""
        self.river_w = w
        self.cost = [self._cost(st) for st in self.stats]
        self._failed.clear()

    def _connected_without(self, a, n):
        net = self.net
        S = self.members[a]
        inner = [m for m in net.nbr[n] if m in S]
        if len(inner) <= 1:
            return True
        want = set(inner)
        start = inner[0]
        want.discard(start)
        seen = {start, n}
        stack = [start]
        while stack:
            u = stack.pop()
            for v in net.nbr[u]:
                if v in S and v not in seen:
                    if v in want:
                        want.discard(v)
                        if not want:
                            return True
                    seen.add(v)
                    stack.append(v)
        return not want

    def _cc(self, a, cls):
        """Cached parts of area ``a`` without edges of class ``cls``: (label of node, pop of part, nodes)."""
        key = (a, cls)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        net = self.net
        S = self.members[a]
        lab: dict[int, int] = {}
        cpop: list[int] = []
        cnodes: list[list[int]] = []
        for s in sorted(S):
            if s in lab:
                continue
            i = len(cpop)
            lab[s] = i
            stack = [s]
            nodes = [s]
            p = net.pop[s]
            while stack:
                u = stack.pop()
                for v, c, _ in net.adj[u]:
                    if c != cls and v in S and v not in lab:
                        lab[v] = i
                        p += net.pop[v]
                        nodes.append(v)
                        stack.append(v)
            cpop.append(p)
            cnodes.append(nodes)
        hit = (lab, cpop, cnodes)
        self._cache[key] = hit
        return hit

    def _parts_after(self, a, n, sign, cls, old):
        """Populated parts of area ``a`` without class-``cls`` edges once ``n`` leaves/joins it."""
        net = self.net
        S = self.members[a]
        lab, cpop, cnodes = self._cc(a, cls)
        if sign > 0:
            touched = {lab[v] for v, c, _ in net.adj[n] if c != cls and v in S}
            merged_pop = net.pop[n] + sum(cpop[c] for c in touched)
            return old - sum(1 for c in touched if cpop[c] > 0) + (1 if merged_pop > 0 else 0)
        c0 = lab[n]
        inner = [v for v, c, _ in net.adj[n] if c != cls and v in S]
        was = 1 if cpop[c0] > 0 else 0
        after = 1 if cpop[c0] - net.pop[n] > 0 else 0
        if len(inner) <= 1:
            return old - was + after
        rest = set(cnodes[c0])
        rest.discard(n)
        # quick test: the part stays in one piece
        want = set(inner)
        start = inner[0]
        want.discard(start)
        seen = {start}
        stack = [start]
        while stack and want:
            u = stack.pop()
            for v, c, _ in net.adj[u]:
                if c != cls and v in rest and v not in seen:
                    seen.add(v)
                    want.discard(v)
                    stack.append(v)
        if not want:
            return old - was + after
        # n held its part together: count the populated pieces left
        return old - was + self._populated_pieces(inner, rest, cls)

    def _moved_stats(self, a, n, sign):
        """Stats of area ``a`` without (sign=-1) or with (sign=+1) node ``n``."""
        _work(1.0)
        net = self.net
        s = self.stats[a]
        S = self.members[a]
        sh = 0.0
        r = m = 0
        for v, c, w in net.adj[n]:
            if v in S:
                sh += w
                if c == 2:
                    r += 1
                elif c == 1:
                    m += 1
        p = s[0] + sign * net.pop[n]
        dw = s[1] + sign * net.dw[n]
        A = s[2] + sign * net.ca[n]
        P = s[3] + sign * net.cp[n] - sign * 2 * sh
        nr = s[4] + sign * r
        nm = s[5] + sign * m
        one = 1 if p > 0 else 0
        # (an area stays connected, so with no such edge inside it is one part)
        rc = self._parts_after(a, n, sign, 2, s[6]) if nr else one
        mc = self._parts_after(a, n, sign, 1, s[7]) if nm else one
        bx = s[9]
        if net.any_sb:
            inner = outer = 0
            for v, b in net.sbl[n]:
                if v in S:
                    inner += b
                else:
                    outer += b
            bx += (outer - inner) if sign > 0 else (inner - outer)
        return [p, dw, A, P, nr, nm, rc, mc, s[8] + sign, bx]

    def _tick(self, a):
        self._clock += 1
        self.ver[a] = self._clock

    def _key(self, a) -> int:
        """What area ``a`` holds (a hash of its cells, cached per version): the same again
        after a move and its undo, so a failed search is not retried on the same areas."""
        v, h = self._keys.get(a, (None, 0))
        if v != self.ver[a]:
            _work(0.01 * len(self.members[a]))
            h = hash(frozenset(self.members[a]))
            self._keys[a] = (self.ver[a], h)
        return h

    def _apply_move(self, n, a, b, sa, sb):
        self._tick(a)
        self._tick(b)
        for key in ((a, 1), (a, 2), (b, 1), (b, 2)):
            self._cache.pop(key, None)
        self.members[a].discard(n)
        self.members[b].add(n)
        self.assign[n] = b
        self.stats[a], self.stats[b] = sa, sb
        self.cost[a], self.cost[b] = self._cost(sa), self._cost(sb)

    def cell_moves(self, max_sweeps=50, nodes=None, allowed=None) -> bool:
        """Move boundary cells to a neighbouring area while the objective drops."""
        net = self.net
        any_change = False
        todo = range(net.n) if nodes is None else sorted(nodes)
        dirty: set | None = None  # areas changed in the last sweep (None: the first sweep)
        for _ in range(max_sweeps):
            changed = False
            touched: set = set()
            for j, n in enumerate(todo):
                if (j & 63) == 0 and _now() > self.deadline:
                    return any_change
                a = self.assign[n]
                nbs = {self.assign[m] for m in net.nbr[n]}
                if dirty is not None and a not in dirty and nbs.isdisjoint(dirty):
                    continue  # nothing it depends on changed since it was last looked at
                nbs.discard(a)
                if allowed is not None:
                    nbs &= allowed
                if not nbs or n in self.labels or len(self.members[a]) <= 1:
                    continue
                if not self._connected_without(a, n):
                    continue
                sa = self._moved_stats(a, n, -1)
                ca = self._cost(sa)
                best = None
                for b in sorted(nbs):
                    sb = self._moved_stats(b, n, +1)
                    d = ca + self._cost(sb) - self.cost[a] - self.cost[b]
                    if d < -1e-9 and (best is None or d < best[0]):
                        best = (d, b, sb)
                if best is not None:
                    self._apply_move(n, a, best[1], sa, best[2])
                    touched.update((a, best[1]))
                    changed = any_change = True
            if not changed:
                break
            dirty = touched
        return any_change

    # -- large-neighbourhood repair: re-plan a bad area with the areas around it
    def _set_areas(self, ids, sets):
        for a in ids:
            for key in ((a, 1), (a, 2)):
                self._cache.pop(key, None)
            self._tick(a)
        for a, S in zip(ids, sets):
            self.members[a] = set(S)
            for u in S:
                self.assign[u] = a
            self.stats[a] = self._stats(self.members[a])
            self.cost[a] = self._cost(self.stats[a])

    def repair(self, a, big_fixed) -> bool:
        net = self.net
        region = {a}
        frontier = [a]
        for _ring in range(3):
            nxt = []
            for x in frontier:
                for b in self.neighbours(x):
                    if b not in region and b not in big_fixed:
                        region.add(b)
                        nxt.append(b)
            frontier = nxt
            PR = sum(self.stats[x][0] for x in region)
            kr = choose_k(PR, target=self.target, vmin=self.vmin, vmax=self.vmax)
            if len(region) >= 4 and self.vmin <= PR / kr <= self.vmax:
                break
            if len(region) >= 12:
                break
        ids = sorted(region)
        if len(ids) < 2:
            return False
        memo = tuple((x, self._key(x)) for x in ids)
        if memo in self._failed:
            return False
        U = set().union(*(self.members[x] for x in ids))
        PR = sum(self.stats[x][0] for x in ids)
        kr = choose_k(PR, target=self.target, vmin=self.vmin, vmax=self.vmax)
        kr = max(kr, len({self.labels[u] for u in U if u in self.labels}), 1)
        old_cost = sum(self.cost[x] for x in ids)
        old_sets = [set(self.members[x]) for x in ids]
        labs = {u: lb for u, lb in self.labels.items() if u in U}
        best = None
        extras: list[int] = []
        for variant in (True, False):
            if _now() > self.deadline:
                break
            init = _initial(net, sorted(U), kr, labs, target=self.target, vmin=self.vmin, vmax=self.vmax,
                            by_barriers=variant)
            while len(ids) + len(extras) < len(init):
                extras.append(self._new_area())
            use = ids + extras
            sets = [set(x) for x in init] + [set() for _ in range(len(use) - len(init))]
            self._set_areas(use, sets)
            allowed = set(use)
            for _ in range(REPAIR_ROUNDS):
                m1 = self.cell_moves(nodes=U, allowed=allowed)
                m2 = False
                for x in sorted(use, key=lambda x: (-self.cost[x], x)):
                    if self.members[x] and self.bad(x):
                        for b in self.neighbours(x):
                            if b in allowed and self.resplit(x, b):
                                m2 = True
                                break
                if not (m1 or m2):
                    break
            c = sum(self.cost[x] for x in use)
            if c < old_cost - 1e-6 and (best is None or c < best[0]):
                best = (c, [set(self.members[x]) for x in use])
            if best is not None and not any(self.bad(x) for x in use):
                break
        use = ids + extras
        if best is None:
            self._set_areas(use, old_sets + [set() for _ in extras])
            self._drop_empty_tail()
            self._failed.add(memo)
            return False
        self._set_areas(use, best[1])
        self._drop_empty_tail()
        return True

    def _new_area(self):
        self.members.append(set())
        self.ver.append(0)
        self._tick(len(self.ver) - 1)
        self.stats.append([0, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, 0])
        self.cost.append(0.0)
        return len(self.members) - 1

    def _drop_empty_tail(self):
        while self.members and not self.members[-1]:
            self.members.pop()
            self.ver.pop()
            self.stats.pop()
            self.cost.pop()
            for key in ((len(self.members), 1), (len(self.members), 2)):
                self._cache.pop(key, None)

    # -- ejection chains: pull cells into an area short of people, push them out of a full one
    def _try(self, n, y, x):
        """Delta of moving ``n`` from area ``y`` to ``x`` (None if ``y`` would fall apart)."""
        if n in self.labels or len(self.members[y]) <= 1 or not self._connected_without(y, n):
            return None
        sy = self._moved_stats(y, n, -1)
        sx = self._moved_stats(x, n, +1)
        return self._cost(sy) + self._cost(sx) - self.cost[y] - self.cost[x], sy, sx

    def _undo(self, n, frm, to):
        sf = self._moved_stats(frm, n, -1)
        st = self._moved_stats(to, n, +1)
        self._apply_move(n, frm, to, sf, st)

    def _chain(self, x, pull, depth, gain, visited, width=5):
        net = self.net
        cands = []
        seen: set = set()
        for u in sorted(self.members[x]):
            for v in net.nbr[u]:
                y = self.assign[v]
                if y == x or y in visited:
                    continue
                n, frm, to = (v, y, x) if pull else (u, x, y)
                if (n, to) in seen:
                    continue
                seen.add((n, to))
                r = self._try(n, frm, to)
                if r is not None:
                    cands.append((r[0], n, frm, to, r[1], r[2]))
        cands.sort(key=lambda t: (t[0], t[1], t[3]))
        cands = cands[:width]
        for d, n, frm, to, sf, st in cands:
            if gain + d < -1e-6:
                self._apply_move(n, frm, to, sf, st)
                return True
        if depth <= 1:
            return False
        for d, n, frm, to, sf, st in cands:
            if _now() > self.deadline:
                return False
            if n not in self.members[frm]:
                continue
            self._apply_move(n, frm, to, sf, st)
            nxt = frm if pull else to
            if self._chain(nxt, pull, depth - 1, gain + d, visited | {nxt}, width):
                return True
            self._undo(n, to, frm)
        return False

    def part_moves(self) -> bool:
        """Hand a part of an area that lies across a river (or major road) to a neighbour there.

        The receiving area may leave the band for a moment: an ejection chain from it
        must then bring the total cost down, or the move is undone.
        """
        net = self.net
        changed = False
        for a in range(len(self.members)):
            if _now() > self.deadline:
                break
            if a >= len(self.members) or (self.stats[a][6] <= 1 and self.stats[a][7] <= 1):
                continue
            memo = ("part", a, self._key(a), tuple((b, self._key(b)) for b in self.neighbours(a)))
            if memo in self._failed:
                continue
            hit = False
            for cls, idx in ((2, 6), (1, 7)):
                if a >= len(self.members) or self.stats[a][idx] <= 1:
                    continue
                lab, cpop, cnodes = self._cc(a, cls)
                main = max(range(len(cpop)), key=lambda i: (cpop[i], -min(cnodes[i])))
                moved = False
                for ci in sorted(range(len(cpop)), key=lambda i: (cpop[i], min(cnodes[i]))):
                    if ci == main or cpop[ci] <= 0 or moved:
                        continue
                    P = set(cnodes[ci])
                    if any(u in self.labels for u in P):
                        continue
                    rest = self.members[a] - P
                    if not rest or not self._connected(rest):
                        continue
                    recv = sorted({self.assign[v] for u in P for v in net.nbr[u]} - {a})
                    old_a = set(self.members[a])
                    for b in recv:
                        old_b = set(self.members[b])
                        before = self.cost[a] + self.cost[b]
                        self._set_areas([a, b], [rest, old_b | P])
                        gain = self.cost[a] + self.cost[b] - before
                        if gain < -1e-6 or self._chain(b, False, PART_CHAIN, gain, frozenset({a, b})):
                            moved = changed = hit = True
                            break
                        self._set_areas([a, b], [old_a, old_b])
                    if moved:
                        break
            if not hit:
                self._failed.add(memo)
        return changed

    def chain_pass(self, depth=3) -> bool:
        changed = False
        order = sorted(range(len(self.members)), key=lambda a: (-self.cost[a], a))
        for a in order:
            if _now() > self.deadline:
                break
            if a >= len(self.members) or not self.members[a] or not self.bad(a):
                continue
            if abs(self.stats[a][0] - self.target) * 10 <= self.target:
                continue  # across a major road only: part moves hand such a part over
            if any(self.net.pop[u] > self.vmax for u in self.members[a]):
                continue
            pull = self.stats[a][0] < self.target
            memo = ("chain", a, self._key(a), tuple((b, self._key(b)) for b in self.neighbours(a)))
            if memo in self._failed:
                continue
            if self._chain(a, pull, depth, 0.0, frozenset({a})):
                changed = True
            else:
                self._failed.add(memo)
        return changed

    def _big(self) -> set:
        """Areas holding a cell above the band (re-planning cannot help them)."""
        return {a for a in range(len(self.members)) if any(self.net.pop[u] > self.vmax for u in self.members[a])}

    def polsby_popper(self, a) -> float:
        _, _, A, P = self.stats[a][:4]
        return 4 * math.pi * A / (P * P) if P > 0 else 1.0

    def repair_pass(self) -> bool:
        big = self._big()
        changed = False
        order = sorted(range(len(self.members)), key=lambda a: (-self.cost[a], a))
        for a in order:
            if _now() > self.deadline:
                break
            if a >= len(self.members) or a in big or not self.members[a] or not self.bad(a):
                continue
            if REPAIR_POP_ONLY and abs(self.stats[a][0] - self.target) * 10 <= self.target \
                    and self.stats[a][6] <= 1:
                continue
            if self.repair(a, big):
                changed = True
        return changed

    # -- re-split the union of two neighbouring areas
    def _grow_order(self, U, s, stop=math.inf, axis=None):
        """Cells of ``U`` in growth order from ``s`` (cheapest barrier, then nearest first;
        with ``axis``, lowest projection on it first: a straight sweep across a block),
        until the people taken exceed ``stop``."""
        net = self.net
        pops = net.pop
        px, py = self.px, self.py
        if axis is not None:
            ax, ay = axis
            s = min(U, key=lambda u: (px[u] * ax + py[u] * ay, u))
        x0, y0 = px[s], py[s]
        seen = {s}
        heap = [(0, 0.0, s)]
        order = []
        cum = 0
        push, pop_ = heapq.heappush, heapq.heappop
        adjk = net.adjk
        _work(0.05 * len(U))
        while heap:
            _, _, u = pop_(heap)
            order.append(u)
            cum += pops[u]
            if cum > stop:
                break
            for v, r in adjk[u]:
                if v in U and v not in seen:
                    seen.add(v)
                    if axis is None:
                        dx, dy = px[v] - x0, py[v] - y0
                        key = dx * dx + dy * dy
                    else:
                        key = px[v] * ax + py[v] * ay
                    push(heap, (r if r < 3 else 3, key, v))
        return order

    def _labels_ok(self, left, U):
        labs: dict[str, int] = {}
        for u in U:
            lb = self.labels.get(u)
            if lb is None:
                continue
            side = 1 if u in left else 2
            if labs.get(lb, side) != side:
                return False
            labs[lb] = side
        return True

    def _connected(self, S):
        if not S:
            return False
        _work(0.02 * len(S))
        net = self.net
        s = next(iter(S))
        seen = {s}
        stack = [s]
        while stack:
            u = stack.pop()
            for v in net.nbr[u]:
                if v in S and v not in seen:
                    seen.add(v)
                    stack.append(v)
        return len(seen) == len(S)

    def resplit(self, a, b, n_seeds=10, per_seed=5, sweeps=()) -> bool:
        key = (min(a, b), max(a, b), self._key(min(a, b)), self._key(max(a, b)), bool(sweeps))
        if key in self._failed:
            return False
        U = self.members[a] | self.members[b]
        if len(U) < 2:
            return False
        net = self.net
        t, lo_b, hi_b = self.target, self.vmin, self.vmax
        PU = self.stats[a][0] + self.stats[b][0]
        lo, hi = max(math.ceil(0.9 * t), PU - math.floor(1.1 * t)), min(math.floor(1.1 * t), PU - math.ceil(0.9 * t))
        if lo > hi:
            lo, hi = max(lo_b, PU - hi_b), min(hi_b, PU - lo_b)
        if lo > hi:
            lo, hi = PU / 2 - 0.1 * t, PU / 2 + 0.1 * t
        cur = self.cost[a] + self.cost[b]
        Us = sorted(U)
        seeds = Us if len(Us) <= n_seeds else sorted(self.rng.sample(Us, n_seeds))
        best = None
        tried: set = set()
        for axis, seed in [(None, x) for x in seeds] + [(ax, None) for ax in sweeps]:
            if _now() > self.deadline:
                break
            order = self._grow_order(U, seed, hi, axis=axis)
            cum = 0
            cands = []
            for i, u in enumerate(order[:-1]):
                cum += net.pop[u]
                if lo <= cum <= hi and (i + 1 == len(order) - 1 or net.pop[order[i + 1]] > 0
                                        or len(cands) == 0):
                    cands.append(i)
                elif cum > hi:
                    break
            ps = per_seed if axis is None else SWEEP_CUTS
            if len(cands) > ps:
                step = len(cands) / ps
                cands = [cands[int(j * step)] for j in range(ps)]
            for i in cands:
                left = frozenset(order[: i + 1])
                if left in tried:
                    continue
                tried.add(left)
                right = U - left
                if not self._connected(right):
                    continue
                if self.labels and not self._labels_ok(left, U):
                    continue
                sl, sr = self._stats(left), self._stats(set(right))
                c = self._cost(sl) + self._cost(sr)
                if c < cur - 1e-6 and (best is None or c < best[0]):
                    best = (c, left, right, sl, sr)
        if best is None:
            self._failed.add(key)
            return False
        _, left, right, sl, sr = best
        # keep the area index whose old members overlap most
        if len(left & self.members[a]) + len(right & self.members[b]) < \
                len(left & self.members[b]) + len(right & self.members[a]):
            left, right, sl, sr = right, left, sr, sl
        for key in ((a, 1), (a, 2), (b, 1), (b, 2)):
            self._cache.pop(key, None)
        self._tick(a)
        self._tick(b)
        self.members[a] = set(left)
        self.members[b] = set(right)
        for u in left:
            self.assign[u] = a
        for u in right:
            self.assign[u] = b
        self.stats[a], self.stats[b] = sl, sr
        self.cost[a], self.cost[b] = self._cost(sl), self._cost(sr)
        return True

    def neighbours(self, a):
        net = self.net
        out = set()
        for u in self.members[a]:
            for v in net.nbr[u]:
                out.add(self.assign[v])
        out.discard(a)
        return sorted(out)

    def pair_pass(self, only_bad=True, n_seeds=10, sweeps=(), below=None) -> bool:
        changed = False
        order = sorted(range(len(self.members)), key=lambda a: (-self.cost[a], a))
        done: set = set()
        for a in order:
            if _now() > self.deadline:
                break
            if only_bad and not self.bad(a):
                continue
            if below is not None and not (self.members[a] and self.polsby_popper(a) < below):
                continue
            for b in self.neighbours(a):
                key = (min(a, b), max(a, b))
                if key in done:
                    continue
                done.add(key)
                if self.resplit(a, b, n_seeds=n_seeds, sweeps=sweeps):
                    changed = True
                    break
        return changed

    def areas(self):
        return [sorted(m) for m in self.members if m]


