"""The package's shape: no import cycle, no import up the chain, no oversized module.

Data flows one way (README, STYLE.md): ``gis`` (read, validate, write) -> ``partition``
-> ``outputs`` (drawing on ``basemaps``); ``scripts`` is the thin command line on top;
``pucha`` itself (config, errors) is the floor every layer may stand on. The graph is
built from the source with :mod:`ast`, lazy imports inside functions included (a lazy
import dodges the cycle at import time but is still a cycle of design).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

REPO = Path(__file__).resolve().parents[1]
#: rank of each room: a module may import its own room or lower ranks only
RANK = {"pucha": 0, "gis": 1, "partition": 2, "basemaps": 2, "outputs": 3, "scripts": 4}
DIRS = {"pucha": REPO / "pucha", "gis": REPO / "gis", "partition": REPO / "partition",
        "basemaps": REPO / "basemaps", "outputs": REPO / "outputs", "scripts": REPO / "scripts"}
MAX_MODULE_LINES = 800


def _modules() -> dict[str, Path]:
    out = {}
    for room, d in DIRS.items():
        for p in sorted(d.rglob("*.py")):
            if room == "pucha" and "data" in p.relative_to(d).parts:
                continue  # the demo builder is a script, not the library
            rel = p.relative_to(d).with_suffix("")
            parts = [] if rel.name == "__init__" else [rel.name]
            parts = list(rel.parent.parts) + parts
            name = ".".join(["pucha"] + ([] if room == "pucha" else [room]) + parts)
            out[name] = p
    return out


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else "pucha"


def _imports(path: Path, modules: set[str], self_name: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    pkg = self_name if path.name == "__init__.py" else self_name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")
                base = ".".join(up[: len(up) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for n in names:
            while n and n not in modules:
                n = n.rpartition(".")[0]
            if n and n != self_name:
                found.add(n)
    return found


def _graph() -> nx.DiGraph:
    mods = _modules()
    g = nx.DiGraph()
    for name, path in mods.items():
        g.add_node(name)
        for dep in _imports(path, set(mods), name):
            if not (dep == "pucha" or name.startswith(dep + ".") and dep.count(".") < 2):
                g.add_edge(name, dep)
    return g


def test_no_import_cycle():
    g = _graph()
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_no_import_up_the_chain():
    g = _graph()
    up = sorted(f"{a} -> {b}" for a, b in g.edges if RANK[_room(b)] > RANK[_room(a)])
    assert not up, "imports up the chain gis -> partition -> outputs -> scripts:\n" + "\n".join(up)


def test_graph_sees_real_imports():
    """The checker itself: it finds a known edge and the rooms' order."""
    g = _graph()
    assert g.has_edge("pucha.partition.engine", "pucha.partition.solver")
    assert g.has_edge("pucha.partition.run", "pucha.partition.engine")
    assert RANK["gis"] < RANK["partition"] < RANK["outputs"] < RANK["scripts"]


def test_no_module_over_800_lines():
    big = {n: len(p.read_text(encoding="utf-8").splitlines()) for n, p in _modules().items()}
    over = {n: k for n, k in big.items() if k > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines: {over}"


#: functions allowed over the limit, and why
LONG_FUNCTIONS = {
    # the synthetic township generator: one recipe read top to bottom; splitting it would
    # risk changing the generated township, and with it every benchmark figure
    "pucha.gis.synthetic.synthetic_township",
}
MAX_FUNCTION_LINES = 150


def test_no_function_over_150_lines():
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and f"{name}.{node.name}" not in LONG_FUNCTIONS:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert not long, "functions over 150 lines:\n" + "\n".join(long)
