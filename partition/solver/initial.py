"""The initial plan: coarsening, grown regions, recursive bisection by barriers."""

from __future__ import annotations

import heapq
import random

import numpy as np

from pucha.partition.solver.network import _Net
from pucha.partition.solver.params import MAJOR_RANKS, choose_k
from pucha.partition.proofs import RIVER_RANK


# ---------------------------------------------------------------- coarsening

def _coarsen(net: _Net, locked: set, cap: int, goal: int, rng: random.Random):
    """Merge cells along barrier-free edges into clusters of at most ``cap`` people.

    Returns the coarse net and, per fine node, its coarse node.
    """
    comp = list(range(net.n))
    cur = net
    while cur.n > goal:
        match = [-1] * cur.n
        order = list(range(cur.n))
        rng.shuffle(order)
        order.sort(key=lambda i: cur.pop[i])
        for u in order:
            if match[u] >= 0 or u in locked:
                continue
            best = None
            for v, r, w in zip(cur.nbr[u], cur.rk[u], cur.ln[u]):
                if r != 0 or match[v] >= 0 or v == u or v in locked:
                    continue
                if cur.pop[u] + cur.pop[v] > cap:
                    continue
                key = (w / (1.0 + cur.pop[v]), -v)
                if best is None or key > best[0]:
                    best = (key, v)
            if best is not None:
                match[u] = best[1]
                match[best[1]] = u
        newid = [-1] * cur.n
        k = 0
        for u in range(cur.n):
            if newid[u] >= 0:
                continue
            newid[u] = k
            if match[u] >= 0:
                newid[match[u]] = k
            k += 1
        if k > 0.95 * cur.n:
            break
        pop = [0] * k
        dw = [0.0] * k
        ca = [0.0] * k
        cp = [0.0] * k
        sxy = [np.zeros(2) for _ in range(k)]
        cnt = [0.0] * k
        edges: dict[tuple[int, int], list] = {}
        for u in range(cur.n):
            c = newid[u]
            pop[c] += cur.pop[u]
            dw[c] += cur.dw[u]
            ca[c] += cur.ca[u]
            cp[c] += cur.cp[u]
            wgt = cur.ca[u] if cur.has_geom else 1.0
            sxy[c] = sxy[c] + cur.xy[u] * wgt
            cnt[c] += wgt
            for v, r, w, b in zip(cur.nbr[u], cur.rk[u], cur.ln[u], cur.sb[u]):
                d = newid[v]
                if d == c:
                    if u < v:
                        cp[c] -= 2 * w
                    continue
                key = (c, d)
                e = edges.get(key)
                if e is None:
                    edges[key] = [r, w, b]
                else:
                    e[0] = min(e[0], r)
                    e[1] += w
                    e[2] += b
        nbr = [[] for _ in range(k)]
        rk = [[] for _ in range(k)]
        ln = [[] for _ in range(k)]
        sb = [[] for _ in range(k)]
        for (c, d), (r, w, b) in sorted(edges.items()):
            nbr[c].append(d)
            rk[c].append(r)
            ln[c].append(w)
            sb[c].append(b)
        xy = [sxy[c] / cnt[c] if cnt[c] > 0 else sxy[c] for c in range(k)]
        locked = {newid[u] for u in locked}
        comp = [newid[c] for c in comp]
        cur = _Net(pop, dw, ca, cp, xy, nbr, rk, ln, net.has_geom, sb)
    return cur, comp


# ---------------------------------------------------------------- initial plan

def _components(net: _Net, nodes: set) -> list[list[int]]:
    seen: set = set()
    out = []
    for s0 in sorted(nodes):
        if s0 in seen:
            continue
        comp = [s0]
        seen.add(s0)
        stack = [s0]
        while stack:
            n = stack.pop()
            for m in net.nbr[n]:
                if m in nodes and m not in seen:
                    seen.add(m)
                    comp.append(m)
                    stack.append(m)
        out.append(sorted(comp))
    return out


def _grow(net: _Net, nodes, axis, start_max, labels, pts=None):
    sub = set(nodes)
    if pts is None:
        pts = np.array([net.xy[n] for n in nodes])
    proj = dict(zip(nodes, (pts @ axis).tolist()))
    sign = -1.0 if start_max else 1.0
    start = min(nodes, key=lambda n: (sign * proj[n], n))
    seen = {start}
    heap = [(0, sign * proj[start], start)]
    order, cuts = [], []
    cum = 0
    lab_total: dict[str, int] = {}
    for n in nodes:
        if n in labels:
            lab_total[labels[n]] = lab_total.get(labels[n], 0) + 1
    lab_left: dict[str, int] = {}
    split = 0
    while heap:
        r, _, n = heapq.heappop(heap)
        order.append(n)
        cum += net.pop[n]
        if n in labels:
            lb = labels[n]
            before = lab_left.get(lb, 0)
            lab_left[lb] = before + 1
            if before == 0:
                split += 1
            if lab_left[lb] == lab_total[lb]:
                split -= 1
        cuts.append((cum, split == 0))
        for m, r2 in net.adjk[n]:
            if m in sub and m not in seen:
                seen.add(m)
                heapq.heappush(heap, (r2, sign * proj[m], m))
    return order, cuts


def _cut_cost(net: _Net, left: set, nodes_set: set) -> float:
    c = 0.0
    adjw = net.adjw
    for n in left:
        for m, cw in adjw[n]:
            if m in nodes_set and m not in left:
                c += cw
    return c


def _bisect(net: _Net, nodes, k, labels, target):
    if k <= 1 or len(nodes) <= 1:
        return [sorted(nodes)]
    pop = net.pop
    total = sum(pop[n] for n in nodes)
    pts = np.array([net.xy[n] for n in nodes])
    c = pts - pts.mean(axis=0)
    if len(nodes) > 2 and np.abs(c).sum() > 0:
        _, v = np.linalg.eigh(c.T @ c)
        ax1 = v[:, 1]
    else:
        ax1 = np.array([1.0, 0.0])
    if ax1[0] < 0 or (ax1[0] == 0 and ax1[1] < 0):
        ax1 = -ax1
    ax2 = np.array([-ax1[1], ax1[0]])
    nodes_set = set(nodes)
    m = total / k
    big = len(nodes) > 2000
    js = sorted(range(1, k), key=lambda j: (abs(j - k / 2), j))[:2 if big else 4]
    cands = []
    for axis in ((ax1,) if big else (ax1, ax2)):
        for start_max in (False, True):
            order, cuts = _grow(net, nodes, axis, start_max, labels, pts)
            cum = np.array([c[0] for c in cuts], dtype=float)
            ok = np.array([c[1] for c in cuts], dtype=bool)
            ok[len(nodes) - 1:] = False
            picked = set()
            for j in js:
                near = np.argsort(np.abs(cum - j * m) + np.where(ok, 0, 1e12), kind="stable")[:2]
                picked.update(int(i) for i in near if ok[i])
            for i in sorted(picked):
                cands.append((order, i))
    best = None
    for order, i in cands:
        left = set(order[: i + 1])
        right = nodes_set - left
        comps = sorted(_components(net, right), key=lambda cc: (-sum(pop[n] for n in cc), cc[0]))
        for cc in comps[1:]:
            left |= set(cc)
            right -= set(cc)
        if not right or not left:
            continue
        if labels and {labels[n] for n in left if n in labels} & {labels[n] for n in right if n in labels}:
            continue  # a pinned group cut by the pieces of one side joined to the other
        pl = sum(pop[n] for n in left)
        jl = min(range(1, k), key=lambda j: (max(abs(pl / j - m), abs((total - pl) / (k - j) - m)),
                                             abs(j - k / 2)))
        err = max(abs(pl / jl - m), abs((total - pl) / (k - jl) - m))
        bal = abs(jl - k / 2) / k
        cut = _cut_cost(net, left, nodes_set)
        score = (round(err / (0.03 * target)), cut * (1 + bal) + 2.0 * err)
        if best is None or score < best[0]:
            best = (score, left, right, jl)
    if best is None:
        return [sorted(nodes)]
    left, right, kl = best[1], best[2], best[3]
    return (_bisect(net, sorted(left), kl, labels, target)
            + _bisect(net, sorted(right), k - kl, labels, target))


def _fits(p: float, *, target: int, vmin: int, vmax: int, tol: float | None) -> bool:
    if p <= 0:
        return False
    k = choose_k(int(p), target=target, vmin=vmin, vmax=vmax)
    if tol is None:
        return vmin <= p / k <= vmax
    return abs(p / k - target) <= tol * target


def _regions(net: _Net, nodes, min_rank, *, target, vmin, vmax, tol, labels):
    """Groups of ``nodes`` separated by barriers of rank >= ``min_rank``.

    A group that cannot be cut into areas inside the band (or within ``tol`` of the
    target) is merged with the neighbouring group it shares the longest barrier with,
    until every group fits or one group is left.
    """
    nodes = set(nodes)
    pop = net.pop
    gid: dict[int, int] = {}
    groups: dict[int, set] = {}
    for s0 in sorted(nodes):
        if s0 in gid:
            continue
        i = len(groups)
        stack, comp = [s0], {s0}
        gid[s0] = i
        while stack:
            n = stack.pop()
            for m, r in zip(net.nbr[n], net.rk[n]):
                if m in nodes and m not in gid and r < min_rank:
                    gid[m] = i
                    comp.add(m)
                    stack.append(m)
        groups[i] = comp
    while True:  # pinned labels may not straddle groups
        changed = False
        for lab in sorted(set(labels.values())):
            gs = sorted({gid[n] for n in nodes if labels.get(n) == lab})
            for other in gs[1:]:
                for n in groups.pop(other):
                    gid[n] = gs[0]
                    groups[gs[0]].add(n)
                changed = True
        if not changed:
            break
    while len(groups) > 1:
        gp = {i: sum(pop[n] for n in grp) for i, grp in groups.items()}
        bad = sorted((i for i in groups if not _fits(gp[i], target=target, vmin=vmin, vmax=vmax, tol=tol)),
                     key=lambda i: (gp[i], min(groups[i])))
        if not bad:
            break
        merged = False
        for i in bad:
            shared: dict[int, float] = {}
            for n in groups[i]:
                for m, w in zip(net.nbr[n], net.ln[n]):
                    j = gid.get(m)
                    if j is not None and j != i:
                        shared[j] = shared.get(j, 0.0) + w + 1e-3
            if not shared:
                continue
            j = max(sorted(shared), key=lambda t: (shared[t], -t))
            for n in groups.pop(i):
                gid[n] = j
                groups[j].add(n)
            merged = True
            break
        if not merged:
            break
    return [sorted(grp) for _, grp in sorted(groups.items(), key=lambda t: min(t[1]))]


def _initial(net: _Net, nodes, k, labels, *, target, vmin, vmax, by_barriers=True):
    """Initial plan of about ``k`` areas: groups between rivers / major roads, each bisected
    into a number of areas whose average stays inside the band."""
    if not by_barriers:
        return _bisect(net, nodes, max(1, k), labels, target)
    groups = []
    for river_grp in _regions(net, nodes, RIVER_RANK, target=target, vmin=vmin, vmax=vmax, tol=None,
                              labels=labels):
        groups.extend(_regions(net, river_grp, MAJOR_RANKS[0], target=target, vmin=vmin, vmax=vmax, tol=0.1,
                               labels=labels))
    gp = [sum(net.pop[n] for n in grp) for grp in groups]
    ks = [max(1, choose_k(p, target=target, vmin=vmin, vmax=vmax)) if p > 0 else 1 for p in gp]
    # share ``k`` areas out between the groups where every group keeps its average in the band
    while sum(ks) != k:
        step = 1 if sum(ks) < k else -1
        opts = [i for i in range(len(groups))
                if gp[i] > 0 and ks[i] + step >= 1 and vmin <= gp[i] / (ks[i] + step) <= vmax]
        if not opts:
            break
        ks[min(opts, key=lambda i: (abs(gp[i] / (ks[i] + step) - target) - abs(gp[i] / ks[i] - target), i))] += step
    out = []
    for grp, kk in zip(groups, ks):
        out.extend(_bisect(net, grp, kk, labels, target))
    return out


