"""The review loop keeps its promises (issue 13, item 3), each reproduced on a small
drawn township made through the real ``pucha import`` and ``pucha partition``
(tests/review_drawn.py): 居/村 A = 310118002001 (8 areas of 300, one block each),
B = 310118002002 (4 areas).

Each test names the defect it reproduces; on the code before this change each fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from review_drawn import VA, VB, draw_sources
from pucha.gis.styles import connect_gpkg
from pucha.gis.write import read_layer
from pucha.scripts.cli import main

@dataclass
class _Res:
    exit_code: int
    output: str
    exception: str = ""


def _pucha(*args, ok: bool = True) -> _Res:
    """Run the real command line (``pucha ...``: exit status and messages as a user
    sees them)."""
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = int(exc.code or 0)
    res = _Res(code, out.getvalue(), out.getvalue())
    if ok:
        assert res.exit_code == 0, res.output
    return res


def _base(tmp_path_factory, tower: bool) -> Path:
    d = tmp_path_factory.mktemp("tower" if tower else "drawn")
    toml = draw_sources(d / "src", tower=tower)
    _pucha("import", toml)
    g = d / "src" / "project.gpkg"
    _pucha("partition", g, "-q")
    return g


@pytest.fixture(scope="module")
def drawn_base(tmp_path_factory) -> Path:
    return _base(tmp_path_factory, tower=False)


@pytest.fixture(scope="module")
def tower_base(tmp_path_factory) -> Path:
    return _base(tmp_path_factory, tower=True)


@pytest.fixture()
def drawn(drawn_base: Path, tmp_path: Path) -> Path:
    p = tmp_path / "project.gpkg"
    shutil.copy(drawn_base, p)
    return p


def _sql(path: Path, *statements: str, params=()) -> None:
    con = connect_gpkg(path)  # GeoPackage triggers need its SQL functions
    with con:
        for s in statements:
            con.execute(s, params)
    con.close()


def _members(path: Path, layer: str = "building_areas") -> dict[str, frozenset]:
    ba = read_layer(path, layer)
    return {c: frozenset(zip(g["building_id"], g["part"].astype(int)))
            for c, g in ba.groupby("area_code")}


def _geoms(path: Path) -> dict:
    a = read_layer(path, "areas")
    return dict(zip(a["area_code"], a.geometry))


def _area_of(path: Path, bid: str) -> str:
    ba = read_layer(path, "building_areas")
    return str(ba.loc[ba["building_id"] == bid, "area_code"].iloc[0])


def _history(path: Path) -> pd.DataFrame:
    h = read_layer(path, "code_history")
    for c in ("created_revision", "retired_revision"):
        h[c] = h[c].astype(int)
    return h


def _problems(path: Path, code: str) -> pd.DataFrame:
    p = read_layer(path, "problems")
    return p[p["code"] == code]


def _neighbour_building(path: Path, src: str, dst: str) -> str:
    """A whole building of area ``src`` nearest to area ``dst``."""
    ba = read_layer(path, "building_areas")
    b = read_layer(path, "buildings").set_index("building_id")
    g = _geoms(path)[dst]
    ids = ba[(ba["area_code"] == src) & (ba["part"] == 0)]["building_id"]
    return min(sorted(ids), key=lambda i: b.loc[i, "geometry"].distance(g))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- 1. stable codes


def test_move_keeps_every_code_and_untouched_geometry(drawn: Path) -> None:
    """Defect: `pucha move` of one building from 001 to 002, then partition, renumbered
    the areas (old 001 group coded 002, old 002 group coded 009) and undid the move."""
    m0, g0 = _members(drawn), _geoms(drawn)
    a1, a2 = f"{VA}001", f"{VA}002"
    bid = _neighbour_building(drawn, a1, a2)
    _pucha("move", drawn, bid, a2)
    _pucha("partition", drawn, "-q")
    m1, g1 = _members(drawn), _geoms(drawn)
    assert m1[a2] == m0[a2] | {(bid, 0)}          # the move is kept, in the area typed
    assert m1[a1] == m0[a1] - {(bid, 0)}          # the rest of 001 is still 001
    for c in set(m0) - {a1, a2}:                  # untouched: same code, buildings, geometry
        assert m1[c] == m0[c]
        assert g1[c].equals(g0[c]), c
    h = _history(drawn)
    assert (h["retired_revision"] == 0).all() and (h["created_revision"] == 1).all()
    assert not _pucha("check", drawn).exit_code


def test_same_area_rule_keeps_codes_through_a_wider_re_solve(drawn: Path) -> None:
    """Two buildings out of one area (it drops below the band) re-solve its neighbours;
    a code still names the area that keeps more than half of its people, and every
    code retired or issued is an area that really changed."""
    a1, a2, a8 = f"{VA}001", f"{VA}002", f"{VA}008"
    m0 = _members(drawn)
    b1 = _neighbour_building(drawn, a1, a2)
    _pucha("move", drawn, b1, a2)
    b2 = _neighbour_building(drawn, a1, a8)
    _pucha("move", drawn, b2, a8)
    eff = {c: set(m) for c, m in m0.items()}
    eff[a1] -= {(b1, 0), (b2, 0)}
    eff[a2] |= {(b1, 0)}
    eff[a8] |= {(b2, 0)}
    _pucha("partition", drawn, "-q")
    m1 = _members(drawn)
    pop = read_layer(drawn, "buildings").set_index("building_id")["population"]

    def people(ms):
        return sum(int(pop[b]) for b, _ in ms)
    for c, ms in m1.items():
        if c in eff:  # kept code: more than half of its (edited) people, both ways
            shared = ms & eff[c]
            assert people(shared) > people(eff[c]) / 2 and people(shared) > people(ms) / 2, c
    h = _history(drawn)
    for c in h.loc[h["retired_revision"] == 2, "area_code"]:
        assert c not in m1
    assert _area_of(drawn, b1) == a2 or len(_problems(drawn, "move_not_honoured"))


# --------------------------------------------------------------------------- 2. invalid codes


BAD_CODES = {
    "14-digit typo": f"{VA}01",
    "no such area": f"{VA}999",
    "another 居/村's area": f"{VB}001",
    "leading space": f" {VA}002",
    "trailing space": f"{VA}002 ",
    "only spaces": "   ",
}


@pytest.mark.parametrize("why", sorted(BAD_CODES))
def test_invalid_area_code_is_an_error_in_check_and_partition(drawn: Path, why: str) -> None:
    """Defect: a typed invalid area_code was rejected by check but adopted by partition
    as an official code (recorded in code_history); spaces were ignored by check."""
    bad = BAD_CODES[why]
    history = _history(drawn)
    _sql(drawn, "UPDATE buildings SET area_code=? WHERE building_id='b0120'", params=(bad,))
    res = _pucha("check", drawn, ok=False)
    assert res.exit_code == 1 and "b0120" in res.output
    sha = _sha(drawn)
    res = _pucha("partition", drawn, "-q", ok=False)
    assert res.exit_code != 0
    msg = res.output
    assert "b0120" in msg and repr(bad) in msg
    assert _sha(drawn) == sha                       # nothing written
    assert _history(drawn).equals(history)           # not adopted as a code


@pytest.mark.parametrize("value", ["", None])
def test_empty_area_code_means_no_edit(drawn: Path, value) -> None:
    """NULL or '' is documented as "no hand edit": the building stays where it was."""
    a = _area_of(drawn, "b0120")
    _sql(drawn, "UPDATE buildings SET area_code=? WHERE building_id='b0120'", params=(value,))
    assert _pucha("check", drawn).exit_code == 0
    _pucha("partition", drawn, "-q")
    assert _area_of(drawn, "b0120") == a
    assert sorted(read_layer(drawn, "revisions")["revision"].astype(int)) == [1]


def test_move_into_another_village_is_refused(drawn: Path) -> None:
    """Defect: `pucha move` into another 居/村's area was accepted with exit 0."""
    sha = _sha(drawn)
    res = _pucha("move", drawn, "b0120", f"{VB}001", ok=False)
    assert res.exit_code != 0 and VB in res.output and "b0120" in res.output
    assert _sha(drawn) == sha


# --------------------------------------------------------------------------- 3. unhonoured move


def test_move_the_solver_cannot_honour_is_an_error_row(drawn: Path) -> None:
    """Defect: a hand move undone by partition left only a terse `pins_merged` warning
    naming no building. b0100 lies on the far side of area 001 from 002: it cannot
    join 002 in a contiguous area."""
    a1, a2 = f"{VA}001", f"{VA}002"
    far = max(sorted(read_layer(drawn, "building_areas").query(f"area_code == '{a1}'")
                     ["building_id"]),
              key=lambda i: read_layer(drawn, "buildings").set_index("building_id")
              .loc[i, "geometry"].distance(_geoms(drawn)[a2]))
    _pucha("move", drawn, far, a2)
    assert "edits not kept: move_not_honoured (1)" in _pucha("partition", drawn, "-q").output
    rows = _problems(drawn, "move_not_honoured")
    assert len(rows) == 1 and rows["severity"].iloc[0] == "error"
    assert rows["feature_ids"].iloc[0] == f"{far},{a1},{a2}"
    msg = rows["message"].iloc[0]
    assert far in msg and a1 in msg and a2 in msg
    assert "inside the band, but the building stands" in msg  # the true reason: not adjacent
    res = _pucha("check", drawn)                   # the plan is valid; the check says why
    assert "move_not_honoured" in res.output or far in res.output


# --------------------------------------------------------------------------- 4. locked tower part


def test_locking_part_of_a_cut_tower_keeps_the_rest_cuttable(tower_base: Path,
                                                            tmp_path: Path) -> None:
    """Defect: locking an area holding some floors of a cut tower made the rest of the
    tower one uncuttable piece (an area above the band), and the message named the
    locked area and claimed there was no floor data."""
    g = tmp_path / "project.gpkg"
    shutil.copy(tower_base, g)
    ba = read_layer(g, "building_areas")
    parts = ba[ba["building_id"] == "tower"].sort_values("part")
    assert len(parts) >= 3
    locked, x, y = parts["area_code"].iloc[0], parts["area_code"].iloc[1], parts["area_code"].iloc[2]
    _pucha("lock", g, locked)
    _pucha("move", g, _neighbour_building(g, x, y), y)
    _pucha("partition", g, "-q")
    a = read_layer(g, "areas")
    assert a["population"].between(240, 360).all(), a[["area_code", "population"]]
    t = read_layer(g, "building_areas").query("building_id == 'tower'")
    assert int(t["population"].sum()) == 700
    assert set(t["area_code"]) >= {locked}
    assert len(t) >= 3                             # the rest was cut again
    assert _pucha("check", g).exit_code == 0
    p = read_layer(g, "problems")
    assert not p["message"].astype(str).str.contains("no floor").any()


def test_band_message_names_the_area_outside_the_band() -> None:
    from pucha.partition.resolve import VillageContext, _band_diagnosis, _Try

    ctx = VillageContext(vc=VA, polygon=None, areas=pd.DataFrame(), eff=pd.DataFrame(),
                         solved=pd.DataFrame(), buildings=pd.DataFrame(), pins={}, moved=set(),
                         locked={f"{VA}001"}, touched=set(), deleted=set(), whole_village=False,
                         lo=240, hi=360)
    ba = pd.DataFrame({"area_code": [f"{VA}003", f"{VA}004"], "population": [376, 300]})
    rows = _band_diagnosis(ctx, ba, [f"{VA}001"], _Try("local", [], None, ba, [], 676))
    assert len(rows) == 1
    assert rows[0]["feature_ids"].startswith(f"{VA}003")
    assert f"{VA}003 (376 people)" in rows[0]["message"]
    assert "floor" not in rows[0]["message"]


# --------------------------------------------------------------------------- 5. other edits


def test_move_inside_a_locked_village_is_reported_not_applied(drawn: Path) -> None:
    """Defect: a move inside a locked 居/村 left a hard-rule break and partition reported
    0 problems."""
    m0 = _members(drawn)
    _pucha("lock", drawn, VA)
    bid = _neighbour_building(drawn, f"{VA}001", f"{VA}002")
    _pucha("move", drawn, bid, f"{VA}002")
    _pucha("partition", drawn, "-q")
    rows = _problems(drawn, "move_in_locked_village")
    assert len(rows) == 1 and rows["severity"].iloc[0] == "error"
    assert bid in rows["message"].iloc[0] and "unlock" in rows["message"].iloc[0]
    assert _members(drawn) == m0                   # the locked plan is kept as it is
    b = read_layer(drawn, "buildings").set_index("building_id")
    assert b.loc[bid, "area_code"] == f"{VA}002"   # the typed edit is not erased


def test_deleted_building_is_reported_against_the_imported_totals(drawn: Path) -> None:
    """Defect: a building deleted in QGIS took its 50 people with no warning."""
    _sql(drawn, "DELETE FROM buildings WHERE building_id='b0120'")
    res = _pucha("check", drawn, ok=False)        # after the edit, before any partition
    assert "holds 2350 people, `pucha import` wrote 2400" in res.output and "b0120" in res.output
    _pucha("partition", drawn, "-q")
    rows = _problems(drawn, "building_deleted")
    assert len(rows) == 1 and "b0120" in rows["message"].iloc[0]
    assert "50 people" in rows["message"].iloc[0]
    acc = _problems(drawn, "population_differs_from_import")
    assert acc["feature_ids"].tolist() == [VA] and "2350" in acc["message"].iloc[0]
    # population in = out: the plan holds exactly the people of layer buildings
    ba, b = read_layer(drawn, "building_areas"), read_layer(drawn, "buildings")
    assert int(ba["population"].sum()) == int(b["population"].sum()) == 3550
    assert _pucha("check", drawn).exit_code == 0


def test_deleted_area_is_re_solved_and_reported(drawn: Path) -> None:
    """Defect: an area deleted in QGIS left its 300 people in no area, partition said
    "nothing changed", and the pack silently lacked it."""
    gone = f"{VA}001"
    g0 = _geoms(drawn)
    orphans = set(read_layer(drawn, "building_areas").query(f"area_code == '{gone}'")
                  ["building_id"])
    _sql(drawn, f"DELETE FROM areas WHERE area_code='{gone}'")
    assert _pucha("check", drawn, ok=False).exit_code == 1
    _pucha("partition", drawn, "-q")
    ba = read_layer(drawn, "building_areas")
    assert orphans <= set(ba["building_id"])       # every building in an area again
    assert gone not in set(ba["area_code"])        # a deleted code is not re-issued
    assert len(_problems(drawn, "area_deleted")) == 1
    g1 = _geoms(drawn)
    far = [c for c in g0 if c != gone and g0[c].distance(g0[gone]) > 1.0]
    for c in far:                                   # areas away from it are untouched
        assert g1[c].equals(g0[c]), c
    assert int(ba["population"].sum()) == 3600
    assert _pucha("check", drawn).exit_code == 0


# --------------------------------------------------------------------------- 6. diff


def test_diff_lists_every_building_whose_code_changed_with_the_reason(drawn: Path,
                                                                      tmp_path: Path) -> None:
    """Defect: `pucha diff --from 1 --to 2` left out moved buildings and buildings whose
    codes changed."""
    b1 = _neighbour_building(drawn, f"{VA}001", f"{VA}002")
    b2 = _neighbour_building(drawn, f"{VA}006", f"{VA}005")
    _pucha("move", drawn, b1, f"{VA}002")
    _pucha("move", drawn, b2, f"{VA}005")
    _pucha("partition", drawn, "-q")
    _pucha("diff", drawn, "--from", "1", "--to", "2", "-o", tmp_path / "d", "--no-map")
    got = pd.read_csv(tmp_path / "d" / "diff-buildings.csv", encoding="utf-8-sig", dtype=str)

    def codes(layer):
        ba = read_layer(drawn, layer)
        return {b: "/".join(sorted(set(g))) for b, g in ba.groupby("building_id")["area_code"]}
    c1, c2 = codes("building_areas_r1"), codes("building_areas_r2")
    changed = {b for b in set(c1) | set(c2) if c1.get(b) != c2.get(b)}
    assert set(got["building_id"]) == changed and {b1, b2} <= changed
    why = dict(zip(got["building_id"], got["reason"]))
    assert why[b1] == why[b2] == "hand move"
    assert set(why.values()) <= {"hand move", "re-solve", "new data"}
