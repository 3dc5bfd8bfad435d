"""Choose a Simplified-Chinese font for matplotlib, by family name.

The Noto CJK collection (``NotoSansCJK-Regular.ttc``) holds the JP, KR, SC, TC
faces; opened as a file it gives its first (Japanese) face, whose glyph shapes
differ from the Chinese standard. So pucha asks matplotlib's font manager for a
*family name* ("Noto Sans CJK SC", ...) and never a file path.
"""

from __future__ import annotations

import functools

from matplotlib import font_manager

from pucha.errors import FontError

__all__ = ["SC_FAMILIES", "cjk_family", "check_glyphs"]

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


def check_glyphs(text: str, family: str | None = None) -> None:
    """Raise FontError naming the characters the font cannot draw."""
    from matplotlib.ft2font import FT2Font

    family = family or cjk_family()
    path = font_manager.findfont(font_manager.FontProperties(family=family),
                                 fallback_to_default=False)
    font = FT2Font(path)
    cmap = font.get_charmap()
    missing = sorted({ch for ch in text if not ch.isspace() and ord(ch) not in cmap})
    if missing:
        raise FontError(f"font {family!r} ({path}) has no glyph for: {''.join(missing)!r}; "
                        "install fonts-noto-cjk or remove these characters from the data")
