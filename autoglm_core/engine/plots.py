"""matplotlib for the report's plots: the Agg backend and a CJK-capable font where one is installed."""

from __future__ import annotations

CJK_FONTS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "SimHei",
             "Microsoft YaHei", "PingFang SC"]


def pyplot():
    """matplotlib (Agg) with a CJK-capable fallback font when one is installed, so Chinese labels
    render (Debian: fonts-wqy-microhei); without one, labels show boxes and no warning floods the log."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not any(f in installed for f in CJK_FONTS):  # installed after matplotlib cached its font list
        for path in font_manager.findSystemFonts():
            if any(k in path.lower() for k in ("wqy", "notosanscjk", "notosanssc", "sourcehansans")):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError):
                    pass
        installed = {f.name for f in font_manager.fontManager.ttflist}
    fallbacks = [f for f in CJK_FONTS if f in installed]
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", *fallbacks]  # a list enables per-glyph fallback
    if not fallbacks:
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
    return plt
