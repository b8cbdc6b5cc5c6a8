"""Sliders of notebook 04 (PPO): the clip ε, the GAE λ, and the clip sweep's runs."""
from __future__ import annotations

from ..core import check_finite_number, check_probability
from ..plotting.ppo import clip_objective, clip_sweep, gae_weights
from . import interactive_figure


def clip_slider(eps: float = 0.2):
    """An ε slider redrawing L^CLIP against the ratio for A > 0 and A < 0 (flat regions shaded)."""
    import ipywidgets as widgets

    eps = check_finite_number("eps", eps, low=0.0, high=0.5)  # a slider would clamp it silently
    control = widgets.FloatSlider(value=eps, min=0.0, max=0.5, step=0.01, description="ε",
                                  continuous_update=False, readout_format=".2f")
    return interactive_figure(clip_objective, eps=control)


def lambda_slider(rollout: dict | None = None, lam: float = 0.8):
    """A λ slider redrawing the weights (γλ)^l and the advantages on a fixed recorded rollout."""
    import ipywidgets as widgets

    lam = check_probability("lam", lam)
    if rollout is None:
        from ..runs_cache import recorded_rollout as load_recorded_rollout

        rollout = load_recorded_rollout()
    control = widgets.FloatSlider(value=lam, min=0.0, max=1.0, step=0.05, description="λ",
                                  continuous_update=False, readout_format=".2f")
    return interactive_figure(lambda lam: gae_weights(lam, rollout), lam=control)


def clip_sweep_slider(sweep: dict | None = None, eps: float = 0.2):
    """Choose one ε of the (cached) clip sweep: its return, clip fraction and KL against the rest."""
    import ipywidgets as widgets

    from ..runs_cache import eps_label, ppo_clip_sweep as load_clip_sweep

    eps = check_finite_number("eps", eps, low=0.0)
    sweep = load_clip_sweep() if sweep is None else sweep
    if not isinstance(sweep, dict) or not sweep.get("runs"):
        raise ValueError("sweep must be the dict returned by load_clip_sweep(), with at least one run")
    values = sorted({r["eps"] for r in sweep["runs"]})
    start = min(values, key=lambda v: abs(v - eps))
    control = widgets.SelectionSlider(options=[(eps_label(v), v) for v in values], value=start,
                                      description="ε", continuous_update=False)
    return interactive_figure(lambda eps: clip_sweep(sweep, eps), eps=control)
