"""Slider of notebook 07 (RLHF with PPO): the KL weight β over the cached reward-hacking runs."""
from __future__ import annotations

from ..core import check_finite_number
from ..plotting.rlhf import beta_sweep_figure
from . import interactive_figure


def beta_slider(sweep: dict | None = None, beta: float = 0.0, reward_model: str = "strong"):
    """Choose β among the runs of the (cached) sweep; redraws ``plotting.rlhf.beta_sweep_figure``.

    Args:
        sweep: from ``course_lib.experiments.rlhf_sweep.load_sweep()`` (loaded when None).
        beta: the run shown first (the nearest value the sweep has).
        reward_model: whose runs: "strong" (the strong-length-bias reward model) or "shipped".
    """
    import ipywidgets as widgets

    from ..runs_cache import rlhf_runs_of as runs_of, rlhf_sweep as load_sweep

    beta = check_finite_number("beta", beta, low=0.0)
    sweep = load_sweep() if sweep is None else sweep
    if not isinstance(sweep, dict) or not sweep.get("runs"):
        raise ValueError("sweep must be the dict returned by load_sweep(), with at least one run")
    betas = sorted({r["beta"] for r in runs_of(sweep, reward_model)})
    if not betas:
        raise ValueError(f"the sweep has no runs against reward_model={reward_model!r}")
    b0 = min(betas, key=lambda v: abs(v - beta))
    control = widgets.SelectionSlider(options=[(f"{v:g}", v) for v in betas], value=b0, description="β",
                                      continuous_update=False)
    return interactive_figure(lambda beta: beta_sweep_figure(sweep, beta, reward_model), beta=control)
