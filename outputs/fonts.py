"""Choose a Simplified-Chinese font for matplotlib, and embed it so every PDF reader draws it.

The Noto CJK collection (``NotoSansCJK-Regular.ttc``) holds the JP, KR, SC, TC
faces; opened as a file it gives its first (Japanese) face, whose glyph shapes
differ from the Chinese standard. So pucha asks matplotlib's font manager for a
*family name* ("Noto Sans CJK SC", ...) and never a file path.

Embedding. matplotlib's Type 42 output declares every font ``CIDFontType2``
(TrueType outlines). Noto Sans CJK has PostScript (CFF) outlines, which that
declaration does not allow: poppler and PDFium draw it anyway, Ghostscript 10
and MuPDF 1.21 draw the page with no text at all (``pdffonts``: "CID Type 0C
(OT)", "Mismatch between font type and embedded font file"). So
:func:`pdf_font` subsets the chosen face to the characters a project needs and
converts the subset's cubic CFF outlines to TrueType quadratic ones
(fontTools ``cu2qu``, 1 font unit tolerance), registered under a family name of
its own: matplotlib then embeds a real TrueType font (``pdffonts``: "CID
TrueType"). matplotlib writes its ToUnicode map with ``bfrange`` arrays, which
Ghostscript 10's text extraction misreads (``txtwrite`` prints Latin-1
garbage for every Chinese character); :func:`save_pdf` writes the same map as
``bfchar`` pairs, so every reader extracts the same text.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import matplotlib
from matplotlib import font_manager

from pucha.glyphs import (  # noqa: F401 - re-exported: the maps' font is the one the import checks
    INSTALL_HINT, SC_FAMILIES, _charmap, _font_path, check_glyphs, cjk_family, missing_glyphs)

__all__ = ["SC_FAMILIES", "cjk_family", "check_glyphs", "missing_glyphs", "pdf_font",
           "draw_with_font", "save_figures",
           "pdf_rc", "pdf_writing", "save_pdf", "truetype_subset", "BASE_CHARS"]

logger = logging.getLogger(__name__)

#: characters every PDF may draw besides the data: printable ASCII and common punctuation
BASE_CHARS = "".join(chr(c) for c in range(32, 127)) + "…—·，、（）：；。“”‘’《》【】±×÷°№"

_CONVERTER = "ttf2"  # bump when the conversion changes: cached fonts are rebuilt


def truetype_subset(source: str | Path, chars: str, dest: str | Path, *, family: str,
                    face_index: int = 0) -> Path:
    """Subset a font to ``chars`` and write it with TrueType (glyf) outlines.

    ``source`` may hold CFF (OpenType/PostScript) or TrueType outlines; CFF
    outlines are converted to quadratic curves (``cu2qu``, max error 1 font
    unit). The name table's family/full names become ``family`` so matplotlib
    can select the subset beside the original. Written atomically.
    """
    from fontTools import subset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont, newTable

    from pucha.gis.write import atomic_path

    font = TTFont(str(source), fontNumber=face_index, lazy=False)
    opts = subset.Options()
    opts.name_IDs = ["*"]
    opts.name_languages = ["*"]
    opts.notdef_outline = True
    opts.layout_features = []
    opts.hinting = False
    sub = subset.Subsetter(opts)
    sub.populate(unicodes=sorted({ord(c) for c in chars}))
    sub.subset(font)
    cff_tag = next((t for t in ("CFF ", "CFF2") if t in font), None)
    if cff_tag is not None:
        order = font.getGlyphOrder()
        gs = font.getGlyphSet()
        glyf = newTable("glyf")
        glyf.glyphOrder = order
        glyf.glyphs = {}
        for name in order:
            pen = TTGlyphPen(gs)
            gs[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
            glyf.glyphs[name] = pen.glyph()
        font["glyf"] = glyf
        font["loca"] = newTable("loca")
        for tag in (cff_tag, "VORG"):
            if tag in font:
                del font[tag]
        maxp = newTable("maxp")
        maxp.tableVersion = 0x00010000
        maxp.numGlyphs = len(order)
        for attr in ("maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs",
                     "maxInstructionDefs", "maxStackElements", "maxSizeOfInstructions",
                     "maxComponentElements", "maxPoints", "maxContours",
                     "maxCompositePoints", "maxCompositeContours", "maxComponentDepth"):
            setattr(maxp, attr, 0)
        maxp.maxZones = 1
        font["maxp"] = maxp
        font["head"].glyphDataFormat = 0
        post = font["post"]
        post.formatType = 3.0
        post.extraNames = []
        post.mapping = {}
        font.sfntVersion = "\x00\x01\x00\x00"
    for rec in font["name"].names:
        if rec.nameID in (1, 4, 16):
            rec.string = family
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        font.save(str(tmp))
    return dest


_STATE: dict[str, object] = {"family": None, "chars": frozenset()}


def pdf_font(texts: Iterable[str] = ()) -> str:
    """A TrueType family covering ``texts`` (and :data:`BASE_CHARS`), for PDF pages.

    The first call makes a subset of :func:`cjk_family` with every character
    needed; later calls reuse it while it covers their text, else make a larger
    one (the union). Subsets are cached per user (``matplotlib.get_cachedir()``,
    never the shared temp folder) by content hash. Characters the face lacks are
    left out here (callers check them with :func:`missing_glyphs`).
    """
    base = cjk_family()
    cmap = _charmap(base)
    need = {ch for ch in set("".join(map(str, texts))) if ord(ch) in cmap and not ch.isspace()}
    have = _STATE["chars"]
    if _STATE["family"] and need <= have:  # type: ignore[operator]
        return str(_STATE["family"])
    chars = "".join(sorted(need | set(have) | {c for c in BASE_CHARS  # type: ignore[arg-type]
                                               if ord(c) in cmap}))
    src = _font_path(base)
    key = hashlib.sha256(f"{_CONVERTER}|{base}|{src}|{chars}".encode("utf-8")).hexdigest()[:16]
    family = f"pucha SC {key}"
    folder = Path(matplotlib.get_cachedir()) / "pucha-fonts"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{key}.ttf"
    if not out.exists():
        truetype_subset(src, chars, out, family=family,
                        face_index=int(getattr(src, "face_index", 0) or 0))
    font_manager.fontManager.addfont(str(out))
    _STATE["family"] = family
    _STATE["chars"] = frozenset(chars)
    return family


def pdf_rc(texts: Iterable[str] = ()) -> dict:
    """matplotlib rcParams for PDF pages with embedded, extractable TrueType CJK text."""
    return {"pdf.fonttype": 42, "ps.fonttype": 42, "font.family": [pdf_font(texts)],
            "axes.unicode_minus": False, "pdf.compression": 6, "svg.fonttype": "none"}


_BFRANGE = re.compile(rb"(\d+) beginbfrange\n(.*?)\nendbfrange", re.S)
_RANGE_LINE = re.compile(rb"<([0-9a-fA-F]+)> <([0-9a-fA-F]+)> \[([^\]]*)\]")


def _bfchar_cmap(data: bytes) -> bytes:
    """A ToUnicode CMap with ``bfrange`` arrays rewritten as ``bfchar`` pairs."""
    m = _BFRANGE.search(data)
    if m is None or b"[" not in m.group(2):
        return data
    pairs = []
    for line in _RANGE_LINE.finditer(m.group(2)):
        lo, width = int(line.group(1), 16), len(line.group(1))
        for i, u in enumerate(re.findall(rb"<([0-9a-fA-F]+)>", line.group(3))):
            pairs.append(b"<%s> <%s>" % (format(lo + i, f"0{width}x").encode(), u))
    blocks = b"\n".join(b"%d beginbfchar\n%s\nendbfchar" % (len(pairs[i:i + 100]),
                                                           b"\n".join(pairs[i:i + 100]))
                        for i in range(0, len(pairs), 100))
    return data[:m.start()] + blocks + data[m.end():]


@contextlib.contextmanager
def _tounicode_as_bfchar() -> Iterator[None]:
    from matplotlib.backends.backend_pdf import PdfFile

    original = PdfFile.outputStream

    def output_stream(self, ref, data, *, extra=None):  # noqa: ANN001
        if isinstance(data, bytes) and data.startswith(b"/CIDInit") and b"beginbfrange" in data:
            data = _bfchar_cmap(data)
        return original(self, ref, data, extra=extra)

    PdfFile.outputStream = output_stream  # type: ignore[method-assign]
    try:
        yield
    finally:
        PdfFile.outputStream = original  # type: ignore[method-assign]


@contextlib.contextmanager
def pdf_writing(texts: Iterable[str] = ()) -> Iterator[None]:
    """Context for writing PDFs (e.g. with ``PdfPages``, which embeds fonts when it
    closes): the TrueType subset and the ``bfchar`` ToUnicode maps."""
    with matplotlib.rc_context(pdf_rc(texts)), _tounicode_as_bfchar():
        yield


def save_pdf(fig, dest, *, metadata: dict | None = None, texts: Iterable[str] = ()) -> None:
    """Save a matplotlib Figure as PDF that poppler, Ghostscript and MuPDF all draw
    and extract alike (TrueType subset, ToUnicode as ``bfchar``)."""
    with pdf_writing(texts):
        fig.savefig(dest, format="pdf", metadata=metadata)


def draw_with_font(make, *args, **kwargs):
    """Build a figure with the subset font; if the page needs characters outside the
    subset, widen the subset (:func:`~pucha.outputs.fonts.pdf_font`) and redraw."""
    family = pdf_rc()["font.family"][0]
    with matplotlib.rc_context(pdf_rc()), warnings.catch_warnings():
        # A glyph outside the subset is caught below and the page redrawn.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig = make(*args, **kwargs)
    rc = pdf_rc(texts=getattr(fig, "_pucha_texts", []))
    if rc["font.family"][0] != family:
        with matplotlib.rc_context(rc):
            fig = make(*args, **kwargs)
    return fig


def save_figures(fig, dest, metadata: dict) -> None:
    """One figure, or several as pages of one PDF, with the subset font."""
    figs = fig if isinstance(fig, list) else [fig]
    if len(figs) == 1:
        save_pdf(figs[0], dest, metadata=metadata)
        return
    from matplotlib.backends.backend_pdf import PdfPages

    with pdf_writing(), PdfPages(dest, metadata=metadata) as pdf:
        for f in figs:
            pdf.savefig(f)
