"""The Simplified-Chinese font the maps draw with, and which characters it can draw.

Shared by the import (which warns about names the maps could not draw, e.g. an emoji in
阳光🌞小区) and the outputs (which embed the font in every PDF): one font choice, one
glyph check, on the floor every room of the package stands on.

The Noto CJK collection (``NotoSansCJK-Regular.ttc``) holds the JP, KR, SC, TC faces;
opened as a file it gives its first (Japanese) face, whose glyph shapes differ from the
Chinese standard. So pucha asks matplotlib's font manager for a *family name*
("Noto Sans CJK SC", ...) and never a file path.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from matplotlib import font_manager

from pucha.errors import FontError

__all__ = ["SC_FAMILIES", "INSTALL_HINT", "cjk_family", "font_charmap", "missing_glyphs",
           "check_glyphs"]

SC_FAMILIES = (
    "Noto Sans CJK SC", "Noto Serif CJK SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "SimSun",
    "PingFang SC", "Droid Sans Fallback",
)

INSTALL_HINT = (
    "No Simplified-Chinese font is installed. Install one and re-run, e.g. on "
    "Debian/Ubuntu: `sudo apt-get install fonts-noto-cjk` (or fonts-wqy-zenhei); "
    "on Windows, Microsoft YaHei is already present. Then clear matplotlib's font "
    "cache if needed: `rm -rf ~/.cache/matplotlib`."
)

@functools.lru_cache(maxsize=1)
def cjk_family() -> str:
    """The first installed Simplified-Chinese family name, or raise FontError."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for fam in SC_FAMILIES:
        if fam in installed:
            return fam
    raise FontError(INSTALL_HINT)


def _font_path(family: str):
    return font_manager.findfont(font_manager.FontProperties(family=family),
                                 fallback_to_default=False)


@functools.lru_cache(maxsize=8)
def _charmap(family: str) -> frozenset[int]:
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(_font_path(family)).get_charmap())


def missing_glyphs(texts: Iterable[str], family: str | None = None) -> list[str]:
    """The characters of ``texts`` (sorted, spaces ignored) the font cannot draw."""
    cmap = _charmap(family or cjk_family())
    return sorted({ch for t in texts for ch in t if not ch.isspace() and ord(ch) not in cmap})


def check_glyphs(text: str, family: str | None = None) -> None:
    """Raise FontError naming the characters the font cannot draw."""
    family = family or cjk_family()
    missing = missing_glyphs([text], family)
    if missing:
        raise FontError(f"font {family!r} ({_font_path(family)}) has no glyph for: "
                        f"{''.join(missing)!r}; install fonts-noto-cjk or remove these "
                        "characters from the data")


def font_charmap() -> tuple[str, frozenset[int]]:
    """(family, code points) of the CJK font the maps use; FontError if none is installed."""
    family = cjk_family()
    return family, _charmap(family)
