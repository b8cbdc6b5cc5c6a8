"""Every figure of the course, drawn in one house style.

Notebooks and widgets call these functions instead of styling matplotlib themselves, so every
figure has the same look. The style and the shared helpers live here; each topic's figures
live in a submodule (``course_lib.plotting.mdp``, ``.ppo``, ...) built on them. Each function draws on an ``ax`` it is given (or a new figure) and
returns the figure, so tests can call it with any value and widgets can redraw it.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator, Sequence

import matplotlib

import matplotlib.pyplot as plt
from matplotlib.patches import Patch
import numpy as np

from ..i18n import current_lang as _current_lang

# A colour-blind-safe palette (Okabe & Ito 2008), in the order series are drawn.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

STYLE = {
    "figure.figsize": (7.0, 3.6),
    "figure.dpi": 100,
    "figure.constrained_layout.use": True,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 1.8,
    "font.size": 10,
}


def korean_font() -> str | None:
    """Register the Korean font the set-up installs (NanumGothic, shipped inside the pinned package
    koreanize-matplotlib, which is not imported) with matplotlib; its path, or None if it is absent."""
    import importlib.util
    from pathlib import Path

    from matplotlib import font_manager

    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "fonts" / "NanumGothic.ttf"
    if not path.is_file():
        return None
    font_manager.fontManager.addfont(str(path))
    bold = path.with_name("NanumGothicBold.ttf")  # the bold titles (its file says weight 600; bold is 700)
    if bold.is_file():
        import dataclasses

        font_manager.fontManager.addfont(str(bold))
        font_manager.fontManager.ttflist[-1] = dataclasses.replace(font_manager.fontManager.ttflist[-1], weight=700)
    return str(path)


# The Korean edition (COURSE_LANG=ko, set by `course.py lab --lang ko`): Hangul from NanumGothic, and any
# glyph it lacks (Greek, the minus sign) from matplotlib's own DejaVu Sans.
if _current_lang() == "ko" and korean_font() is not None:
    # DejaVu Sans first: mathtext (the tick labels of log axes, $\mathdefault{10^{-2}}$) draws in the first
    # family alone, and NanumGothic has no U+2212 MINUS SIGN; plain text falls back glyph by glyph, so
    # Hangul comes from NanumGothic and everything else looks as in the English edition.
    STYLE["font.family"] = ["DejaVu Sans", "NanumGothic"]
# ... and every figure's text translated when it is rendered (or recorded, with COURSE_FIGURES_RECORD=<file>).
if _current_lang() == "ko" or os.environ.get("COURSE_FIGURES_RECORD", "").strip():
    from .translate import install as _install_translation

    _install_translation()


@contextmanager
def house_style() -> Iterator[None]:
    """Temporarily apply the course style (used by every plotting function)."""
    with plt.rc_context(STYLE):
        yield


def use_house_style() -> None:
    """Apply the course style for the rest of the session (notebooks call this once)."""
    plt.rcParams.update(STYLE)


def new_figure(ncols: int = 1, nrows: int = 1, width: float | None = None, height: float | None = None):
    """A figure and its axes in the house style; the size grows with the number of panels."""
    w = width if width is not None else 3.6 * ncols + 0.6
    h = height if height is not None else 3.2 * nrows
    with house_style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(w, h), squeeze=False)
    return fig, (axes[0, 0] if nrows == ncols == 1 else axes.ravel())


def finish(fig, title: str | None = None):
    """Set a suptitle and close the figure for pyplot, so widgets do not draw it twice."""
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")
    plt.close(fig)
    return fig


def legend_below(fig, ax, loc: str = "outside lower center", ncols: int | None = None):
    """Move ``ax``'s legend (or, if it has none, its labelled artists) into a figure legend below
    the panels, where no curve can cross it. ``ncols`` defaults to one row."""
    legend = ax.get_legend()
    if legend is not None:
        handles, labels = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
        legend.remove()
    else:
        handles, labels = ax.get_legend_handles_labels()
    with house_style():
        return fig.legend(handles, labels, loc=loc, ncols=ncols or max(1, len(handles)))


def smooth(y: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average over ``window`` points (the first points average what exists)."""
    if window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    y = np.asarray(y, dtype=float)
    if len(y) == 0:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    idx = np.arange(1, len(y) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def learning_curves(
    ax,
    curves: dict[str, list[tuple[Sequence[float], Sequence[float]]]],
    xlabel: str = "environment steps",
    ylabel: str = "episode return",
    smooth_window: int = 1,
    target: float | None = None,
    band_label: str | None = None,
):
    """Mean and min–max band over seeds for each named method.

    Args:
        ax: the axes to draw on.
        curves: method name -> list of (x, y) pairs, one pair per seed. Seeds may have
            different x; they are interpolated onto a common grid.
        smooth_window: moving-average window applied to each seed's y first.
        target: draws a dashed horizontal line (e.g. the return that counts as solved).
        band_label: if given and a band is drawn, a legend entry (a grey swatch) that says what
            the shaded band is, e.g. "shaded: min–max over seeds".
    """
    banded = False
    with house_style():
        for colour, (name, runs) in zip(PALETTE * 4, curves.items()):
            runs = [(np.asarray(x, float), smooth(y, smooth_window)) for x, y in runs if len(x)]
            if not runs:
                continue
            if len(runs) == 1:
                ax.plot(runs[0][0], runs[0][1], color=colour, label=name)
                continue
            hi = min(x[-1] for x, _ in runs)
            lo = max(x[0] for x, _ in runs)
            grid = np.linspace(lo, hi, 200)
            ys = np.stack([np.interp(grid, x, y) for x, y in runs])
            ax.plot(grid, ys.mean(0), color=colour, label=f"{name} (mean of {len(runs)})")
            ax.fill_between(grid, ys.min(0), ys.max(0), color=colour, alpha=0.2, linewidth=0)
            banded = True
        if target is not None:
            ax.axhline(target, color="0.4", linestyle="--", linewidth=1, label=f"target {target:g}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if band_label and banded:
            handles, labels = ax.get_legend_handles_labels()
            band = Patch(facecolor="0.5", alpha=0.3, linewidth=0)
            ax.legend(handles + [band], labels + [band_label])
        else:
            ax.legend()
    return ax
