"""Slider of notebook 09 (pitfalls and fixes): PPO-ptx's coefficient ``ptx_coef`` over the cached runs."""
from __future__ import annotations

from ..core import check_finite_number
from ..plotting.pitfalls import ptx_figure
from . import interactive_figure


def ptx_slider(cache: dict | None = None, coef: float = 0.0):
    """Choose PPO-ptx's ``ptx_coef`` (InstructGPT's γ) among the cached runs; redraws ``plotting.pitfalls.ptx_figure``.

    Args:
        cache: ``pitfalls.load_cached("runs")`` (loaded when None).
        coef: the ``ptx_coef`` shown first (the nearest cached value).
    """
    import ipywidgets as widgets

    from ..pitfalls import load_cached

    coef = check_finite_number("coef", coef, low=0.0)
    cache = load_cached("runs") if cache is None else cache
    if not isinstance(cache, dict) or not cache.get("runs"):
        raise ValueError("cache must be the dict returned by pitfalls.load_cached('runs'), with its runs")
    coefs = sorted({float(r["config"]["ptx_coef"]) for name, r in cache["runs"].items()
                    if name == "grpo" or name.startswith("ptx_")})
    if len(coefs) < 2:
        raise ValueError(f"the cache holds {len(coefs)} PPO-ptx weights; the slider needs at least two")
    start = min(coefs, key=lambda v: abs(v - coef))
    control = widgets.SelectionSlider(options=[(f"{v:g}", v) for v in coefs], value=start, description="ptx_coef",
                                      continuous_update=False)
    return interactive_figure(lambda coef: ptx_figure(cache, coef), coef=control)
