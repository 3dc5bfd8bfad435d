"""Every kind of PDF pucha writes, drawn and read by poppler, Ghostscript and MuPDF.

A PDF whose Chinese font is embedded in a form the standard does not allow
(OpenType/CFF declared as CIDFontType2) is drawn by poppler and PDFium but comes out
with no text at all in Ghostscript (what CUPS prints through) and MuPDF (SumatraPDF,
many Android readers). So for the area sheet, an atlas (overview + area page), the
boundary report ``conflicts.pdf`` and the register PDF, each renderer must

* extract the title and the 15-digit code (the 9-digit township code on the boundary
  report, which precedes any area) (``pdftotext``, Ghostscript ``txtwrite``,
  ``mutool draw -F txt``), and
* draw the title block with the same ink: ink (summed darkness) in the title region of a
  100 dpi raster (``pdftoppm``, Ghostscript ``png16m``, ``mutool draw``) agree within
  15% across the three (no text drawn would lose most of it);

and ``pdffonts`` must list no OpenType font declared as another type. The PDFs come
from the demo's real import, boundaries and partition (``pucha demo --no-maps``).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fixture_demo import demo_dir
from pucha.outputs.printmap import project_texts, use_subset_font, write_area_pdf, write_atlas
from pucha.outputs.project import load_project
from pucha.outputs.registers import register_rows, write_register_pdf
from pucha.outputs.route import number_area

DPI = 100


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> dict[str, tuple[Path, int, str, str, tuple[float, float]]]:
    """kind -> (file, page, title, 15-digit code, title region as top/bottom fractions)."""
    demo = demo_dir(tmp_path_factory)
    project = load_project(demo / "project.gpkg")
    use_subset_font(project_texts(project))
    out = tmp_path_factory.mktemp("renderers")
    areas = project.areas
    # the area with most buildings (the longest building list) and the smallest 居/村
    nb = areas.set_index("area_code")["n_buildings"].sort_index()
    code = str(nb.idxmax())
    v_small = str(areas.groupby("village_code").size().sort_index().idxmin())
    atlas_code = project.area_codes(v_small)[0]
    vname = project.village_name(str(project.area(code)["village_code"]))
    area_pdf = write_area_pdf(project, code, out / f"{code}.pdf")
    atlas = write_atlas(project, v_small, out / "atlas.pdf")
    numbered = {c: number_area(project, c)[0] for c in project.area_codes(v_small)}
    rows = register_rows(project, project.area_codes(v_small), numbered)
    reg = write_register_pdf(rows, out / "register.pdf", title="普查小区登记表")
    conflicts = demo / "boundaries" / "conflicts.pdf"
    return {
        "area": (area_pdf, 1, f"{vname}", code, _title_band(area_pdf, 1)),
        "atlas-overview": (atlas, 1, "普查小区总图", v_small, _title_band(atlas, 1)),
        "atlas-area": (atlas, 2, "普查小区", atlas_code, _title_band(atlas, 2)),
        # the boundary report holds no area yet: the township's 9-digit code
        "conflicts": (conflicts, 1, "边界冲突", project.township_code, (0.0, 0.09)),
        "register": (reg, 1, "普查小区登记表", project.area_codes(v_small)[0], (0.0, 0.12)),
    }


def _title_band(pdf: Path, page: int) -> tuple[float, float]:
    """The title block of an area/overview page: below the binding margin (25 mm on top
    of a landscape page, 10 mm on a portrait one), 20 mm high."""
    info = subprocess.run(["pdfinfo", "-f", str(page), "-l", str(page), str(pdf)],
                          capture_output=True, text=True, check=True).stdout
    w, h = map(float, re.search(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", info).groups())
    top_mm = 25.0 if w > h else 10.0
    page_mm = h / 72 * 25.4
    return (top_mm - 2) / page_mm, (top_mm + 20) / page_mm


# -- one glyph check, applied to every renderer --------------------------------

def _poppler(pdf: Path, page: int, tmp: Path) -> tuple[str, Path]:
    text = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    subprocess.run(["pdftoppm", "-f", str(page), "-l", str(page), "-r", str(DPI), "-png",
                    "-singlefile", str(pdf), str(tmp / "poppler")], check=True)
    return text, tmp / "poppler.png"


def _ghostscript(pdf: Path, page: int, tmp: Path) -> tuple[str, Path]:
    common = ["gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", f"-dFirstPage={page}",
              f"-dLastPage={page}"]
    text = subprocess.run(common + ["-sDEVICE=txtwrite", "-sOutputFile=-", str(pdf)],
                          capture_output=True, check=True).stdout.decode("utf-8", "replace")
    png = tmp / "gs.png"
    subprocess.run(common + ["-sDEVICE=png16m", "-dTextAlphaBits=4", "-dGraphicsAlphaBits=4",
                             f"-r{DPI}", f"-sOutputFile={png}", str(pdf)],
                   check=True, capture_output=True)
    return text, png


def _mupdf(pdf: Path, page: int, tmp: Path) -> tuple[str, Path]:
    r = subprocess.run(["mutool", "draw", "-F", "txt", "-o", "-", str(pdf), str(page)],
                       capture_output=True, check=True)
    assert b"FT_Load_Glyph" not in r.stderr, r.stderr.decode(errors="replace")[:500]
    png = tmp / "mupdf.png"
    subprocess.run(["mutool", "draw", "-r", str(DPI), "-o", str(png), str(pdf), str(page)],
                   check=True, capture_output=True)
    return r.stdout.decode("utf-8", "replace"), png


RENDERERS = {"poppler": _poppler, "ghostscript": _ghostscript, "mupdf": _mupdf}


def _ink(png: Path, band: tuple[float, float]) -> int:
    """Ink in the horizontal band (fractions from the top): the darkness summed over its
    pixels, in full-black pixels (robust to each renderer's anti-aliasing)."""
    a = np.asarray(Image.open(png).convert("L")).astype(np.int64)
    top, bottom = int(band[0] * a.shape[0]), int(np.ceil(band[1] * a.shape[0]))
    return int((255 - a[top:bottom]).sum() // 255)


def check_glyphs_drawn(pdf: Path, page: int, title: str, code: str,
                       band: tuple[float, float], tmp: Path) -> dict[str, int]:
    """Each renderer extracts ``title`` and ``code``; returns its title-block ink."""
    ink = {}
    for name, render in RENDERERS.items():
        folder = tmp / name
        folder.mkdir(exist_ok=True)
        text, png = render(pdf, page, folder)
        flat = re.sub(r"\s+", "", text)
        assert re.sub(r"\s+", "", title) in flat, f"{name}: title {title!r} not in {flat[:200]!r}"
        assert code in flat, f"{name}: code {code} not extracted from {pdf.name} p.{page}"
        ink[name] = _ink(png, band)
    return ink


@pytest.mark.parametrize("kind", ["area", "atlas-overview", "atlas-area", "conflicts",
                                  "register"])
def test_every_renderer_draws_and_extracts_the_text(pdfs, kind, tmp_path):
    pdf, page, title, code, band = pdfs[kind]
    assert code, f"{kind}: no code to look for"
    ink = check_glyphs_drawn(pdf, page, title, code, band, tmp_path)
    ref = float(np.median(list(ink.values())))
    assert ref > 150, f"{kind}: almost no ink in the title block: {ink}"
    for name, n in ink.items():
        assert abs(n - ref) <= 0.15 * ref, f"{kind}: title ink differs across renderers: {ink}"


@pytest.mark.parametrize("kind", ["area", "atlas-overview", "conflicts", "register"])
def test_fonts_are_embedded_as_what_they_are(pdfs, kind):
    pdf = pdfs[kind][0]
    r = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    assert "Mismatch" not in r.stderr, r.stderr
    rows = r.stdout.splitlines()[2:]
    assert rows, f"{kind}: no font listed"
    for row in rows:
        assert "Type 0C (OT)" not in row and "CID Type 0C" not in row, row
        assert "CID TrueType" in row or "Type 3" in row, row
        assert re.search(r"\byes\s+yes\s+yes\b", row), f"{kind}: not embedded+subset+unicode: {row}"
