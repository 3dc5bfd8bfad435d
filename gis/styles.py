"""QGIS default styles stored inside the project GeoPackage.

QGIS looks for a table ``layer_styles`` in a GeoPackage when it opens a layer
and applies the row marked ``useAsDefault`` for that layer. :func:`write_styles`
writes one such row per layer, so the census office opens the project in QGIS
and sees, with no setup:

``areas``      outlines labelled with their code (locked areas red and hatched);
``buildings``  filled by ``area_code`` (one colour per area, grey = unassigned),
               a thick red outline when ``locked``, labelled with the area's
               sequence from 1:5000 inward; ``area_code`` and ``locked`` are the only
               editable attributes (``area_code`` THE editable assignment, picked
               from a list of the existing area codes so a typo cannot be typed;
               ``locked`` a check box);
``villages``   thick dark outlines labelled with the 居/村 name (red when locked);
``problems_points`` / ``_lines`` / ``_polygons``
               the problems layer's typed tables (:data:`pucha.gis.gpkg.SPLIT_LAYERS`)
               by severity (error red, warning orange, info blue).

``locked`` is a GeoPackage BOOLEAN: QGIS reads it as a boolean, so every rule
tests it as one (``"locked"``), never as ``"locked" = 1``.

A default style the user saved in QGIS (another ``styleName``) stays the
default: pucha's own row is then stored as an alternative, never the other way
round. ``update_time`` is a GeoPackage date-time (``YYYY-MM-DDTHH:MM:SS.SSSZ``).

The table has QGIS's own schema (``f_table_catalog, f_table_schema,
f_table_name, f_geometry_column, styleName, styleQML, styleSLD, useAsDefault,
description, owner, ui, update_time``) and is registered in ``gpkg_contents`` as
an attribute table, as QGIS itself does when it saves a style.

:func:`connect_gpkg` gives a SQLite connection able to UPDATE feature tables
(GDAL's spatial-index triggers need a few GeoPackage SQL functions).
"""

from __future__ import annotations

import colorsys
import hashlib
import logging
import os
import sqlite3
from pathlib import Path
from xml.sax.saxutils import quoteattr

from pucha.gis import schema as S
from pucha.gis.gpkg import PARTS, register_functions, transaction

__all__ = ["write_styles", "layer_qml", "connect_gpkg", "STYLED_LAYERS", "STYLE_NAME",
           "area_colour"]

logger = logging.getLogger(__name__)

STYLE_NAME = "pucha"
STYLED_LAYERS = (S.LAYER_AREAS, S.LAYER_BUILDINGS, S.LAYER_VILLAGES,
                 *(f"{S.LAYER_PROBLEMS}_{p}" for p in PARTS))
_FONT = "Noto Sans CJK SC"
_QGIS_VERSION = "3.22.16-Białowieża"


# --------------------------------------------------------------------------- QML pieces


def _opt(name: str, value: object, typ: str = "QString") -> str:
    return f'<Option name={quoteattr(name)} value={quoteattr(str(value))} type="{typ}"/>'


def area_colour(code: str) -> str:
    """A stable, distinct-enough fill colour ``"r,g,b,255"`` for an area code.

    Neighbouring sequences get far-apart hues (golden-angle steps); the 居/村 part
    of the code shifts the lightness a little.

    >>> area_colour("310118002001001") == area_colour("310118002001001")
    True
    """
    try:
        seq = int(code[12:]) if len(code) >= 13 else int(hashlib.sha1(code.encode()).hexdigest(), 16)
    except ValueError:
        seq = int(hashlib.sha1(code.encode()).hexdigest()[:8], 16)
    v = int(hashlib.sha1(code[:12].encode()).hexdigest()[:4], 16)
    hue = (seq * 0.381966 + v / 65536.0) % 1.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.72 + 0.08 * ((v % 3) - 1) / 2, 0.65)
    return f"{int(r * 255)},{int(g * 255)},{int(b * 255)},255"


def _dd(props: dict[str, str]) -> str:
    """Data-defined properties (expression-driven) of a symbol layer."""
    if not props:
        return ""
    inner = "".join(
        f'<Option name={quoteattr(k)} type="Map">{_opt("active", "true", "bool")}'
        f'{_opt("expression", expr)}{_opt("type", 3, "int")}</Option>'
        for k, expr in sorted(props.items()))
    return ('<data_defined_properties><Option type="Map">' + _opt("name", "") +
            f'<Option name="properties" type="Map">{inner}</Option>' +
            _opt("type", "collection") + "</Option></data_defined_properties>")


def _fill_symbol(name: str, *, fill: str, outline: str, width: float, style: str = "solid",
                 outline_style: str = "solid", dd: dict[str, str] | None = None) -> str:
    return (f'<symbol type="fill" name={quoteattr(name)} alpha="1" clip_to_extent="1" '
            'force_rhr="0"><data_defined_properties><Option type="Map">'
            f'{_opt("name", "")}<Option name="properties"/>{_opt("type", "collection")}'
            '</Option></data_defined_properties>'
            '<layer class="SimpleFill" enabled="1" pass="0" locked="0"><Option type="Map">'
            + _opt("border_width_map_unit_scale", "3x:0,0,0,0,0,0")
            + _opt("color", fill) + _opt("joinstyle", "bevel") + _opt("offset", "0,0")
            + _opt("offset_map_unit_scale", "3x:0,0,0,0,0,0") + _opt("offset_unit", "MM")
            + _opt("outline_color", outline) + _opt("outline_style", outline_style)
            + _opt("outline_width", width) + _opt("outline_width_unit", "MM")
            + _opt("style", style) + "</Option>" + _dd(dd or {}) + "</layer></symbol>")


def _locked_symbol(name: str) -> str:
    """Red and hatched: a light red fill under red diagonal hatching, a thick red outline."""
    one = _fill_symbol(name, fill="220,30,30,100", outline="220,30,30,0", width=0.0)
    two = _fill_symbol(name, fill="200,20,20,255", outline="220,30,30,255", width=1.2,
                       style="b_diagonal")
    layer2 = two[two.index('<layer class="SimpleFill"'):two.rindex("</symbol>")]
    return one.replace("</symbol>", layer2 + "</symbol>")


def _marker_symbol(name: str, *, colour: str) -> str:
    return (f'<symbol type="marker" name={quoteattr(name)} alpha="1" clip_to_extent="1" '
            'force_rhr="0"><layer class="SimpleMarker" enabled="1" pass="0" locked="0">'
            '<Option type="Map">' + _opt("color", colour) + _opt("name", "circle")
            + _opt("outline_color", "35,35,35,255") + _opt("outline_width", 0.3)
            + _opt("size", 3) + _opt("size_unit", "MM") + "</Option></layer></symbol>")


def _line_symbol(name: str, *, colour: str) -> str:
    return (f'<symbol type="line" name={quoteattr(name)} alpha="1" clip_to_extent="1" '
            'force_rhr="0"><layer class="SimpleLine" enabled="1" pass="0" locked="0">'
            '<Option type="Map">' + _opt("line_color", colour) + _opt("line_style", "solid")
            + _opt("line_width", 0.8) + _opt("line_width_unit", "MM")
            + "</Option></layer></symbol>")


def _symbol_for(kind: str, name: str, colour: str) -> str:
    if kind == "point":
        return _marker_symbol(name, colour=colour)
    if kind == "line":
        return _line_symbol(name, colour=colour)
    rgb = colour.rsplit(",", 1)[0]
    return _fill_symbol(name, fill=f"{rgb},90", outline=colour, width=0.6)


def _labeling(expr: str, *, is_expression: bool, size: float, colour: str = "20,20,20,255",
              bold: bool = False, max_scale_denom: float = 0.0, placement: int = 1) -> str:
    # QGIS stores the zoomed-out limit (minimumScale) in "scaleMax" and the zoomed-in
    # one (maximumScale) in "scaleMin": shown from 1:max_scale_denom inward
    scale = (f'scaleVisibility="1" scaleMin="0" scaleMax="{max_scale_denom:g}"'
             if max_scale_denom else 'scaleVisibility="0" scaleMin="0" scaleMax="0"')
    return (
        '<labeling type="simple"><settings calloutType="simple">'
        f'<text-style fieldName={quoteattr(expr)} isExpression="{int(is_expression)}" '
        f'fontFamily="{_FONT}" fontSize="{size:g}" fontSizeUnit="Point" '
        f'fontWeight="{75 if bold else 50}" fontItalic="0" textColor="{colour}" '
        'textOpacity="1" namedStyle="Regular" multilineHeight="1" allowHtml="0" '
        'capitalization="0" blendMode="0" previewBkgrdColor="255,255,255,255">'
        '<text-buffer bufferDraw="1" bufferSize="0.8" bufferSizeUnits="MM" '
        'bufferColor="255,255,255,255" bufferOpacity="0.85" bufferJoinStyle="128" '
        'bufferNoFill="1" bufferBlendMode="0"/></text-style>'
        '<text-format wrapChar="" multilineAlign="3" formatNumbers="0" decimals="3" '
        'plussign="0" leftDirectionSymbol="&lt;" rightDirectionSymbol="&gt;" '
        'reverseDirectionSymbol="0" addDirectionSymbol="0" placeDirectionSymbol="0" '
        'autoWrapLength="0" useMaxLineLengthForAutoWrap="1"/>'
        f'<placement placement="{placement}" priority="5" dist="0" distUnits="MM" '
        'offsetType="0" quadOffset="4" fitInPolygonOnly="0" centroidInside="1" '
        'centroidWhole="0" overrunDistance="0" overrunDistanceUnit="MM" xOffset="0" '
        'yOffset="0" offsetUnits="MM" rotationAngle="0" repeatDistance="0" '
        'repeatDistanceUnits="MM" maxCurvedCharAngleIn="25" maxCurvedCharAngleOut="-25" '
        'placementFlags="10" preserveRotation="1" labelOffsetMapUnitScale="3x:0,0,0,0,0,0" '
        'layerType="PolygonGeometry" polygonPlacementFlags="2" geometryGenerator="" '
        'geometryGeneratorEnabled="0" geometryGeneratorType="PointGeometry"/>'
        f'<rendering {scale} fontLimitPixelSize="0" fontMinPixelSize="3" '
        'fontMaxPixelSize="10000" obstacle="1" obstacleFactor="1" obstacleType="1" '
        'displayAll="1" upsidedownLabels="0" labelPerPart="0" mergeLines="0" '
        'minFeatureSize="0" limitNumLabels="0" maxNumLabels="2000" drawLabels="1" '
        'zIndex="0" unplacedVisibility="0"/>'
        '<dd_properties><Option type="Map">' + _opt("name", "") + '<Option name="properties"/>'
        + _opt("type", "collection") + "</Option></dd_properties>"
        '</settings></labeling>')


def _fields(columns: list[str], *, editable: set[str], checkboxes: set[str],
            aliases: dict[str, str], value_maps: dict[str, list[str]] | None = None) -> str:
    cfg = []
    for c in columns:
        if c in (value_maps or {}):
            # a drop-down of the allowed values: a typo cannot be typed
            items = "".join(f'<Option type="Map">{_opt(v, v)}</Option>'
                            for v in value_maps[c])
            widget = ('<editWidget type="ValueMap"><config><Option type="Map">'
                      f'<Option name="map" type="List">{items}</Option>'
                      "</Option></config></editWidget>")
        elif c in checkboxes:
            widget = ('<editWidget type="CheckBox"><config><Option type="Map">'
                      + _opt("CheckedState", "") + _opt("UncheckedState", "")
                      + _opt("TextDisplayMethod", 0, "int") + "</Option></config></editWidget>")
        else:
            widget = ('<editWidget type="TextEdit"><config><Option type="Map">'
                      + _opt("IsMultiline", "false", "bool") + _opt("UseHtml", "false", "bool")
                      + "</Option></config></editWidget>")
        cfg.append(f'<field name={quoteattr(c)} configurationFlags="None">{widget}</field>')
    al = "".join(f'<alias field={quoteattr(c)} index="{k}" name={quoteattr(aliases.get(c, ""))}/>'
                 for k, c in enumerate(columns))
    ed = "".join(f'<field name={quoteattr(c)} editable="{int(c in editable)}"/>'
                 for c in columns)
    return (f"<fieldConfiguration>{''.join(cfg)}</fieldConfiguration><aliases>{al}</aliases>"
            f"<editable>{ed}</editable>")


def _doc(body: str, *, geometry_type: int, labels: bool) -> str:
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            f'<qgis version="{_QGIS_VERSION}" styleCategories="AllStyleCategories" '
            f'labelsEnabled="{int(labels)}" readOnly="0" hasScaleBasedVisibilityFlag="0" '
            'minScale="100000000" maxScale="0" simplifyDrawingHints="1" '
            'simplifyDrawingTol="1" simplifyLocal="1" simplifyMaxScale="1" '
            'simplifyAlgorithm="0">'
            f"{body}<layerGeometryType>{geometry_type}</layerGeometryType></qgis>\n")


_GEOM_KIND = {"POINT": "point", "MULTIPOINT": "point", "LINESTRING": "line",
              "MULTILINESTRING": "line"}
_GEOM_CODE = {"point": 0, "line": 1, "polygon": 2}


def layer_qml(layer: str, columns: list[str], *, geometry_type: str = "POLYGON",
              area_codes: list[str] | None = None) -> str:
    """The QML style document of one project layer.

    Parameters
    ----------
    layer
        One of :data:`STYLED_LAYERS`.
    columns
        The layer's attribute columns (edit widgets and aliases are set for them).
    geometry_type
        The GeoPackage geometry type name (``POLYGON``, ``GEOMETRY``...).
    area_codes
        For ``buildings``: the area codes, one category (colour) each.
    """
    kind = _GEOM_KIND.get(geometry_type.upper(), "polygon")
    gcode = _GEOM_CODE[kind]
    ro = set()
    aliases = {"area_code": "普查小区编码 area_code", "locked": "锁定 locked",
               "village_code": "居/村编码", "population": "人口", "name": "名称",
               "building_id": "建筑编号", "severity": "级别", "message": "说明"}
    if layer == S.LAYER_AREAS:
        renderer = (
            '<renderer-v2 type="RuleRenderer" symbollevels="0" enableorderby="0" '
            'forceraster="0" referencescale="-1"><rules key="root">'
            '<rule key="locked" symbol="0" label="已锁定 locked" filter="&quot;locked&quot;"/>'
            '<rule key="open" symbol="1" label="普查小区 area" filter="ELSE"/>'
            "</rules><symbols>"
            + _locked_symbol("0")
            + _fill_symbol("1", fill="0,0,0,0", outline="30,80,200,255", width=0.8, style="no")
            + "</symbols></renderer-v2>")
        labels = _labeling("area_code", is_expression=False, size=9, colour="30,60,160,255",
                           bold=True)
        fields = _fields(columns, editable={"locked"}, checkboxes={"locked"}, aliases=aliases)
    elif layer == S.LAYER_BUILDINGS:
        codes = sorted(set(area_codes or []))
        cats = "".join(
            f'<category render="true" symbol="{k}" value={quoteattr(c)} label={quoteattr(c)}/>'
            for k, c in enumerate(codes))
        dd = {"outlineWidth": 'if("locked", 0.8, 0.15)',
              "outlineColor": "if(\"locked\", '220,30,30,255', '60,60,60,255')"}
        syms = "".join(_fill_symbol(str(k), fill=area_colour(c), outline="60,60,60,255",
                                    width=0.15, dd=dd) for k, c in enumerate(codes))
        n = len(codes)
        cats += (f'<category render="true" symbol="{n}" value="" '
                 'label="未分配 unassigned"/>')
        syms += _fill_symbol(str(n), fill="170,170,170,255", outline="60,60,60,255",
                             width=0.15, dd=dd)
        renderer = ('<renderer-v2 type="categorizedSymbol" attr="area_code" symbollevels="0" '
                    'enableorderby="0" forceraster="0" referencescale="-1">'
                    f"<categories>{cats}</categories><symbols>{syms}</symbols>"
                    "<source-symbol>"
                    + _fill_symbol("0", fill="170,170,170,255", outline="60,60,60,255",
                                   width=0.15)
                    + "</source-symbol></renderer-v2>")
        labels = _labeling("right(\"area_code\", 3)", is_expression=True, size=7,
                           max_scale_denom=5000)
        fields = _fields(columns, editable={"area_code", "locked"},
                         checkboxes={"locked", "residential", "pop_guessed"}, aliases=aliases,
                         value_maps={"area_code": codes})
    elif layer == S.LAYER_VILLAGES:
        renderer = ('<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" '
                    'forceraster="0" referencescale="-1"><symbols>'
                    + _fill_symbol("0", fill="0,0,0,0", outline="40,40,40,255", width=1.6,
                                   style="no", outline_style="dash",
                                   dd={"outlineColor": "if(\"locked\", '220,30,30,255', "
                                                       "'40,40,40,255')"})
                    + "</symbols></renderer-v2>")
        labels = _labeling("name", is_expression=False, size=12, colour="40,40,40,255",
                           bold=True)
        fields = _fields(columns, editable={"locked"}, checkboxes={"locked"}, aliases=aliases)
    elif layer == S.LAYER_PROBLEMS or layer.startswith(f"{S.LAYER_PROBLEMS}_"):
        colours = (("error", "错误 error", "220,30,30,255"),
                   ("warning", "警告 warning", "245,150,20,255"),
                   ("info", "提示 info", "40,110,220,255"))
        cats = "".join(f'<category render="true" symbol="{k}" value="{v}" label="{lab}"/>'
                       for k, (v, lab, _) in enumerate(colours))
        syms = "".join(_symbol_for(kind, str(k), col) for k, (_, _, col) in enumerate(colours))
        renderer = ('<renderer-v2 type="categorizedSymbol" attr="severity" symbollevels="0" '
                    'enableorderby="0" forceraster="0" referencescale="-1">'
                    f"<categories>{cats}</categories><symbols>{syms}</symbols>"
                    "</renderer-v2>")
        labels = _labeling("code", is_expression=False, size=8, colour="120,0,0,255",
                           max_scale_denom=10000)
        fields = _fields(columns, editable=set(), checkboxes=set(), aliases=aliases)
    else:
        raise ValueError(f"no style for layer {layer!r}; styled layers: {STYLED_LAYERS}")
    return _doc(renderer + labels + fields, geometry_type=gcode, labels=True)


# --------------------------------------------------------------------------- SQLite access


def connect_gpkg(path: str | os.PathLike) -> sqlite3.Connection:
    """A :mod:`sqlite3` connection to a GeoPackage that can UPDATE feature tables.

    GDAL's spatial-index triggers call ``ST_IsEmpty``/``ST_MinX``... on every
    update; plain SQLite lacks them, so they are registered here (computed from
    the geometry blob's header, as the GeoPackage standard defines them). Use it
    for attribute edits such as ``UPDATE buildings SET area_code=...``, which is
    what a QGIS edit session does.
    """
    con = sqlite3.connect(path, timeout=30)
    register_functions(con)
    return con


# --------------------------------------------------------------------------- writing

_DDL = """CREATE TABLE IF NOT EXISTS layer_styles (
 id INTEGER PRIMARY KEY AUTOINCREMENT,
 f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256),
 f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT,
 useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
 update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"""


def _columns(con: sqlite3.Connection, table: str, geom_col: str) -> list[str]:
    cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
    return [c for c in cols if c not in ("fid", geom_col)]


def write_styles(gpkg: str | os.PathLike, *, layers: tuple[str, ...] = STYLED_LAYERS,
                 update_time: str = "2026-01-01T00:00:00.000Z") -> list[str]:
    """Store a default QGIS style for each project layer present in ``gpkg``.

    Replaces earlier pucha styles (``styleName`` ``"pucha"``) of those layers;
    styles a user saved under another name are kept. The building colours are
    categories of the area codes present now, so call it again after the areas
    change (``pucha partition`` does). ``update_time`` is fixed so identical
    projects give identical files. Returns the styled layer names.
    """
    path = Path(gpkg)
    done = []
    with transaction(path) as con:   # inside update_gpkg: its open transaction
        geo = {r[0]: (r[1], r[2]) for r in con.execute(
            "SELECT table_name, column_name, geometry_type_name FROM gpkg_geometry_columns")}
        area_codes: list[str] = []
        if S.LAYER_AREAS in geo:
            area_codes = [str(r[0]) for r in con.execute(
                f'SELECT DISTINCT area_code FROM "{S.LAYER_AREAS}" ORDER BY area_code')]
        con.execute(_DDL)
        con.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier,"
                    " description, last_change) VALUES ('layer_styles', 'attributes',"
                    " 'layer_styles', '', strftime('%Y-%m-%dT%H:%M:%fZ','now'))")
        try:
            con.execute("INSERT OR IGNORE INTO gpkg_ogr_contents (table_name, feature_count)"
                        " VALUES ('layer_styles', NULL)")
        except sqlite3.OperationalError:
            pass
        for layer in layers:
            if layer not in geo:
                continue
            gcol, gtype = geo[layer]
            qml = layer_qml(layer, _columns(con, layer, gcol), geometry_type=gtype,
                            area_codes=area_codes)
            con.execute("DELETE FROM layer_styles WHERE f_table_name=? AND styleName=?",
                        (layer, STYLE_NAME))
            # a default style the user saved stays the default: pucha never demotes it
            theirs = con.execute("SELECT count(*) FROM layer_styles WHERE f_table_name=? AND "
                                 "useAsDefault", (layer,)).fetchone()[0]
            con.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name,"
                " f_geometry_column, styleName, styleQML, styleSLD, useAsDefault,"
                " description, owner, ui, update_time) VALUES ('', '', ?, ?, ?, ?, '', ?,"
                " ?, '', NULL, ?)",
                (layer, gcol, STYLE_NAME, qml, int(not theirs),
                 f"pucha default style for {layer}", update_time))
            done.append(layer)
        n = con.execute("SELECT count(*) FROM layer_styles").fetchone()[0]
        try:
            con.execute("UPDATE gpkg_ogr_contents SET feature_count=? WHERE "
                        "table_name='layer_styles'", (n,))
        except sqlite3.OperationalError:
            pass
    logger.info("QGIS 默认样式 default styles written for: %s", ", ".join(done))
    return done
