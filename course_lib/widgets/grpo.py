"""Sliders of notebook 08 (GRPO): the group size G and the KL weight β over the cached sweep."""
from __future__ import annotations

from ..core import check_finite_number
from ..plotting.grpo import sweep_figure
from . import interactive_figure


def sweep_slider(sweep: dict | None = None, G: int = 8, beta: float = 0.0):
    """Choose G and β among the runs of the (cached) sweep; redraws ``plotting.grpo.sweep_figure``.

    Args:
        sweep: from ``course_lib.experiments.grpo_sweep.load_sweep()`` (loaded when None).
        G, beta: the run shown first (the nearest values the sweep has).
    """
    import ipywidgets as widgets

    from ..runs_cache import grpo_sweep as load_sweep

    G = check_finite_number("G", G, low=2, integer=True)
    beta = check_finite_number("beta", beta, low=0.0)
    sweep = load_sweep() if sweep is None else sweep
    if not isinstance(sweep, dict) or not sweep.get("runs"):
        raise ValueError("sweep must be the dict returned by load_sweep(), with at least one run")
    sizes = sorted({r["G"] for r in sweep["runs"]})
    betas = sorted({r["beta"] for r in sweep["runs"]})
    g0 = min(sizes, key=lambda v: abs(v - G))
    b0 = min(betas, key=lambda v: abs(v - beta))
    g_control = widgets.SelectionSlider(options=[(str(v), v) for v in sizes], value=g0, description="G",
                                        continuous_update=False)
    b_control = widgets.SelectionSlider(options=[(f"{v:g}", v) for v in betas], value=b0, description="β",
                                        continuous_update=False)
    return interactive_figure(lambda G, beta: sweep_figure(sweep, G, beta), G=g_control, beta=b_control)
